"""Reads about profiles: search, the profile page's sections, the profile API and the export.

Search accepts any identifier, written the way people write it ("  Jane@X.com", "07700 900123"):
the query is normalised by every enabled identity type and looked up on the (id_type, value)
index. It also matches a few common traits by substring, `trait=value` by JSONB containment,
and a profile id.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Case, IntegerField, Q, QuerySet, TextField, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Concat, NullIf, Trim

from profiles.domain.identity import is_blocked, normalise
from profiles.models import Event, Identity, MergeEntry, Profile, Source
from profiles.selectors.canonical import profile_family, profiles_canonical
from profiles.services.processing import identity_rules

# Traits matched by substring (ILIKE); a full name matches "firstName lastName" too.
SEARCH_TRAITS = ("firstName", "lastName", "name", "email")
MIN_SUBSTRING = 2  # shorter queries only match identifiers and ids exactly
_PROFILE_ID = re.compile(r"^#?(\d{1,18})$")
_TRAIT_EQUALS = re.compile(r"^([A-Za-z_][\w.-]{0,99})\s*=\s*(.*)$")


class ProfileLookupError(ValueError):
    """A lookup that cannot be answered: unknown identifier type, or a value it cannot hold."""


def paginate(items, *, page: object, per_page: int) -> Page:
    """One page of `items`; a missing, invalid or too large page number gives the nearest page."""
    return Paginator(items, per_page).get_page(page)


# --- Search ---------------------------------------------------------------------------------------


def identifier_keys(query: str) -> set[tuple[str, str]]:
    """Every (id_type, normalised value) that `query` can be, over the enabled identity types."""
    keys = set()
    for rule in identity_rules().values():
        try:
            value = normalise(rule, query)
        except ValueError:
            continue
        if not is_blocked(rule, value):
            keys.add((rule.name, value))
    return keys


def _identifier_q(keys: set[tuple[str, str]]) -> Q:
    q = Q(pk__in=[])
    for id_type, value in sorted(keys):
        q |= Q(id_type=id_type, value=value)
    return q


def _trait_q(query: str) -> Q:
    """Trait matches: `key=value` by containment, otherwise a substring of common traits."""
    equals = _TRAIT_EQUALS.match(query)
    if equals:
        key, text = equals.group(1), equals.group(2).strip()
        q = Q(traits__contains={key: text})
        try:
            typed = orjson.loads(text)
        except orjson.JSONDecodeError:
            typed = text
        if typed != text and not isinstance(typed, dict | list):
            q |= Q(traits__contains={key: typed})
        return q
    if len(query) < MIN_SUBSTRING:
        return Q(pk__in=[])
    q = Q(full_name__icontains=query)
    for trait in SEARCH_TRAITS:
        q |= Q(**{f"traits__{trait}__icontains": query})
    return q


_EMPTY = Value("", output_field=TextField())


def _with_display_columns(profiles: QuerySet[Profile]) -> QuerySet[Profile]:
    full_name = Trim(
        Concat(
            Coalesce(KT("traits__firstName"), _EMPTY),
            Value(" "),
            Coalesce(KT("traits__lastName"), _EMPTY),
            output_field=TextField(),
        )
    )
    return profiles.annotate(
        full_name=full_name,
        display_name=Coalesce(
            NullIf(full_name, _EMPTY), KT("traits__name"), output_field=TextField()
        ),
        display_email=Trim(KT("traits__email")),
    )


def profile_search(*, query: str = "") -> QuerySet[Profile]:
    """Active profiles matching `query` (identifier, trait or id), exact identifiers first."""
    query = query.strip()
    profiles = _with_display_columns(Profile.objects.filter(merged_into__isnull=True))
    if not query:
        return profiles.order_by("-last_seen", "-pk")
    keys = identifier_keys(query)
    by_identifier = Identity.objects.filter(_identifier_q(keys)).values("profile_id")
    exact = Q(pk__in=by_identifier)
    id_match = _PROFILE_ID.match(query)
    if id_match:
        exact |= Q(pk=int(id_match.group(1)))
    return (
        profiles.filter(exact | _trait_q(query))
        .annotate(exact=Case(When(exact, then=1), default=0, output_field=IntegerField()))
        .order_by("-exact", "-last_seen", "-pk")
    )


def profile_search_page(*, query: str = "", page: object = 1, per_page: int = 25) -> Page:
    """One page of `profile_search`."""
    return paginate(profile_search(query=query), page=page, per_page=per_page)


def profile_lookup(*, id_type: str, value: str) -> Profile | None:
    """The profile holding identifier (`id_type`, `value`), the value normalised first."""
    rule = identity_rules().get(id_type)
    if rule is None:
        raise ProfileLookupError(f"Unknown identifier type {id_type!r}.")
    try:
        normalised = normalise(rule, value)
    except ValueError as exc:
        raise ProfileLookupError(f"{value!r} is not a usable {id_type}: {exc}.") from exc
    owner = (
        Identity.objects.filter(id_type=id_type, value=normalised)
        .values_list("profile_id", flat=True)
        .first()
    )
    return profile_resolve(profile_id=owner) if owner is not None else None


# --- One profile ----------------------------------------------------------------------------------


def profile_get(*, profile_id: int) -> Profile | None:
    """The profile with `profile_id` as stored (merged or not), or None."""
    return _with_display_columns(Profile.objects.filter(pk=profile_id)).first()


def profile_resolve(*, profile_id: int) -> Profile | None:
    """The active profile that `profile_id` is now part of (following merged_into), or None."""
    survivor = profiles_canonical([profile_id]).get(profile_id)
    return profile_get(profile_id=survivor) if survivor is not None else None


def profile_family_ids(*, profile_id: int) -> list[int]:
    """`profile_id` and every profile merged into it, directly or not."""
    return profile_family(profile_id)


@dataclass(frozen=True)
class TraitRow:
    key: str
    value: object
    source_id: int | None
    source_name: str | None
    event_id: int | None
    at: datetime | None
    counts: dict | None = None

    @property
    def display(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return orjson.dumps(self.value).decode()


@dataclass(frozen=True)
class ConsentRow:
    purpose: str
    granted: bool
    at: datetime | None
    source_id: int | None
    source_name: str | None
    event_id: int | None


def _source_names(ids) -> dict[int, str]:
    wanted = {i for i in ids if isinstance(i, int)}
    if not wanted:
        return {}
    return dict(Source.objects.filter(pk__in=wanted).values_list("pk", "name"))


def _parse_at(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def profile_traits(*, profile: Profile) -> list[TraitRow]:
    """The golden traits, sorted by name, each with its lineage (source, event, time)."""
    lineage = profile.trait_lineage or {}
    names = _source_names(meta.get("source") for meta in lineage.values())
    rows = []
    for key in sorted(profile.traits, key=str.lower):
        meta = lineage.get(key) or {}
        source = meta.get("source")
        rows.append(
            TraitRow(
                key=key,
                value=profile.traits[key],
                source_id=source,
                source_name=names.get(source),
                event_id=meta.get("event"),
                at=_parse_at(meta.get("at")),
                counts=meta.get("counts"),
            )
        )
    return rows


@dataclass(frozen=True)
class ComputedRow:
    key: str
    value: object
    at: datetime | None  # set when the value is a time


def profile_computed(*, profile: Profile) -> list[ComputedRow]:
    """The computed traits in stored order; times (keys ending in _at) parsed."""
    return [
        ComputedRow(key=key, value=value, at=_parse_at(value) if key.endswith("_at") else None)
        for key, value in (profile.computed or {}).items()
    ]


def profile_consent(*, profile: Profile) -> list[ConsentRow]:
    """Consent per purpose: the most recent decision, where and when it was captured."""
    consent = profile.consent or {}
    names = _source_names(choice.get("source") for choice in consent.values())
    return [
        ConsentRow(
            purpose=purpose,
            granted=bool(choice.get("granted")),
            at=_parse_at(choice.get("at")),
            source_id=choice.get("source"),
            source_name=names.get(choice.get("source")),
            event_id=choice.get("event"),
        )
        for purpose, choice in sorted(consent.items())
    ]


def profile_identifiers(*, profile: Profile) -> QuerySet[Identity]:
    """The profile's identifiers with their source, by type then value."""
    return (
        Identity.objects.filter(profile=profile)
        .select_related("source")
        .order_by("id_type", "value")
    )


