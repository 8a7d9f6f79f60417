"""People sent through the real collection path and processor, for the matching tests."""

import random
import uuid
from datetime import UTC, datetime, timedelta

from profiles.models import Profile
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from tests.collect import send

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
FIRST = ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Noah", "Mia", "Leo", "Freya"]
LAST = ["Khan", "Walsh", "Patel", "Hughes", "Murray", "Grant", "Fox", "Lloyd", "Shaw", "Reid"]
STREETS = ["Mill Lane", "Church Road", "Park Avenue", "Station Road", "Victoria Street"]
CITIES = ["Leeds", "Bristol", "York", "Bath", "Derby"]


def sources(db) -> dict[str, str]:
    return {kind: source_create(name=kind.title(), kind=kind)[1] for kind in ("website", "crm")}


def identify(key: str, *, minutes: int = 0, user_id=None, anonymous_id=None, **traits) -> None:
    message = {
        "type": "identify",
        "userId": user_id,
        "anonymousId": anonymous_id or str(uuid.uuid4()),
        "traits": traits,
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
    }
    send(key, message)


def person(first, last, dob, street, postcode, city, email, **extra) -> dict:
    return {
        "firstName": first,
        "lastName": last,
        "birthday": dob,
        "email": email,
        "address": {"street": street, "city": city, "postalCode": postcode},
        **extra,
    }


def crowd(key: str, n: int = 40, seed: int = 5) -> None:
    """`n` unrelated people, so the model has a population to learn from."""
    rng = random.Random(seed)
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        traits = person(
            first,
            last,
            f"{rng.randint(1950, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
            f"LS{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEF')}{rng.choice('HJLN')}",
            rng.choice(CITIES),
            f"{first}.{last}{i}@example.net".lower(),
        )
        identify(key, user_id=f"u-crowd-{i}", anonymous_id=f"a-crowd-{i}", **traits)


def process() -> None:
    events_process_pending()


def profile_with(id_type: str, value: str) -> Profile:
    return Profile.objects.get(identities__id_type=id_type, identities__value=value)
