"""Probabilistic matching runs and the review of their candidates.

A run compares the active profiles (which, being separate, share no identifier) with the
Fellegi-Sunter model of profiles.domain.matching, trained on them by EM. A pair at or above the
auto-merge threshold is merged (reason "probabilistic") unless a guard holds it back for review:
the two profiles hold different values of an identifier limited to one per profile (two verified
user_ids or crm_ids are two people until an admin says otherwise), or their first names or dates
of birth plainly differ (two people of one household), or, when the merge settings ask for it,
their recent consent decisions conflict. A pair between the two thresholds becomes
a pending candidate; a rejected pair is never proposed again.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from profiles.domain import matching
from profiles.domain.consent_conflicts import conflict_reason
from profiles.models import MatchCandidate, MatchRun, MergeEntry, Profile
from profiles.selectors.matching import (
    Limit,
    identity_limits,
    limited_holdings,
    match_records,
    match_runs_unfinished,
)
from profiles.selectors.merge_settings import merge_consent_conflicts, merge_settings_get
from profiles.services.merges import MergeError, profile_merge
from profiles.services.processing import PROCESSOR_LOCK

logger = logging.getLogger(__name__)

MATCHING_LOCK = 7_201_002  # pg advisory lock key: one matching run at a time
MODEL_NAME = "fellegi-sunter"


class MatchReviewError(ValueError):
    """The candidate cannot be approved or rejected; the message says why."""


def match_thresholds() -> tuple[float, float]:
    """(auto-merge, review) thresholds from settings (MATCH_AUTO_MERGE, MATCH_REVIEW)."""
    return float(settings.MATCH_AUTO_MERGE), float(settings.MATCH_REVIEW)


def _check_thresholds(auto: float, review: float) -> None:
    if not (0 < review <= auto <= 1):
        raise ValueError(
            f"Thresholds must satisfy 0 < review ({review}) <= auto-merge ({auto}) <= 1."
        )


# --- Runs -----------------------------------------------------------------------------------------


def match_run_request(*, user=None, trigger: str = MatchRun.Trigger.MANUAL) -> MatchRun:
    """Queue a matching run for the worker (the one already waiting, if there is one)."""
    from django_q.tasks import async_task

    match_runs_unfinished(stale=True).update(
        status=MatchRun.Status.FAILED,
        error="The worker did not finish this run in time.",
        finished_at=timezone.now(),
    )
    waiting = (
        match_runs_unfinished().filter(status=MatchRun.Status.QUEUED).order_by("created_at").first()
    )
    if waiting is not None:
        return waiting
    auto, review = match_thresholds()
    run = MatchRun.objects.create(
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
        auto_merge_threshold=auto,
        review_threshold=review,
    )
    transaction.on_commit(
        lambda: async_task(
            "profiles.tasks_matching.run_matching", run.pk, task_name=f"match-run-{run.pk}"
        )
    )
    return run


@dataclass
class _Pending:
    """A review candidate to write at the end of the run."""

    a: int
    b: int
    score: float
    explanation: dict


def matching_run(
    *,
    run: MatchRun | None = None,
    auto_merge_threshold: float | None = None,
    review_threshold: float | None = None,
    trigger: str = MatchRun.Trigger.SCHEDULE,
    seed: int = 0,
) -> MatchRun:
    """Compare the active profiles; merge the sure pairs, propose the likely ones for review."""
    default_auto, default_review = match_thresholds()
    if run is None:
        run = MatchRun(
            trigger=trigger,
            auto_merge_threshold=default_auto
            if auto_merge_threshold is None
            else auto_merge_threshold,
            review_threshold=default_review if review_threshold is None else review_threshold,
        )
    else:
        if auto_merge_threshold is not None:
            run.auto_merge_threshold = auto_merge_threshold
        if review_threshold is not None:
            run.review_threshold = review_threshold
    _check_thresholds(run.auto_merge_threshold, run.review_threshold)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MATCHING_LOCK])
        locked = cursor.fetchone()[0]
    if not locked:
        run.status, run.finished_at = MatchRun.Status.SKIPPED, timezone.now()
        run.save()
        return run
    started = time.monotonic()
    run.status, run.started_at, run.error = MatchRun.Status.RUNNING, timezone.now(), ""
    run.save()
    try:
        _run(run, seed=seed)
        run.status = MatchRun.Status.DONE
    except Exception as exc:
        logger.exception("Matching run %s failed", run.pk)
        run.status, run.error = MatchRun.Status.FAILED, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.seconds = round(time.monotonic() - started, 3)
        run.finished_at = timezone.now()
        run.save()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MATCHING_LOCK])
    return run


def _run(run: MatchRun, *, seed: int) -> None:
    started = time.monotonic()
    _obsolete_stale_candidates()
    records = match_records()
    run.profiles = len(records)
    loaded = time.monotonic()
    linkage = matching.link(records, seed=seed, min_probability=run.review_threshold)
    linked = time.monotonic()
    run.pairs = linkage.compared
    run.model = {
        "name": MODEL_NAME,
        **linkage.model.as_dict(),
        "blocking": {
            "rules": list(matching.BLOCKING_RULES),
            "blocks": linkage.blocks,
            "skipped_blocks": linkage.skipped_blocks,
            "skipped_records": linkage.stats["skipped_records"],
            "patterns": linkage.stats["patterns"],
        },
    }
    decided = {
        (a, b): (pk, status, reason)
        for pk, a, b, status, reason in MatchCandidate.objects.values_list(
            "pk", "profile_a_id", "profile_b_id", "status", "reason"
        )
    }
    limits = identity_limits()
    sure = [p for p in linkage.pairs if p.probability >= run.auto_merge_threshold]
    holdings = limited_holdings({k for p in sure for k in (p.key_a, p.key_b)}, limits)
    parent: dict[int, int] = {}

    def find(key: int) -> int:
        while key in parent:
            key = parent[key]
        return key

    pending: dict[tuple[int, int], _Pending] = {}
    for pair in linkage.pairs:  # best first
        if _rejected(decided, (pair.key_a, pair.key_b)):
            run.skipped_rejected += 1
            continue
        a, b = find(pair.key_a), find(pair.key_b)
        if a == b:
            continue
        key = (min(a, b), max(a, b))
        if _rejected(decided, key):
            run.skipped_rejected += 1
            continue
        explanation = _explanation(run, linkage, pair)
        if pair.probability >= run.auto_merge_threshold:
            reasons = _guards(pair, holdings.get(a, {}), holdings.get(b, {}), limits)
            if not reasons:
                entry = _auto_merge(run, a, b, pair, explanation, limits)
                if entry is None:  # merged elsewhere since the run read the profiles
                    continue
                if isinstance(entry, MergeEntry):
                    survivor, absorbed = entry.survivor_id, entry.absorbed_id
                    parent[absorbed] = survivor
                    for id_type, values in holdings.pop(absorbed, {}).items():
                        holdings.setdefault(survivor, {}).setdefault(id_type, set()).update(values)
                    pending.pop(key, None)
                    run.merges += 1
                    continue
                reasons = entry
            explanation["review_because"] = reasons
            run.held_for_review += 1
        if key not in pending:
            pending[key] = _Pending(*key, pair.probability, explanation)
    run.candidates = _write_candidates(pending.values(), decided, parent, find)
    run.model["seconds"] = {
        "loading": round(loaded - started, 3),
        **linkage.stats["seconds"],
        "merging_and_writing": round(time.monotonic() - linked, 3),
    }


def _rejected(decided: dict, key: tuple[int, int]) -> bool:
    found = decided.get(key)
    return found is not None and found[1] == MatchCandidate.Status.REJECTED


def _explanation(run: MatchRun, linkage: matching.Linkage, pair: matching.ScoredPair) -> dict:
    return {
        "model": MODEL_NAME,
        "run": run.pk,
        "profiles": [pair.key_a, pair.key_b],
        "probability": pair.probability,
        "match_weight": round(pair.weight, 2),
        "prior_weight": round(linkage.model.prior_weight, 2),
        "fields": [evidence.as_dict() for evidence in linkage.explain(pair)],
    }


def _guards(
    pair: matching.ScoredPair,
    held_a: dict[str, set[str]],
    held_b: dict[str, set[str]],
    limits: dict[str, Limit],
) -> list[str]:
    """Why a pair above the auto-merge threshold must still go to review (empty: it need not)."""
    reasons = [f"{field.replace('_', ' ')} differs" for field in matching.disagreements(pair.gamma)]
    return reasons + _conflicts(held_a, held_b, limits)


def _conflicts(
    held_a: dict[str, set[str]], held_b: dict[str, set[str]], limits: dict[str, Limit]
) -> list[str]:
    out = []
    for id_type, limit in limits.items():
        values_a, values_b = held_a.get(id_type, set()), held_b.get(id_type, set())
        if values_a and values_b and len(values_a | values_b) > limit.max_per_profile:
            kind = "verified " if limit.verified else ""
            out.append(f"different {kind}{id_type}")
    return out


def _auto_merge(
    run: MatchRun,
    a: int,
    b: int,
    pair: matching.ScoredPair,
    explanation: dict,
    limits: dict[str, Limit],
) -> MergeEntry | list[str] | None:
    """Merge two profiles, re-checking the identifier limits under the processor's lock; returns
    the ledger entry, the conflicts that appeared since the run read the profiles, or None if one
    of them has been merged away meanwhile."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PROCESSOR_LOCK])
        profiles = Profile.objects.filter(pk__in=[a, b], merged_into__isnull=True)
        if profiles.count() != 2:
            return None
        fresh = limited_holdings([a, b], limits)
        conflicts = _conflicts(fresh.get(a, {}), fresh.get(b, {}), limits)
        if merge_settings_get().consent_conflict_review:
            consent = dict(profiles.values_list("pk", "consent"))
            if found := merge_consent_conflicts(consent[a], consent[b]):
                conflicts.append(conflict_reason(found))
        if conflicts:
            return conflicts
        try:
            entry = profile_merge(
                survivor=Profile.objects.get(pk=a),
                absorbed=Profile.objects.get(pk=b),
                reason="probabilistic",
                score=pair.probability,
                rule=f"{MODEL_NAME}, run {run.pk}: p={pair.probability:.4f} "
                f">= {run.auto_merge_threshold}",
            )
        except MergeError:
            return None
        low, high = min(a, b), max(a, b)
        MatchCandidate.objects.update_or_create(
            profile_a_id=low,
            profile_b_id=high,
            defaults={
                "score": pair.probability,
                "explanation": explanation,
                "reason": "probabilistic",
                "status": MatchCandidate.Status.AUTO_MERGED,
                "reviewed_at": timezone.now(),
            },
        )
        return entry


