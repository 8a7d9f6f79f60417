"""Whether two profiles' consent conflicts when they merge. Pure (no ORM, no settings).

A profile's consent is its most recent decision per purpose (Profile.consent:
{purpose: {"granted", "at" (ISO time), "source", "event", "status"?, "expires_at"?, ...}}).
When two profiles merge, the most recent decision per purpose wins (survivorship.combine_consent);
that is right for one person who changed their mind, and wrong if the two are different people.
Two decisions conflict when one grants the purpose and the other refuses it (denied or
withdrawn), and both were made within `window` before `now`: an old refusal followed by a fresh
grant is a change of mind, two fresh opposite answers may be two people. An expired grant grants
nothing, so it conflicts with nothing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Choice:
    """One profile's decision in force for one purpose."""

    granted: bool
    status: str  # granted, denied or withdrawn
    at: datetime
    source: int | None = None
    event: int | None = None

    def as_dict(self) -> dict:
        return {
            "granted": self.granted,
            "status": self.status,
            "at": self.at.isoformat(),
            "source": self.source,
            "event": self.event,
        }


@dataclass(frozen=True)
class ConsentConflict:
    """Opposite recent decisions for `purpose`: `a` of the first profile, `b` of the second."""

    purpose: str
    a: Choice
    b: Choice

    @property
    def in_force(self) -> str:
        """Which decision the merged profile keeps ("a" or "b"): the most recent, `a` on a tie,
        as survivorship.combine_consent does."""
        return "b" if self.b.at > self.a.at else "a"


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def choice_of(value: object, *, now: datetime) -> Choice | None:
    """The decision stored for one purpose, or None if it cannot be read. An expired grant
    reads as a refusal with status "expired"."""
    if not isinstance(value, dict):
        return None
    at = _time(value.get("at"))
    if at is None:
        return None
    granted = value.get("granted") is True
    status = str(value.get("status") or ("granted" if granted else "denied"))
    expires = _time(value.get("expires_at"))
    if granted and expires is not None and expires <= now:
        granted, status = False, "expired"
    source, event = value.get("source"), value.get("event")
    return Choice(
        granted=granted,
        status=status,
        at=at,
        source=source if isinstance(source, int) else None,
        event=event if isinstance(event, int) else None,
    )


def consent_conflicts(
    a: dict, b: dict, *, now: datetime, window: timedelta
) -> list[ConsentConflict]:
    """The purposes on which `a` and `b` (two profiles' consent) made opposite decisions, both
    within `window` before `now`; by purpose name."""
    if not a or not b:
        return []
    since = now - window
    found = []
    for purpose in sorted(a.keys() & b.keys()):
        first, second = choice_of(a[purpose], now=now), choice_of(b[purpose], now=now)
        if first is None or second is None or first.granted == second.granted:
            continue
        if first.status == "expired" or second.status == "expired":
            continue  # an expired grant is no longer anyone's answer
        if first.at >= since and second.at >= since:
            found.append(ConsentConflict(purpose, first, second))
    return found


def conflict_reason(conflicts: list[ConsentConflict]) -> str:
    """How a review candidate names the conflict: "consent conflict on email_marketing, sms"."""
    return "consent conflict on " + ", ".join(c.purpose for c in conflicts)
