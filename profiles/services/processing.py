"""The processor: turns collected events into profiles, in micro-batches, in the background.

One batch runs in one transaction under a transaction-level advisory lock, so concurrent workers
take turns on identity resolution (the unique (id_type, value) constraint backs it). The events
are taken with FOR UPDATE SKIP LOCKED and marked processed in the same transaction: a crash
leaves them unprocessed, and reprocessing a batch finds nothing to do.
Merges whose profiles made conflicting recent consent decisions are flagged, or held for review
when the merge settings say so (services/merge_consent.py, beside the Resolver).
"""

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.db import connection, transaction
from django.utils import timezone

from privacy.services.consent_conflicts import consent_conflicts_record
from profiles.domain import survivorship
from profiles.domain.identity import TypeRule, alias_targets, extract
from profiles.domain.resolution import Decision, Resolver
from profiles.models import IdentityType, MatchCandidate, MergeEntry, Profile, SurvivorshipRule
from profiles.selectors.canonical import profiles_canonical
from profiles.services.merge_consent import MergeConsent
from profiles.signals import profiles_changed

logger = logging.getLogger(__name__)

PROCESSOR_LOCK = 7_201_001  # pg advisory lock key for identity resolution
# Consent decisions made through the consent API, admin UI or preference centre are recorded as
# track events of this name, with status, legal basis, expiry and evidence in their properties.
CONSENT_EVENT = "Consent Updated"
BATCH_SIZE = 1000


@dataclass
class BatchResult:
    events: int = 0
    profiles_created: int = 0
    merges: int = 0
    drops: int = 0
    reviews: int = 0
    changed: set[int] = field(default_factory=set)


def type_rule(t: IdentityType) -> TypeRule:
    """One identity type (saved or not) as a pure rule."""
    return TypeRule(
        name=t.name,
        normaliser=t.normaliser,
        pattern=t.pattern,
        default_region=t.default_region,
        trait_keys=tuple(t.trait_keys or ()),
        priority=t.priority,
        max_per_profile=t.max_per_profile,
        blocked_values=frozenset(str(v).strip().lower() for v in t.blocked_values or ()),
        verified=t.verified,
    )


def identity_rules() -> dict[str, TypeRule]:
    """The enabled identity types as pure rules."""
    return {t.name: type_rule(t) for t in IdentityType.objects.filter(enabled=True)}


def trait_rules() -> dict[str, survivorship.TraitRule]:
    """The survivorship rules per trait ('*' is the default)."""
    return {
        r.trait: survivorship.TraitRule(
            rule=r.rule,
            source_priority=tuple(int(s) for s in r.source_priority or ()),
            keep_non_empty=r.keep_non_empty,
        )
        for r in SurvivorshipRule.objects.all()
    }


_EVENT_COLUMNS = (
    "id, source_id, type, name, user_id, anonymous_id, previous_id, timestamp, traits, context, "
    "consent, properties"
)


