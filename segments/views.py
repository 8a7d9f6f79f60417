"""Segment pages: the list, the builder (create and edit), the detail page, overlap, and the
builder's actions.

The builder's draft definition travels in a hidden field that the server renders from its own
validated JSON after every action (the page never builds a tree itself). Each action applies one
pure tree edit (segments/domain/tree.py) and answers with the builder partial and, out of band, the
preview partial, both rendered from the result. A refused edit answers the same partials from the
previous definition, with the error on the node it names.
"""

import json
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views import View

from cdpapp.access import RoleRequiredMixin, user_may
from profiles.selectors.profiles import paginate, profile_resolve
from segments import builder
from segments.charts import overlap_chart_html, size_chart_html
from segments.domain import tree
from segments.domain.definition import DefinitionError, empty_definition, find, iter_nodes
from segments.domain.templates import STARTERS, starter
from segments.forms import (
    BuilderStateForm,
    ExplainForm,
    OverlapForm,
    SegmentSaveForm,
    dumps,
    node_fields,
    parse_definition,
)
from segments.models import Segment
from segments.selectors import (
    Preview,
    consent_purposes,
    event_names,
    event_property_keys,
    segment_choices,
    segment_current_memberships,
    segment_entries_exits,
    segment_explain,
    segment_list,
    segment_overlap,
    segment_preview,
    segment_snapshots,
    segment_versions,
    segments_by_ids,
    trait_keys,
)
from segments.services import (
    segment_archive,
    segment_create,
    segment_duplicate,
    segment_refresh,
    segment_update,
    segment_validate,
)

MEMBERS_PER_PAGE = 25
ENTRY_WINDOWS = ((1, "24 hours"), (7, "7 days"), (30, "30 days"))
SAVED_FIELDS = ("description", "refresh", "refresh_minutes")  # besides name and definition


class ReadSegments(RoleRequiredMixin):
    read_permission = "view_segments"


class ManageSegments(RoleRequiredMixin):
    read_permission = "manage_segments"
    write_permission = "manage_segments"


# --- Preview and "why is this person in or out" ---------------------------------------------


@dataclass
class Explanation:
    asked: int
    profile_id: int | None = None
    member: bool = False
    verdicts: dict[str, bool] = field(default_factory=dict)

    @property
    def merged(self) -> bool:
        return self.profile_id is not None and self.profile_id != self.asked


def _explain(definition: dict, profile_id: int | None) -> Explanation | None:
    if profile_id is None:
        return None
    profile = profile_resolve(profile_id=profile_id)
    if profile is None:
        return Explanation(asked=profile_id)
    verdicts = segment_explain(definition, profile.pk)
    return Explanation(
        asked=profile_id,
        profile_id=profile.pk,
        member=verdicts.get(definition["root"]["id"], False),
        verdicts=verdicts,
    )


def _preview(definition: dict) -> tuple[Preview | None, str | None]:
    try:
        return segment_preview(definition), None
    except DatabaseError as error:  # e.g. a number too large for the database: say so
        return None, f"The preview query failed: {error}"


def _tree_context(
    definition: dict,
    *,
    explain_id: int | None,
    segment_id: int | None = None,
    error: DefinitionError | None = None,
    attempted: dict | None = None,
    with_lists: bool = False,
) -> dict:
    """The tree with its per-node counts and verdicts, the preview, and the explanation."""
    preview, preview_error = _preview(definition)
    explanation = _explain(definition, explain_id)
    events = builder.event_names_in(definition) if with_lists else []
    keys = {name: event_property_keys(name) for name in events}
    lists = {name: (f"dl-props-{i}", (keys[name] or [""])[0]) for i, name in enumerate(events)}
    root = builder.build_tree(
        definition,
        counts=preview.node_counts if preview else None,
        verdicts=explanation.verdicts if explanation else None,
        error=error,
        attempted=attempted,
        segment_names=dict(segment_choices(exclude=segment_id)),
        prop_lists=lists,
    )
    named_node = error is not None and error.node_id and find(definition, error.node_id)
    return {
        "tree": root,
        "preview": preview,
        "preview_error": preview_error,
        "sample": [(p.pk, builder.profile_label(p)) for p in preview.sample] if preview else [],
        "explanation": explanation,
        "explain_id": explain_id or "",
        "tree_error": error.message if error is not None and not named_node else None,
        "property_lists": [(lists[name][0], keys[name]) for name in events],
    }


