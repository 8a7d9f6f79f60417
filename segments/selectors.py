"""Reads about segments. `segment_queryset` is the one query that turns a definition into
profiles: preview, refresh, real-time updates, API and exports all go through it."""

import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, Case, Count, Q, QuerySet, When
from django.utils import timezone

from profiles.models import Profile
from segments.domain.compiler import compile_node
from segments.domain.definition import iter_nodes, referenced_segments, validate
from segments.models import Membership, Segment, SegmentSnapshot, SegmentVersion
from segments.registry import REGISTRY


def active_profiles() -> QuerySet[Profile]:
    return Profile.objects.filter(merged_into__isnull=True)


def segment_queryset(
    definition: dict, *, now: datetime | None = None, profile_ids: list[int] | None = None
) -> QuerySet[Profile]:
    """The active profiles matching `definition` right now (among `profile_ids` if given: the
    event conditions then read only those profiles' events)."""
    root = validate(definition)["root"]
    profiles = active_profiles()
    if profile_ids is not None:
        profiles = profiles.filter(pk__in=profile_ids)
    return profiles.filter(
        compile_node(root, now=now or timezone.now(), registry=REGISTRY, profile_ids=profile_ids)
    )


@dataclass
class Preview:
    count: int
    sample: list[Profile]
    node_counts: dict[str, int]
    query_ms: float


def segment_preview(definition: dict, *, now: datetime | None = None, sample: int = 10) -> Preview:
    """Member count, a sample, and how many profiles each condition and group matches."""
    now = now or timezone.now()
    root = validate(definition)["root"]
    started = time.perf_counter()
    counts = active_profiles().aggregate(
        __all__=Count("pk", filter=compile_node(root, now=now, registry=REGISTRY)),
        **{
            f"n_{node['id']}": Count("pk", filter=compile_node(node, now=now, registry=REGISTRY))
            for node in iter_nodes(root)
            if node is not root
        },
    )
    members = list(
        active_profiles()
        .filter(compile_node(root, now=now, registry=REGISTRY))
        .order_by("-last_seen")[:sample]
    )
    elapsed = (time.perf_counter() - started) * 1000
    node_counts = {key[2:]: value for key, value in counts.items() if key.startswith("n_")}
    node_counts[root["id"]] = counts["__all__"]
    return Preview(counts["__all__"], members, node_counts, round(elapsed, 1))


def segment_explain(definition: dict, profile_id: int, *, now: datetime | None = None) -> dict:
    """Why a profile is in or out: each node's result for it ({node id: bool})."""
    now = now or timezone.now()
    root = validate(definition)["root"]
    annotations = {
        f"n_{node['id']}": Case(
            When(compile_node(node, now=now, registry=REGISTRY), then=True),
            default=False,
            output_field=BooleanField(),
        )
        for node in iter_nodes(root)
    }
    row = Profile.objects.filter(pk=profile_id).annotate(**annotations).values(*annotations).first()
    if row is None:
        return {}
    return {key[2:]: value for key, value in row.items()}


def segment_members(segment: Segment) -> QuerySet[Profile]:
    """The stored current members of a segment."""
    return Profile.objects.filter(
        memberships__segment=segment, memberships__exited_at__isnull=True
    ).order_by("pk")


def segment_members_at(segment: Segment, at: datetime) -> QuerySet[Profile]:
    """Who was in `segment` at time `at`."""
    return Profile.objects.filter(
        Q(memberships__segment=segment, memberships__entered_at__lte=at)
        & (Q(memberships__exited_at__isnull=True) | Q(memberships__exited_at__gt=at))
    ).distinct()


def segment_entries_exits(segment: Segment, since: datetime, until: datetime) -> dict:
    """How many profiles entered and exited between two times."""
    stints = Membership.objects.filter(segment=segment)
    return {
        "entered": stints.filter(entered_at__gte=since, entered_at__lt=until).count(),
        "exited": stints.filter(exited_at__gte=since, exited_at__lt=until).count(),
    }


def segment_snapshots(segment: Segment, limit: int = 200) -> list[SegmentSnapshot]:
    return list(segment.snapshots.order_by("-at")[:limit])[::-1]


def profile_segments(profile_id: int) -> QuerySet[Segment]:
    """Segments the profile is in now, from stored membership (for personalisation)."""
    return Segment.objects.filter(
        memberships__profile_id=profile_id, memberships__exited_at__isnull=True
    ).order_by("name")


def segment_graph() -> dict[int, set[int]]:
    """Which segments each segment refers to."""
    return {
        seg.pk: referenced_segments(seg.definition)
        for seg in Segment.objects.filter(archived=False).only("pk", "definition")
    }