@transaction.atomic
def _write_candidates(pending, decided: dict, parent: dict, find) -> int:
    """Create or refresh the pending candidates; returns how many were written."""
    now = timezone.now()
    new, updated = [], []
    for item in pending:
        a, b = find(item.a), find(item.b)
        if a == b:
            continue
        key = (min(a, b), max(a, b))
        found = decided.get(key)
        if found is None:
            new.append(
                MatchCandidate(
                    profile_a_id=key[0],
                    profile_b_id=key[1],
                    score=item.score,
                    explanation=item.explanation,
                )
            )
            continue
        pk, status, reason = found
        if status == MatchCandidate.Status.PENDING and reason != "probabilistic":
            # A deterministic conflict from the processor: keep it, add the field comparison.
            candidate = MatchCandidate.objects.get(pk=pk)
            candidate.explanation = {**item.explanation, **candidate.explanation}
            updated.append(candidate)
        elif status in (MatchCandidate.Status.PENDING, MatchCandidate.Status.OBSOLETE):
            updated.append(
                MatchCandidate(
                    pk=pk,
                    profile_a_id=key[0],
                    profile_b_id=key[1],
                    score=item.score,
                    explanation=item.explanation,
                    status=MatchCandidate.Status.PENDING,
                    reason="probabilistic",
                    created_at=now,
                )
            )
    MatchCandidate.objects.bulk_create(new, ignore_conflicts=True)
    MatchCandidate.objects.bulk_update(
        updated, ["score", "explanation", "status", "reason", "created_at"]
    )
    return len(new) + len(updated)