def _take_events(limit: int) -> list[dict]:
    # In arrival order (ties in insertion order), which the partial index event_unprocessed
    # gives: ordered by id, the scan walked past every processed event first (2.5 s a batch
    # once 500k events were processed).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_EVENT_COLUMNS} FROM profiles_event WHERE processed_at IS NULL "  # noqa: S608
            "ORDER BY received_at LIMIT %s FOR UPDATE SKIP LOCKED",
            [limit],
        )
        names = [col.name for col in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:  # Django loads jsonb as text on raw cursors
        for name in ("traits", "context", "consent", "properties"):
            if isinstance(row[name], str):
                row[name] = orjson.loads(row[name])
    return rows


def _owners(identifiers: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """Owners of `identifiers`, plus every identifier of those profiles (to check limits)."""
    if not identifiers:
        return {}
    types, values = zip(*identifiers, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT i.profile_id FROM profiles_identity i "
            "JOIN unnest(%s::text[], %s::text[]) AS k(t, v) ON i.id_type = k.t AND i.value = k.v",
            [list(types), list(values)],
        )
        profiles = [row[0] for row in cursor.fetchall()]
        if not profiles:
            return {}
        cursor.execute(
            "SELECT id_type, value, profile_id, origin_profile_id FROM profiles_identity "
            "WHERE profile_id = ANY(%s)",
            [profiles],
        )
        return {(t, v): (p, o) for t, v, p, o in cursor.fetchall()}


INVALID_VALUE = "invalid_value"


@transaction.atomic
def events_process_batch(*, limit: int = BATCH_SIZE) -> BatchResult:
    """Resolve one micro-batch of unprocessed events into profiles."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PROCESSOR_LOCK])
    events = _take_events(limit)
    result = BatchResult(events=len(events))
    if not events:
        return result
    rules = identity_rules()
    extracted = []
    invalid: list[list[tuple[str, str, str]]] = []  # per event: (type, raw value, reason)
    junk: dict[tuple[str, str], int] = defaultdict(int)
    wanted: set[tuple[str, str]] = set()
    for event in events:
        found = extract(rules, event)
        linked = alias_targets(rules, event["previous_id"]) if event["type"] == "alias" else []
        extracted.append((found.identifiers, linked))
        invalid.append(found.invalid)
        wanted.update(found.identifiers, linked)
        for key in found.blocked:
            junk[key] += 1
    resolver = Resolver(rules, _owners(wanted))
    consent = MergeConsent(rules)
    consent.prefetch(resolver, extracted)
    decisions: list[Decision | None] = []
    for event, (ids, linked) in zip(events, extracted, strict=True):
        if not ids and not linked:
            decisions.append(None)
            continue
        ids, linked = consent.before(resolver, event["id"], ids, linked)
        decision = resolver.resolve(ids, linked)
        consent.after(decision)
        decisions.append(decision)
    real = _create_profiles(resolver.new_profiles, events, decisions)
    result.profiles_created = len(resolver.new_profiles)
    _insert_identities(events, decisions, real)
    _assign_events(events, decisions, real)
    merged = _apply_merges(events, decisions, real, result, consent.flags)
    _record_drops_and_reviews(events, decisions, invalid, real, result)
    if consent.held:
        held = consent.review_candidates(resolver)
        MatchCandidate.objects.bulk_create(held, ignore_conflicts=True)
        result.reviews += len(held)
    touched = {real(d.profile) for d in decisions if d is not None} | merged
    canonical = _canonical(touched)
    profiles_rebuild_incremental(canonical, events, decisions, real)
    _count_junk(junk)
    result.changed = canonical
    transaction.on_commit(lambda: profiles_changed.send(sender=Profile, profile_ids=canonical))
    return result


def _create_profiles(new_keys, events, decisions):
    """Create the batch's new profiles; returns a function mapping resolver keys to real ids."""
    first_ts: dict[int, datetime] = {}
    for event, decision in zip(events, decisions, strict=True):
        if decision is not None and decision.profile < 0:
            first_ts.setdefault(decision.profile, event["timestamp"])
    now = timezone.now()
    created = Profile.objects.bulk_create(
        Profile(first_seen=first_ts.get(key, now), last_seen=first_ts.get(key, now))
        for key in new_keys
    )
    mapping = {key: profile.pk for key, profile in zip(new_keys, created, strict=True)}
    return lambda key: mapping.get(key, key)


def _insert_identities(events, decisions, real) -> None:
    rows = defaultdict(list)
    for event, decision in zip(events, decisions, strict=True):
        if decision is None:
            continue
        for id_type, value in decision.new_identities:
            for column, item in (
                ("t", id_type), ("v", value), ("p", real(decision.profile)),
                ("o", real(decision.origin)), ("s", event["source_id"]), ("at", event["timestamp"]),
            ):  # fmt: skip
                rows[column].append(item)
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO profiles_identity "
                "(id_type, value, profile_id, origin_profile_id, source_id, first_seen, last_seen) "
                "SELECT t, v, p, o, s, at, at FROM unnest(%s::text[], %s::text[], %s::bigint[], "
                "%s::bigint[], %s::bigint[], %s::timestamptz[]) AS x(t, v, p, o, s, at)",
                [rows["t"], rows["v"], rows["p"], rows["o"], rows["s"], rows["at"]],
            )


def _assign_events(events, decisions, real) -> None:
    ids, profiles, origins = [], [], []
    for event, decision in zip(events, decisions, strict=True):
        ids.append(event["id"])
        profiles.append(real(decision.profile) if decision else None)
        origins.append(real(decision.origin) if decision else None)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_event e SET profile_id = x.p, origin_profile_id = x.o, "
            "processed_at = now() FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) "
            "AS x(id, p, o) WHERE e.id = x.id",
            [ids, profiles, origins],
        )


