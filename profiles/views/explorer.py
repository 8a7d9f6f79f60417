"""The profile explorer: search, the profile page, one event, a merge and its undo.

Pages render in full, or only one `template.html#partial` when htmx asks for it by its
HX-Target (the search results, the event timeline).
"""

import orjson
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django_htmx.http import HttpResponseClientRedirect

from cdpapp.access import RoleRequiredMixin, user_may
from privacy.selectors import profile_open_consent_conflicts
from profiles.models import Event, Profile
from profiles.selectors.profiles import (
    merge_entry_get,
    merge_entry_undoable,
    profile_computed,
    profile_consent,
    profile_counts,
    profile_event_get,
    profile_event_names,
    profile_event_page,
    profile_get,
    profile_identifiers,
    profile_merge_history,
    profile_resolve,
    profile_search_page,
    profile_segment_memberships,
    profile_traits,
    profiles_overview,
)
from profiles.services.merges import MergeError, profile_unmerge

RESULTS_PER_PAGE = 25
EVENTS_PER_PAGE = 20
MAX_QUERY = 200
UNDO_CAPABILITY = "manage_identity"
CONSENT_CAPABILITY = "manage_consent"  # the privacy app's consent page and its conflicts


def _partial(request, allowed: set[str]) -> str | None:
    """The partial htmx asked for (its HX-Target), if it is one of `allowed`."""
    target = request.htmx.target if request.htmx else None
    return target if target in allowed else None


def event_json(event: Event) -> str:
    """The stored event as indented Segment-Spec JSON, for the expandable timeline row."""
    message = {
        "type": event.type,
        "messageId": event.message_id,
        ("event" if event.type == "track" else "name"): event.name,
        "userId": event.user_id,
        "anonymousId": event.anonymous_id,
        "groupId": event.group_id,
        "previousId": event.previous_id,
        "timestamp": event.timestamp.isoformat(),
        "receivedAt": event.received_at.isoformat(),
        "properties": event.properties,
        "traits": event.traits,
        "context": event.context,
        **event.extra,
    }
    shown = {key: value for key, value in message.items() if value not in (None, {}, [])}
    return orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()


class IndexView(RoleRequiredMixin, View):
    """Search profiles by any identifier or trait; results update as you type."""

    read_permission = "view_profiles"

    def get(self, request):
        query = request.GET.get("q", "").strip()[:MAX_QUERY]
        context = {
            "query": query,
            "page": profile_search_page(
                query=query, page=request.GET.get("page"), per_page=RESULTS_PER_PAGE
            ),
        }
        partial = _partial(request, {"results"})
        if partial:
            return render(request, f"profiles/index.html#{partial}", context)
        context["overview"] = profiles_overview()
        return render(request, "profiles/index.html", context)


def _timeline_context(request, profile: Profile) -> dict:
    name = request.GET.get("event", "").strip() or None
    page = profile_event_page(
        profile=profile,
        name=name,
        page=request.GET.get("events_page"),
        per_page=EVENTS_PER_PAGE,
    )
    return {
        "profile": profile,
        "event_filter": name or "",
        "event_names": profile_event_names(profile=profile),
        "events": page,
        "event_rows": [{"event": event, "json": event_json(event)} for event in page],
    }


def _merge_rows(request, profile: Profile) -> list[dict]:
    may_undo = user_may(request.user, UNDO_CAPABILITY)
    return [
        {"entry": entry, "undoable": may_undo and merge_entry_undoable(entry)}
        for entry in profile_merge_history(profile=profile)
    ]


class ProfileDetailView(RoleRequiredMixin, View):
    """One profile: traits with lineage, identifiers, consent, timeline, merges, segments."""

    read_permission = "view_profiles"

    def get(self, request, pk: int):
        profile = profile_resolve(profile_id=pk)
        if profile is None:
            raise Http404(f"No profile {pk}.")
        if profile.pk != pk:
            messages.info(
                request,
                f"Profile #{pk} was merged into profile #{profile.pk}: "
                "this is the profile it is part of now.",
            )
            return redirect("profiles:profile-detail", pk=profile.pk)
        context = _timeline_context(request, profile)
        partial = _partial(request, {"timeline"})
        if partial:
            return render(request, f"profiles/profile.html#{partial}", context)
        context.update(
            traits=profile_traits(profile=profile),
            computed=profile_computed(profile=profile),
            consent=profile_consent(profile=profile),
            identifiers=profile_identifiers(profile=profile),
            merges=_merge_rows(request, profile),
            segments=profile_segment_memberships(profile=profile),
            counts=profile_counts(profile=profile),
            may_undo=user_may(request.user, UNDO_CAPABILITY),
        )
        if user_may(request.user, CONSENT_CAPABILITY):
            context.update(
                may_manage_consent=True,
                open_consent_conflicts=profile_open_consent_conflicts(profile_id=profile.pk),
            )
        return render(request, "profiles/profile.html", context)


class ProfileEventView(RoleRequiredMixin, View):
    """One event of a profile, in full (trait lineage and consent link here)."""

    read_permission = "view_profiles"

    def get(self, request, pk: int, event_pk: int):
        profile = profile_resolve(profile_id=pk)
        event = profile_event_get(profile=profile, event_id=event_pk) if profile else None
        if event is None:
            raise Http404(f"Profile {pk} has no event {event_pk}.")
        context = {"profile": profile, "event": event, "json": event_json(event)}
        return render(request, "profiles/profile_event.html", context)


def _side(profile: Profile) -> dict:
    """What the merge page shows of one of the two profiles, as it is now."""
    current = profile_resolve(profile_id=profile.pk)
    return {
        "profile": profile_get(profile_id=profile.pk),
        "current": current,
        "identifiers": list(profile_identifiers(profile=profile)),
        "counts": profile_counts(profile=profile),
    }


class MergeDetailView(RoleRequiredMixin, View):
    """One ledger entry and both profiles it names, side by side, as they are now."""

    read_permission = "view_profiles"

    def get(self, request, entry_pk: int):
        entry = merge_entry_get(entry_id=entry_pk)
        if entry is None:
            raise Http404(f"No merge {entry_pk}.")
        sides = [_side(entry.survivor)]
        if entry.absorbed is not None:
            sides.append(_side(entry.absorbed))
        context = {
            "entry": entry,
            "sides": sides,
            "undoable": user_may(request.user, UNDO_CAPABILITY) and merge_entry_undoable(entry),
        }
        return render(request, "profiles/merge.html", context)


class MergeUndoView(RoleRequiredMixin, View):
    """Undo a merge (admins): the absorbed profile comes back with its own data."""

    write_permission = UNDO_CAPABILITY

    def post(self, request, entry_pk: int):
        entry = merge_entry_get(entry_id=entry_pk)
        if entry is None:
            raise Http404(f"No merge {entry_pk}.")
        try:
            profile_unmerge(entry=entry, actor=request.user)
        except MergeError as exc:
            messages.error(request, f"This merge cannot be undone: {exc}")
        else:
            messages.success(
                request,
                f"Merge undone: profile #{entry.absorbed_id} is its own profile again, "
                "with its own identifiers, events, traits and consent.",
            )
        url = reverse("profiles:profile-merge-detail", kwargs={"entry_pk": entry.pk})
        if request.htmx:
            return HttpResponseClientRedirect(url)
        return redirect(url)
