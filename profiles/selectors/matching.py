"""Reads for probabilistic matching and its review queue."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from profiles.domain.matching import MatchRecord, matchable, record_from_traits
from profiles.models import (
    Identity,
    IdentityType,
    MatchCandidate,
    MatchRun,
    MergeEntry,
    Profile,
)

NAME_KEYS = ("firstName", "first_name", "lastName", "last_name", "name")


def match_records() -> list[MatchRecord]:
    """The active profiles worth comparing, as matcher records (emails and phones from their
    identifiers, the rest from their golden traits)."""
    traits_of = dict(
        Profile.objects.filter(merged_into__isnull=True, traits__has_any_keys=NAME_KEYS)
        .values_list("id", "traits")
        .iterator(chunk_size=5000)
    )
    values: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    identities = (
        Identity.objects.filter(
            profile__merged_into__isnull=True,
            profile__traits__has_any_keys=NAME_KEYS,
            id_type__in=("email", "phone"),
        )
        .order_by("profile_id", "-last_seen", "id")
        .values_list("profile_id", "id_type", "value")
    )
    for profile_id, id_type, value in identities.iterator(chunk_size=5000):
        values[profile_id][id_type].append(value)
    records = []
    for profile_id, traits in traits_of.items():
        held = values.get(profile_id, {})
        record = record_from_traits(
            profile_id, traits, emails=held.get("email", ()), phones=held.get("phone", ())
        )
        if matchable(record):
            records.append(record)
    return records


@dataclass(frozen=True)
class Limit:
    max_per_profile: int
    verified: bool


def identity_limits() -> dict[str, Limit]:
    """Identity types with a maximum per profile (user_id, crm_id, ...)."""
    return {
        t.name: Limit(t.max_per_profile, t.verified)
        for t in IdentityType.objects.filter(enabled=True, max_per_profile__isnull=False)
    }


def limited_holdings(profile_ids, limits: dict[str, Limit]) -> dict[int, dict[str, set[str]]]:
    """Per profile, its values of the limited identity types."""
    holdings: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    rows = (
        Identity.objects.filter(profile_id__in=list(profile_ids), id_type__in=list(limits))
        .values_list("profile_id", "id_type", "value")
        .iterator(chunk_size=5000)
    )
    for profile_id, id_type, value in rows:
        holdings[profile_id][id_type].add(value)
    return holdings


def candidate_list(*, status: str | None = MatchCandidate.Status.PENDING) -> QuerySet:
    """Match candidates, best score first (all of them when `status` is None)."""
    candidates = MatchCandidate.objects.select_related("reviewed_by")
    if status:
        candidates = candidates.filter(status=status)
    return candidates.order_by("-score", "-created_at", "id")


def candidate_status_counts() -> dict[str, int]:
    counts = dict(
        MatchCandidate.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )
    return {status: counts.get(status, 0) for status in MatchCandidate.Status.values}


@dataclass
class Side:
    """One profile of a candidate pair, as the reviewer compares it."""

    profile: Profile
    traits: list[tuple[str, object]]
    identifiers: list[tuple[str, str]]
    events: int
    active: bool


def _side(profile: Profile, events: int) -> Side:
    return Side(
        profile=profile,
        traits=sorted(_flatten(profile.traits)),
        identifiers=list(
            profile.identities.order_by("id_type", "value").values_list("id_type", "value")
        ),
        events=events,
        active=profile.merged_into_id is None,
    )


def _flatten(traits: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in traits.items():
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def candidate_sides(candidate: MatchCandidate) -> tuple[Side, Side]:
    """Both profiles of a candidate with their traits, identifiers and event counts."""
    profiles = {
        p.pk: p
        for p in Profile.objects.filter(
            pk__in=[candidate.profile_a_id, candidate.profile_b_id]
        ).annotate(n_events=Count("events"))
    }
    a, b = profiles[candidate.profile_a_id], profiles[candidate.profile_b_id]
    return _side(a, a.n_events), _side(b, b.n_events)


def candidate_conflicts(sides: tuple[Side, Side], limits: dict[str, Limit]) -> list[str]:
    """Limited identifier types on which the two profiles hold different values."""
    a, b = ({t: {v for kind, v in s.identifiers if kind == t} for t in limits} for s in sides)
    return [
        f"{t}: {', '.join(sorted(a[t]))} / {', '.join(sorted(b[t]))}"
        for t, limit in limits.items()
        if a[t] and b[t] and len(a[t] | b[t]) > limit.max_per_profile
    ]


def match_runs() -> QuerySet:
    """Matching runs, newest first."""
    return MatchRun.objects.select_related("requested_by").order_by("-created_at", "-id")


def match_run_list(*, limit: int = 10) -> list[MatchRun]:
    return list(match_runs()[:limit])


def match_run_stale_after() -> timedelta:
    """A run still queued or running after the task timeout has lost its worker."""
    return timedelta(seconds=int(settings.Q_CLUSTER.get("timeout", 600)) + 60)


def match_runs_unfinished(*, stale: bool = False) -> QuerySet:
    """Queued or running runs: the live ones, or (stale=True) those whose worker is gone."""
    since = timezone.now() - match_run_stale_after()
    runs = MatchRun.objects.filter(
        Q(status=MatchRun.Status.QUEUED) | Q(status=MatchRun.Status.RUNNING)
    )
    return runs.filter(created_at__lt=since) if stale else runs.filter(created_at__gte=since)


def match_run_active() -> MatchRun | None:
    """The queued or running run, if any (not counting those whose worker is gone)."""
    return match_runs_unfinished().order_by("created_at").first()


def candidate_merge_entry(candidate: MatchCandidate) -> MergeEntry | None:
    """The ledger entry of an approved or auto-merged candidate's merge, if any."""
    pair = [candidate.profile_a_id, candidate.profile_b_id]
    return (
        MergeEntry.objects.filter(kind=MergeEntry.Kind.MERGE, survivor_id__in=pair)
        .filter(absorbed_id__in=pair)
        .order_by("-at", "-id")
        .first()
    )