def _builder_context(
    *,
    definition: dict,
    segment_id: int | None,
    explain_id: int | None = None,
    error: DefinitionError | None = None,
    attempted: dict | None = None,
    focus: str | None = None,
) -> dict:
    return {
        **_tree_context(
            definition,
            explain_id=explain_id,
            segment_id=segment_id,
            error=error,
            attempted=attempted,
            with_lists=True,
        ),
        "definition_json": dumps(definition),
        "root_id": definition["root"]["id"],
        "segment_id": segment_id or "",
        "segment_options": segment_choices(exclude=segment_id),
        "focus": focus or "",
        "editable": True,
        "palette": [*tree.PALETTE.items(), ("group", "Group (AND / OR)")],
        **builder.EDITOR_CHOICES,
    }


def _render_builder(request, context: dict) -> HttpResponse:
    """The builder partial, with the preview partial swapped in out of band."""
    html = render_to_string("segments/builder.html#builder", context, request)
    html += render_to_string("segments/builder.html#preview", {**context, "oob": True}, request)
    return HttpResponse(html)


# --- The builder page: create and edit ------------------------------------------------------------


def _page_context(
    request,
    *,
    definition: dict,
    form: SegmentSaveForm,
    segment: Segment | None = None,
    error: DefinitionError | None = None,
) -> dict:
    return {
        **_builder_context(
            definition=definition, segment_id=segment.pk if segment else None, error=error
        ),
        "segment": segment,
        "form": form,
        "starters": STARTERS if segment is None else (),
        "event_names": event_names(),
        "trait_keys": trait_keys(),
        "purposes": consent_purposes(),
    }


def _save_initial(segment: Segment | None, definition: dict, name: str = "") -> dict:
    initial = {
        "definition": dumps(definition),
        "name": name,
        "refresh": Segment.Refresh.REALTIME,
        "refresh_minutes": 60,
    }
    if segment is not None:
        initial.update(
            name=segment.name,
            description=segment.description,
            refresh=segment.refresh,
            refresh_minutes=segment.refresh_minutes,
        )
    return initial


class SegmentSaveMixin:
    template_name = "segments/builder.html"

    def save(self, request, segment: Segment | None):
        form = SegmentSaveForm(request.POST, creating=segment is None)
        draft = request.POST.get("definition", "")
        error = None
        try:
            definition = parse_definition(draft)
        except DefinitionError as exc:
            error = exc
            definition = segment.definition if segment else empty_definition()
        if error is None and form.is_valid():
            data = form.cleaned_data
            fields = {k: data[k] for k in SAVED_FIELDS if k in data}
            try:
                if segment is None:
                    saved = segment_create(
                        name=data["name"],
                        definition=data["definition"],
                        owner=request.user,
                        **fields,
                    )
                    messages.success(request, f"Segment “{saved.name}” created (version 1).")
                else:
                    before = segment.definition_version
                    saved = segment_update(
                        segment=segment,
                        user=request.user,
                        definition=data["definition"],
                        name=data["name"].strip(),
                        **fields,
                    )
                    changed = saved.definition_version != before
                    messages.success(
                        request,
                        f"Saved “{saved.name}”"
                        + (f": version {saved.definition_version}." if changed else "."),
                    )
                return redirect("segments:edit", pk=saved.pk)
            except DefinitionError as exc:
                error = exc
            except ValidationError as exc:
                form.add_error(None, exc)
        context = _page_context(
            request, definition=definition, form=form, segment=segment, error=error
        )
        return render(request, self.template_name, context, status=400)


class SegmentCreateView(ManageSegments, SegmentSaveMixin, View):
    def get(self, request):
        chosen = starter(request.GET.get("template", ""))
        definition = chosen.definition if chosen else empty_definition()
        form = SegmentSaveForm(
            initial=_save_initial(None, definition, chosen.name if chosen else ""), creating=True
        )
        context = _page_context(request, definition=definition, form=form)
        context["chosen_starter"] = chosen
        return render(request, self.template_name, context)

    def post(self, request):
        return self.save(request, None)


