"""Drop incoming messages about erased people: counted per day, never stored."""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from privacy.domain.suppression import message_digests
from privacy.selectors import suppressed, suppression_key


def suppression_filter(prepared: list) -> tuple[list, int]:
    """The messages to keep, and how many were dropped because they name an erased person."""
    if not prepared:
        return prepared, 0
    key = suppression_key()
    region = settings.DEFAULT_PHONE_REGION
    digests = [
        message_digests(
            key,
            user_id=m.user_id,
            anonymous_id=m.anonymous_id,
            traits=m.traits,
            context=m.context,
            region=region,
        )
        for m in prepared
    ]
    hits = suppressed(set().union(*digests))
    if not hits:
        return prepared, 0
    kept = [m for m, found in zip(prepared, digests, strict=True) if not (found & hits)]
    dropped = len(prepared) - len(kept)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO privacy_suppressedcount (day, count) VALUES (%s, %s) "
            "ON CONFLICT (day) DO UPDATE "
            "SET count = privacy_suppressedcount.count + excluded.count",
            [timezone.now().date(), dropped],
        )
    return kept, dropped