@dataclass
class ProfileSummary:
    pk: int
    name: str
    detail: str  # email · date of birth · postcode, as far as known


@dataclass
class CandidateRow:
    """A candidate as one line of the queue: who, the strongest evidence, any hold-back."""

    candidate: MatchCandidate
    a: ProfileSummary
    b: ProfileSummary
    evidence: list[dict]  # the fields weighing most, either way
    held: list[str]


def _summary(profile: Profile, fields: dict[str, str]) -> ProfileSummary:
    record = record_from_traits(profile.pk, profile.traits or {})
    name = " ".join(filter(None, [record.first_name, record.last_name])) or f"Profile #{profile.pk}"
    parts = [fields.get("emails") or (record.emails[0] if record.emails else "")]
    parts += [
        fields.get("birth_date") or record.birth_date,
        fields.get("postcode") or record.postcode,
    ]
    return ProfileSummary(profile.pk, name, " · ".join(p for p in parts if p))


def candidate_row(candidate: MatchCandidate) -> CandidateRow:
    """The queue line of `candidate` (its profiles loaded with it, or fetched here)."""
    fields = (candidate.explanation or {}).get("fields") or []
    side_a = {f["field"]: f["a"] for f in fields}
    side_b = {f["field"]: f["b"] for f in fields}
    strongest = sorted(fields, key=lambda f: -abs(f["weight"]))[:3]
    held = list((candidate.explanation or {}).get("review_because") or [])
    if conflict := (candidate.explanation or {}).get("conflict"):
        held.append(str(conflict).replace("_", " "))
    return CandidateRow(
        candidate=candidate,
        a=_summary(candidate.profile_a, side_a),
        b=_summary(candidate.profile_b, side_b),
        evidence=strongest,
        held=held,
    )