def segments_in_dependency_order(segments: list[Segment]) -> list[Segment]:
    """Segments ordered so that a segment comes after the segments it refers to."""
    by_id = {seg.pk: seg for seg in segments}
    ordered, done = [], set()

    def visit(seg: Segment, path: set[int]) -> None:
        if seg.pk in done or seg.pk in path:
            return
        for ref in referenced_segments(seg.definition):
            if ref in by_id:
                visit(by_id[ref], path | {seg.pk})
        done.add(seg.pk)
        ordered.append(seg)

    for seg in segments:
        visit(seg, set())
    return ordered


def segment_overlap(segments: list[Segment]) -> dict:
    """Pairwise overlaps of current members, and the size of the intersection of all."""
    sets = {
        seg.pk: set(
            Membership.objects.filter(segment=seg, exited_at__isnull=True).values_list(
                "profile_id", flat=True
            )
        )
        for seg in segments
    }
    pairs = {
        (a.pk, b.pk): len(sets[a.pk] & sets[b.pk])
        for i, a in enumerate(segments)
        for b in segments[i + 1 :]
    }
    everyone = set.intersection(*sets.values()) if sets else set()
    return {"sizes": {k: len(v) for k, v in sets.items()}, "pairs": pairs, "all": len(everyone)}


def segment_list(*, archived: bool = False) -> QuerySet[Segment]:
    """Segments for the list page, by name (archived ones only when asked)."""
    return Segment.objects.filter(archived=archived).order_by("name", "pk")


def segment_choices(*, exclude: int | None = None) -> list[tuple[int, str]]:
    """(id, name) of the segments a definition may refer to."""
    segments = Segment.objects.filter(archived=False).order_by("name", "pk")
    if exclude is not None:
        segments = segments.exclude(pk=exclude)
    return list(segments.values_list("pk", "name"))


def segment_versions(segment: Segment) -> QuerySet[SegmentVersion]:
    """A segment's saved versions, newest first, with who saved them."""
    return segment.versions.select_related("saved_by").order_by("-version")


# --- Suggestions for the builder: names seen in the data ------------------------------------------


def event_names(*, limit: int = 500) -> list[str]:
    """Distinct event names seen, alphabetically (a skip scan over the (name, timestamp) index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE names(name) AS ("
            " (SELECT name FROM profiles_event WHERE name IS NOT NULL ORDER BY name LIMIT 1)"
            " UNION ALL SELECT (SELECT e.name FROM profiles_event e WHERE e.name > names.name"
            " ORDER BY e.name LIMIT 1) FROM names WHERE names.name IS NOT NULL)"
            " SELECT name FROM names WHERE name IS NOT NULL LIMIT %s",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


def event_property_keys(event: str, *, sample: int = 1000, limit: int = 200) -> list[str]:
    """Property keys of the latest `sample` events named `event`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT k FROM (SELECT properties FROM profiles_event WHERE name = %s"
            " ORDER BY timestamp DESC LIMIT %s) e, jsonb_object_keys(e.properties) k"
            " WHERE jsonb_typeof(e.properties) = 'object' ORDER BY k LIMIT %s",
            [event, sample, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def _profile_keys(column: str, sample: int, limit: int) -> list[str]:
    if column not in ("traits", "consent"):
        raise ValueError(column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT k FROM (SELECT {column} AS j FROM profiles_profile"  # noqa: S608 (a fixed column name)
            " WHERE merged_into_id IS NULL ORDER BY last_seen DESC LIMIT %s) p,"
            " jsonb_object_keys(p.j) k WHERE jsonb_typeof(p.j) = 'object' ORDER BY k LIMIT %s",
            [sample, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def trait_keys(*, sample: int = 2000, limit: int = 300) -> list[str]:
    """Trait keys of the `sample` most recently seen profiles."""
    return _profile_keys("traits", sample, limit)


def consent_purposes(*, sample: int = 2000, limit: int = 100) -> list[str]:
    """Consent purposes recorded on the `sample` most recently seen profiles."""
    return _profile_keys("consent", sample, limit)


def segments_by_ids(ids: list[int]) -> list[Segment]:
    """The segments with these ids, in the order given (unknown ids left out)."""
    found = Segment.objects.in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def segment_current_memberships(segment: Segment) -> QuerySet[Membership]:
    """A segment's open membership stints with their profiles, latest entries first."""
    return (
        Membership.objects.filter(segment=segment, exited_at__isnull=True)
        .select_related("profile")
        .order_by("-entered_at", "-pk")
    )