def _apply_merges(events, decisions, real, result: BatchResult, flags) -> set[int]:
    """Move identifiers and events of each absorbed profile to its survivor, with a ledger entry
    and the consent conflicts the merge brings (`flags`, by Resolver keys)."""
    absorbed_all: set[int] = set()
    conflicts = []
    now = timezone.now()
    for event, decision in zip(events, decisions, strict=True):
        if decision is None:
            continue
        for merge in decision.merges:
            survivor, absorbed = real(merge.survivor), real(merge.absorbed)
            profile_merge_rows(survivor=survivor, absorbed=absorbed)
            entry = MergeEntry.objects.create(
                kind=MergeEntry.Kind.MERGE,
                survivor_id=survivor,
                absorbed_id=absorbed,
                reason=merge.reason,
                rule=f"shared {merge.via[0]}",
                id_type=merge.via[0],
                id_value=merge.via[1],
                event_id=event["id"],
                at=now,
            )
            if found := flags.get((merge.survivor, merge.absorbed)):
                conflicts.append((entry, found))
            absorbed_all.add(absorbed)
            result.merges += 1
    if conflicts:
        consent_conflicts_record(found=conflicts)
    return absorbed_all


def profile_merge_rows(*, survivor: int, absorbed: int) -> None:
    """Point the absorbed profile's identifiers and events at the survivor (the row moves only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_identity SET profile_id = %s WHERE profile_id = %s",
            [survivor, absorbed],
        )
        cursor.execute(
            "UPDATE profiles_event SET profile_id = %s WHERE profile_id = %s", [survivor, absorbed]
        )
        cursor.execute(
            "UPDATE profiles_profile SET merged_into_id = %s, updated_at = now() WHERE id = %s",
            [survivor, absorbed],
        )


def _record_drops_and_reviews(events, decisions, invalid, real, result: BatchResult) -> None:
    now = timezone.now()
    drops, reviews = [], []
    for event, decision, unusable in zip(events, decisions, invalid, strict=True):
        if decision is None:
            continue
        # A value its type's normaliser refuses ("not an email address") is not used to link the
        # event, and it is said so on the profile's ledger rather than left unseen.
        for id_type, raw, why in unusable:
            drops.append(
                MergeEntry(
                    kind=MergeEntry.Kind.DROP,
                    survivor_id=real(decision.profile),
                    reason=INVALID_VALUE,
                    rule=why[:200],
                    id_type=id_type,
                    id_value=raw[:255],
                    event_id=event["id"],
                    at=now,
                )
            )
        for drop in decision.drops:
            drops.append(
                MergeEntry(
                    kind=MergeEntry.Kind.DROP,
                    survivor_id=real(drop.profile),
                    reason=drop.reason,
                    rule=drop.rule,
                    id_type=drop.identifier[0],
                    id_value=drop.identifier[1],
                    event_id=event["id"],
                    at=now,
                )
            )
        for review in decision.reviews:
            a, b = sorted((real(review.profile_a), real(review.profile_b)))
            if a != b:
                reviews.append(
                    MatchCandidate(
                        profile_a_id=a,
                        profile_b_id=b,
                        score=1.0,
                        reason=review.reason,
                        explanation={"conflict": review.reason},
                    )
                )
    MergeEntry.objects.bulk_create(drops)
    MatchCandidate.objects.bulk_create(reviews, ignore_conflicts=True)
    result.drops, result.reviews = len(drops), len(reviews)


def _canonical(profile_ids: set[int]) -> set[int]:
    """The surviving profiles that `profile_ids` now belong to."""
    return set(profiles_canonical(profile_ids).values())


def profiles_rebuild_incremental(canonical: set[int], events, decisions, real) -> None:
    """Fold the batch into the survivors' traits, consent and seen times, then computed traits."""
    profiles = {p.pk: p for p in Profile.objects.filter(pk__in=canonical)}
    rules = trait_rules()
    absorbed_state = {
        p.pk: p
        for p in Profile.objects.filter(
            merged_into__isnull=False, pk__in=_batch_absorbed(decisions, real)
        )
    }
    # Traits of profiles absorbed in this batch join their survivor first.
    for decision in filter(None, decisions):
        for merge in decision.merges:
            absorbed = absorbed_state.get(real(merge.absorbed))
            survivor = profiles.get(_final(real(merge.survivor), canonical, profiles))
            if absorbed is None or survivor is None:
                continue
            survivor.traits, survivor.trait_lineage = survivorship.combine(
                survivor.traits,
                survivor.trait_lineage,
                absorbed.traits,
                absorbed.trait_lineage,
                rules,
            )
            survivor.consent = survivorship.combine_consent(survivor.consent, absorbed.consent)
            survivor.first_seen = min(survivor.first_seen, absorbed.first_seen)
            survivor.last_seen = max(survivor.last_seen, absorbed.last_seen)
    owner_of = _current_owner(events)
    for event in events:
        profile = profiles.get(owner_of.get(event["id"]))
        if profile is None:
            continue
        _fold_event(profile, event, rules)
    _profiles_save(profiles.values())
    computed_refresh(set(profiles))