def _obsolete_stale_candidates() -> int:
    """Pending candidates one of whose profiles has been merged away are obsolete."""
    return MatchCandidate.objects.filter(status=MatchCandidate.Status.PENDING).filter(
        profile_a__merged_into__isnull=False
    ).update(status=MatchCandidate.Status.OBSOLETE) + MatchCandidate.objects.filter(
        status=MatchCandidate.Status.PENDING
    ).filter(profile_b__merged_into__isnull=False).update(status=MatchCandidate.Status.OBSOLETE)


# --- Review ---------------------------------------------------------------------------------------


def _pending_for_review(candidate: MatchCandidate) -> MatchCandidate:
    candidate = MatchCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != MatchCandidate.Status.PENDING:
        raise MatchReviewError(
            f"This pair was already decided ({candidate.get_status_display().lower()})."
        )
    return candidate


def match_candidate_approve(*, candidate: MatchCandidate, user) -> MatchCandidate:
    """Merge the candidate's two profiles (reason "review"); the merge can be undone."""
    with transaction.atomic():
        candidate = _pending_for_review(candidate)
        pair = [candidate.profile_a_id, candidate.profile_b_id]
        if Profile.objects.filter(pk__in=pair, merged_into__isnull=True).count() == 2:
            entry = profile_merge(
                survivor=candidate.profile_a,
                absorbed=candidate.profile_b,
                reason="review",
                actor=user,
                score=candidate.score,
                rule=f"review of candidate {candidate.pk}",
            )
            candidate.status = MatchCandidate.Status.APPROVED
            candidate.reviewed_by, candidate.reviewed_at = user, entry.at
            candidate.save(update_fields=["status", "reviewed_by", "reviewed_at"])
            _audit(candidate, user, "approved", ledger=entry.pk)
            return candidate
        candidate.status = MatchCandidate.Status.OBSOLETE
        candidate.save(update_fields=["status"])
    raise MatchReviewError("One of these profiles has been merged since: nothing to do.")


@transaction.atomic
def match_candidate_reject(*, candidate: MatchCandidate, user) -> MatchCandidate:
    """Mark the pair as two people: it is never proposed again."""
    candidate = _pending_for_review(candidate)
    candidate.status = MatchCandidate.Status.REJECTED
    candidate.reviewed_by, candidate.reviewed_at = user, timezone.now()
    candidate.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    _audit(candidate, user, "rejected")
    return candidate


def _audit(candidate: MatchCandidate, user, verb: str, **extra) -> None:
    audit_record(
        actor=user,
        action=f"match_candidate.{verb}",
        object_type="match_candidate",
        object_id=candidate.pk,
        before={"status": MatchCandidate.Status.PENDING},
        after={
            "status": candidate.status,
            "profiles": [candidate.profile_a_id, candidate.profile_b_id],
            "score": candidate.score,
            **extra,
        },
    )