class SegmentEditView(ManageSegments, SegmentSaveMixin, View):
    def get(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        form = SegmentSaveForm(initial=_save_initial(segment, segment.definition))
        context = _page_context(request, definition=segment.definition, form=form, segment=segment)
        return render(request, self.template_name, context)

    def post(self, request, pk):
        return self.save(request, get_object_or_404(Segment, pk=pk))


# --- Builder actions (htmx): one pure tree edit each ----------------------------------------------


class BuilderAction(RoleRequiredMixin, View):
    write_permission = "manage_segments"

    def edit(self, definition: dict, data) -> tuple[dict, str | None]:
        """The edited definition and the id of the node to keep focus on."""
        raise NotImplementedError

    def post(self, request):
        state = BuilderStateForm(request.POST)
        state.is_valid()
        if set(state.errors) - {"explain"}:  # a mistyped profile id only fails the explanation
            problems = "; ".join(e for errors in state.errors.values() for e in errors)
            return HttpResponseBadRequest(problems)
        definition = state.cleaned_data["definition"]
        self.segment_id = state.cleaned_data["editing"]
        shown = {
            "segment_id": self.segment_id,
            "explain_id": state.cleaned_data.get("explain"),
        }
        self.attempted = None
        try:
            edited, focus = self.edit(definition, request.POST)
            edited = segment_validate(edited, segment_id=self.segment_id)
        except DefinitionError as error:
            context = _builder_context(
                definition=definition,
                error=error,
                attempted=self.attempted,
                focus=error.node_id,
                **shown,
            )
        else:
            context = _builder_context(definition=edited, focus=focus, **shown)
        context["explain_errors"] = state.errors.get("explain", [])
        context["explain_id"] = request.POST.get("explain", "")
        return _render_builder(request, context)


def _position(data) -> int | None:
    text = data.get("position", "")
    return int(text) if text.isdigit() else None


def _new_condition_fields(kind: str, segment_id: int | None) -> dict:
    """Defaults for a new condition that fit the data: names seen, an existing segment."""
    defaults = tree.condition_defaults(kind)
    if kind == "segment":
        options = segment_choices(exclude=segment_id)
        if not options:
            raise DefinitionError(None, "There is no other segment to refer to yet.")
        return {"segment": options[0][0]}
    known = {"event": event_names, "trait": trait_keys, "consent": consent_purposes}
    key = {"event": "event", "trait": "trait", "consent": "purpose"}.get(kind)
    if key:
        seen = known[kind]()
        if seen and defaults[key] not in seen:
            return {key: seen[0]}
    return {}


class BuilderAddView(BuilderAction):
    def edit(self, definition, data):
        kind, parent = data.get("kind", ""), data.get("parent", "")
        if kind == "group":
            edited = tree.add_group(definition, parent_id=parent, position=_position(data))
        else:
            fields = _new_condition_fields(kind, self.segment_id)
            edited = tree.add_condition(
                definition, parent_id=parent, kind=kind, position=_position(data), fields=fields
            )
        before = {node["id"] for node in _nodes(definition)}
        added = next((n["id"] for n in _nodes(edited) if n["id"] not in before), None)
        return edited, added


def _nodes(definition: dict):
    return iter_nodes(definition["root"])


class BuilderRemoveView(BuilderAction):
    def edit(self, definition, data):
        node_id = data.get("node", "")
        parent = tree.parent_of(definition, node_id)
        return tree.remove_node(definition, node_id=node_id), parent["id"] if parent else None


class BuilderMoveView(BuilderAction):
    MOVES = {
        "up": tree.move_up,
        "down": tree.move_down,
        "into": tree.move_into_group_above,
        "out": tree.move_out,
    }

    def edit(self, definition, data):
        node_id, to = data.get("node", ""), data.get("to", "")
        if to in self.MOVES:
            return self.MOVES[to](definition, node_id=node_id), node_id
        if to == "position":
            return tree.move_node(
                definition,
                node_id=node_id,
                parent_id=data.get("parent", ""),
                position=_position(data),
            ), node_id
        raise DefinitionError(node_id, f"unknown move {to!r}.")


class BuilderToggleView(BuilderAction):
    def edit(self, definition, data):
        node_id, what = data.get("node", ""), data.get("what", "")
        if what == "op":
            return tree.toggle_op(definition, group_id=node_id), node_id
        if what == "negate":
            return tree.toggle_negate(definition, node_id=node_id), node_id
        raise DefinitionError(node_id, f"unknown toggle {what!r}.")


class BuilderUpdateView(BuilderAction):
    def edit(self, definition, data):
        node_id = data.get("node", "")
        node = find(definition, node_id)
        if node is None:
            raise DefinitionError(node_id, "no such node in this definition.")
        fields = node_fields(node["type"], data)
        self.attempted = tree.updated_node(definition, node_id=node_id, fields=fields)
        return tree.update_node(definition, node_id=node_id, fields=fields), node_id


class BuilderPreviewView(BuilderAction):
    def edit(self, definition, data):
        return definition, None


# --- List, detail, actions on a saved segment -----------------------------------------------------


class SegmentListView(ReadSegments, View):
    def get(self, request):
        archived = request.GET.get("archived") == "1"
        context = {
            "segments": segment_list(archived=archived),
            "archived": archived,
            "may_manage": user_may(request.user, "manage_segments"),
        }
        return render(request, "segments/list.html", context)


class SegmentDetailView(ReadSegments, View):
    def get(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        members = paginate(
            segment_current_memberships(segment),
            page=request.GET.get("page"),
            per_page=MEMBERS_PER_PAGE,
        )
        members_rows = [(m, builder.profile_label(m.profile)) for m in members]
        if request.htmx and request.htmx.target == "members":
            context = {"segment": segment, "members": members, "members_rows": members_rows}
            return render(request, "segments/detail.html#members", context)
        explain_form = ExplainForm(request.GET)
        explain_id = explain_form.cleaned_data["explain"] if explain_form.is_valid() else None
        now = timezone.now()
        context = {
            "segment": segment,
            "may_manage": user_may(request.user, "manage_segments"),
            "members": members,
            "members_rows": members_rows,
            "versions": [
                (version, json.dumps(version.definition, indent=2, ensure_ascii=False))
                for version in segment_versions(segment)
            ],
            "chart": size_chart_html(segment_snapshots(segment), div_id="size-chart"),
            "entries": [
                (label, segment_entries_exits(segment, now - timedelta(days=days), now))
                for days, label in ENTRY_WINDOWS
            ],
            "explain_form": explain_form,
            "editable": False,
        }
        try:
            context.update(
                _tree_context(segment.definition, explain_id=explain_id, segment_id=segment.pk)
            )
        except DefinitionError as error:  # a stored definition that no longer validates
            context["definition_error"] = str(error)
        return render(request, "segments/detail.html", context)


class SegmentDuplicateView(ManageSegments, View):
    def post(self, request, pk):
        copy = segment_duplicate(segment=get_object_or_404(Segment, pk=pk), user=request.user)
        messages.success(request, f"Created “{copy.name}”: edit it below.")
        return redirect("segments:edit", pk=copy.pk)


class SegmentArchiveView(ManageSegments, View):
    def post(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        archived = request.POST.get("archived", "1") == "1"
        segment_archive(segment=segment, archived=archived)
        if archived:
            messages.success(request, f"Archived “{segment.name}”: it no longer updates.")
            return redirect("segments:index")
        messages.success(request, f"Restored “{segment.name}”.")
        return redirect("segments:detail", pk=segment.pk)


class SegmentRefreshView(ManageSegments, View):
    def post(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        change = segment_refresh(segment=segment)
        segment.refresh_from_db()
        if change is None:
            messages.error(request, f"Refresh failed: {segment.last_error}")
        else:
            messages.success(
                request,
                f"Refreshed: {segment.size} members ({len(change.entered)} entered, "
                f"{len(change.exited)} exited).",
            )
        return redirect("segments:detail", pk=segment.pk)


# --- Overlap --------------------------------------------------------------------------------------


class SegmentOverlapView(ReadSegments, View):
    def get(self, request):
        choices = segment_choices()
        form = OverlapForm(request.GET or None, choices=choices)
        context = {"form": form, "choices": choices, "selected": request.GET.getlist("segments")}
        if form.is_bound and form.is_valid():
            segments = segments_by_ids(form.cleaned_data["segments"])
            overlap = segment_overlap(segments)
            sizes = overlap["sizes"]

            def pair(a, b):
                if a.pk == b.pk:
                    return sizes[a.pk]
                return overlap["pairs"].get((a.pk, b.pk), overlap["pairs"].get((b.pk, a.pk)))

            matrix = [[pair(a, b) for b in segments] for a in segments]
            context.update(
                segments=segments,
                rows=[
                    (a, list(zip(segments, row, strict=True)))
                    for a, row in zip(segments, matrix, strict=True)
                ],
                pairs=[
                    {
                        "a": a,
                        "b": b,
                        "both": pair(a, b),
                        "share_a": _share(pair(a, b), sizes[a.pk]),
                        "share_b": _share(pair(a, b), sizes[b.pk]),
                    }
                    for i, a in enumerate(segments)
                    for b in segments[i + 1 :]
                ],
                everyone=overlap["all"],
                chart=overlap_chart_html(
                    [s.name for s in segments], matrix, div_id="overlap-chart"
                ),
            )
        return render(request, "segments/overlap.html", context)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"