def _profiles_save(profiles) -> None:
    """Write folded traits, lineage, consent and seen times back in one statement.

    One UPDATE from arrays: bulk_update's CASE WHEN per row cost more than the rest of a batch.
    """
    columns: list[list] = [[], [], [], [], [], []]
    for profile in profiles:
        row = (
            profile.pk,
            json.dumps(profile.traits),
            json.dumps(profile.trait_lineage),
            json.dumps(profile.consent),
            profile.first_seen,
            profile.last_seen,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    if not columns[0]:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_profile p SET traits = x.t, trait_lineage = x.l, consent = x.c, "
            "first_seen = x.f, last_seen = x.s FROM unnest(%s::bigint[], %s::jsonb[], "
            "%s::jsonb[], %s::jsonb[], %s::timestamptz[], %s::timestamptz[]) "
            "AS x(id, t, l, c, f, s) WHERE p.id = x.id",
            columns,
        )


def _batch_absorbed(decisions, real) -> set[int]:
    return {real(m.absorbed) for d in filter(None, decisions) for m in d.merges}


def _final(profile_id: int, canonical: set[int], profiles: dict) -> int:
    if profile_id in profiles:
        return profile_id
    return next(iter(_canonical({profile_id})), profile_id)


def _current_owner(events) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, profile_id FROM profiles_event WHERE id = ANY(%s)",
            [[e["id"] for e in events]],
        )
        return dict(cursor.fetchall())