def profile_events(*, profile: Profile, name: str | None = None) -> QuerySet[Event]:
    """The profile's events, newest first, optionally only those called `name`."""
    events = Event.objects.filter(profile=profile).select_related("source")
    if name:
        events = events.filter(name=name)
    return events.order_by("-timestamp", "-pk")


def profile_event_page(
    *, profile: Profile, name: str | None = None, page: object = 1, per_page: int = 20
) -> Page:
    """One page of `profile_events`."""
    return paginate(profile_events(profile=profile, name=name), page=page, per_page=per_page)


def profile_event_names(*, profile: Profile) -> list[str]:
    """The distinct event names on the profile, for the timeline filter."""
    return list(
        Event.objects.filter(profile=profile, name__isnull=False)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )


def profile_event_get(*, profile: Profile, event_id: int) -> Event | None:
    """One of the profile's events (None if it is not the profile's)."""
    return Event.objects.select_related("source").filter(pk=event_id, profile=profile).first()


def profile_merge_history(*, profile: Profile) -> QuerySet[MergeEntry]:
    """Merges, unmerges and dropped identifiers of the profile and the profiles merged into it."""
    family = profile_family_ids(profile_id=profile.pk)
    return (
        MergeEntry.objects.filter(Q(survivor_id__in=family) | Q(absorbed_id__in=family))
        .select_related("absorbed", "actor", "undone_by", "undone_by__actor", "undoes")
        .order_by("-at", "-pk")
    )


