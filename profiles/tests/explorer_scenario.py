"""Data for the explorer, API and export tests: real events, collected and processed."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from profiles.models import Profile
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from tests.collect import send

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@dataclass
class Scenario:
    keys: dict[str, str]
    jane: Profile
    crm: Profile
    bob: Profile


def build() -> Scenario:
    """Jane browses, identifies and buys in store (one profile); her CRM record and Bob apart."""
    keys = {
        kind: source_create(name=kind.title(), kind=kind)[1] for kind in ("website", "pos", "crm")
    }
    send(
        keys["website"],
        {"type": "page", "anonymousId": "anon-1", "name": "Home", "timestamp": at(0)},
        {"type": "track", "anonymousId": "anon-1", "event": "Product Viewed", "timestamp": at(1)},
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "u-jane",
            "traits": {
                "email": "  Jane.Doe@Example.com ",
                "phone": "07700 900123",
                "firstName": "Jane",
                "lastName": "Doe",
            },
            "context": {"consent": {"categoryPreferences": {"email_marketing": True}}},
            "timestamp": at(2),
        },
        {
            "type": "identify",
            "userId": "u-bob",
            "traits": {"email": "bob@example.org", "firstName": "Bob", "plan": "gold", "vip": True},
            "timestamp": at(10),
        },
    )
    send(
        keys["pos"],
        {
            "type": "track",
            "anonymousId": "pos-receipt-77",
            "event": "Order Completed",
            "properties": {"revenue": 42.5},
            "context": {"traits": {"phone": "+44 (0)7700-900-123"}},
            "timestamp": at(60),
        },
    )
    send(
        keys["crm"],
        {
            "type": "identify",
            "anonymousId": "crm-row-1",
            "traits": {
                "crm_id": "C-1",
                "email": "jane.d@work.example",
                "firstName": "Jnae",
                "lastName": "Doe",
            },
            "timestamp": at(120),
        },
    )
    events_process_pending()
    return Scenario(
        keys=keys,
        jane=Profile.objects.get(identities__value="u-jane"),
        crm=Profile.objects.get(identities__value="C-1"),
        bob=Profile.objects.get(identities__value="u-bob"),
    )


def last_name_is(value: str) -> dict:
    """A segment definition: profiles whose lastName trait equals `value`."""
    return {
        "version": 1,
        "root": {
            "id": "root",
            "type": "group",
            "op": "and",
            "children": [
                {"id": "name", "type": "trait", "trait": "lastName", "operator": "equals",
                 "value": value},
            ],
        },
    }  # fmt: skip