def _fold_event(profile: Profile, event: dict, rules) -> None:
    at = event["timestamp"]
    if event["type"] == "identify":
        traits = dict((event.get("context") or {}).get("traits") or {})
        traits.update(event.get("traits") or {})
        survivorship.apply(
            profile.traits, profile.trait_lineage, traits,
            source=event["source_id"], event=event["id"], at=at, rules=rules,
        )  # fmt: skip
    if event.get("consent"):
        details = None
        if event.get("name") == CONSENT_EVENT and isinstance(event.get("properties"), dict):
            details = {
                key: event["properties"][key]
                for key in ("status", "expires_at", "legal_basis")
                if event["properties"].get(key) is not None
            }
        survivorship.apply_consent(
            profile.consent, event["consent"], source=event["source_id"], event=event["id"], at=at,
            details=details,
        )  # fmt: skip
    profile.first_seen = min(profile.first_seen, at)
    profile.last_seen = max(profile.last_seen, at)


def computed_refresh(profile_ids: set[int]) -> None:
    """Recompute computed traits (orders, lifetime value, last order, event count) from events."""
    if not profile_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE profiles_profile p SET computed = x.computed FROM (
              SELECT profile_id, jsonb_build_object(
                'event_count', count(*),
                'order_count', count(*) FILTER (WHERE name = 'Order Completed'),
                'lifetime_value', round(coalesce(sum(CASE WHEN name = 'Order Completed'
                    AND jsonb_typeof(properties->'revenue') = 'number'
                    THEN (properties->>'revenue')::numeric END), 0), 2),
                'last_order_at', max(timestamp) FILTER (WHERE name = 'Order Completed'),
                'first_order_at', min(timestamp) FILTER (WHERE name = 'Order Completed')
              ) AS computed
              FROM profiles_event WHERE profile_id = ANY(%s) GROUP BY profile_id
            ) x WHERE p.id = x.profile_id
            """,
            [list(profile_ids)],
        )


def profiles_rebuild(profile_ids: set[int]) -> None:
    """Rebuild traits, lineage, consent and seen times of profiles from all their events."""
    rules = trait_rules()
    for profile in Profile.objects.filter(pk__in=profile_ids):
        profile.traits, profile.trait_lineage, profile.consent = {}, {}, {}
        events = list(
            profile.events.order_by("timestamp", "id").values(
                "id",
                "source_id",
                "type",
                "name",
                "timestamp",
                "traits",
                "context",
                "consent",
                "properties",
            )
        )
        if events:
            profile.first_seen, profile.last_seen = events[0]["timestamp"], events[-1]["timestamp"]
        for event in events:
            _fold_event(profile, event, rules)
        profile.save(
            update_fields=["traits", "trait_lineage", "consent", "first_seen", "last_seen"]
        )
    computed_refresh(profile_ids)


def _count_junk(junk: dict[tuple[str, str], int]) -> None:
    if not junk:
        return
    types, values, counts = [], [], []
    for (id_type, value), count in junk.items():
        types.append(id_type)
        values.append(value[:255])
        counts.append(count)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_junkidentifier (id_type, value, count, last_seen) "
            "SELECT t, v, c, now() FROM unnest(%s::text[], %s::text[], %s::int[]) AS x(t, v, c) "
            "ON CONFLICT (id_type, value) DO UPDATE SET count = profiles_junkidentifier.count "
            "+ excluded.count, last_seen = excluded.last_seen",
            [types, values, counts],
        )


def events_process_pending(*, budget_seconds: float = 50.0, limit: int = BATCH_SIZE) -> int:
    """Process batches until none are left or the time budget is spent; returns events done."""
    done = 0
    started = time.monotonic()
    while time.monotonic() - started < budget_seconds:
        result = events_process_batch(limit=limit)
        done += result.events
        if result.events < limit:
            break
    return done


def processing_request() -> None:
    """Make sure a processing task is queued (at most one waits at a time)."""
    from django_q.tasks import async_task

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_processorstate SET pending = true WHERE id = 1 AND NOT pending "
            "RETURNING id"
        )
        queued = cursor.fetchone() is not None
    if queued:
        transaction.on_commit(lambda: async_task("profiles.tasks.process_events"))


def processing_started() -> None:
    """Called by the task before it drains: events arriving from now on queue another task."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE profiles_processorstate SET pending = false WHERE id = 1")