def merge_entry_get(*, entry_id: int) -> MergeEntry | None:
    """One ledger entry with the profiles and people it names."""
    return (
        MergeEntry.objects.select_related(
            "survivor", "absorbed", "actor", "undone_by", "undone_by__actor", "undoes"
        )
        .filter(pk=entry_id)
        .first()
    )


def merge_entry_undoable(entry: MergeEntry) -> bool:
    """Whether `entry` is a merge that can still be undone (needs `absorbed` loaded)."""
    return (
        entry.kind == MergeEntry.Kind.MERGE
        and entry.undone_by_id is None
        and entry.absorbed is not None
        and entry.absorbed.merged_into_id is not None
    )


def profile_segment_memberships(*, profile: Profile) -> list:
    """The segments the profile is in now, read through the segments app's own selector."""
    # Imported here: segments' modules import this one, so a module-level import would cycle.
    from segments.selectors import profile_segments

    return list(profile_segments(profile.pk))


@dataclass(frozen=True)
class ProfileCounts:
    events: int
    identifiers: int
    merges: int
    merged_profiles: int


def profile_counts(*, profile: Profile) -> ProfileCounts:
    """How many events, identifiers, ledger entries and merged-in profiles the profile has."""
    family = profile_family_ids(profile_id=profile.pk)
    return ProfileCounts(
        events=Event.objects.filter(profile=profile).count(),
        identifiers=Identity.objects.filter(profile=profile).count(),
        merges=MergeEntry.objects.filter(
            Q(survivor_id__in=family) | Q(absorbed_id__in=family)
        ).count(),
        merged_profiles=len(family) - 1,
    )


@dataclass(frozen=True)
class ProfilesOverview:
    active: int
    merged: int
    identifiers: int


def profiles_overview() -> ProfilesOverview:
    """How many active and merged profiles and identifiers there are."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE merged_into_id IS NULL), "
            "count(*) FILTER (WHERE merged_into_id IS NOT NULL) FROM profiles_profile"
        )
        active, merged = cursor.fetchone()
    return ProfilesOverview(active=active, merged=merged, identifiers=Identity.objects.count())


# --- Export ---------------------------------------------------------------------------------------


def identities_for_export(*, chunk_size: int = 5000) -> Iterator[tuple[int, str, str]]:
    """(profile_id, id_type, value) of every identifier of active profiles, streamed."""
    return (
        Identity.objects.filter(profile__merged_into__isnull=True)
        .order_by("profile_id", "id_type", "value")
        .values_list("profile_id", "id_type", "value")
        .iterator(chunk_size=chunk_size)
    )
