"""Sources admin (settings, write keys, install help) and the per-source event debugger.

Every page renders in full, or only one `template.html#partial` when htmx asks for it: GET
requests name the partial by their HX-Target, actions always answer with the partial they change.
"""

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from cdpapp.access import RoleRequiredMixin
from profiles.domain.source_settings import format_json
from profiles.forms.sources import (
    DebuggerFilterForm,
    ReplayForm,
    RotateKeyForm,
    SourceCreateForm,
    SourceSettingsForm,
    TrackingPlanForm,
)
from profiles.models import Event, FailedEvent, Source
from profiles.selectors.events import event_list, event_volume, failed_event_list
from profiles.selectors.sources import (
    source_current_key,
    source_list_with_stats,
    source_write_key,
    source_write_keys,
)
from profiles.services.failed_events import (
    FailedEventError,
    failed_event_discard,
    failed_event_replay,
    failed_events_replay_all,
)
from profiles.services.sources import (
    source_create,
    source_revoke_key,
    source_rotate_key,
    source_update,
)
from profiles.views.volume_chart import volume_chart_json

LIVE_ROWS = 50  # events shown when the debugger opens, and at most per poll
FAILED_ROWS = 50
KEYS_CHANGED = "source-keys-changed"
EVENTS_ARRIVED = "debugger-events-arrived"  # the volume chart redraws, at most every 5 s


class SourceAccessMixin(RoleRequiredMixin):
    read_permission = "manage_sources"
    write_permission = "manage_sources"

    def get_source(self) -> Source:
        return get_object_or_404(Source, pk=self.kwargs["pk"])


# --- Sources list and creation ------------------------------------------------------------------


class SourceListView(SourceAccessMixin, View):
    def get(self, request):
        return self._render(request, SourceCreateForm())

    def post(self, request):
        form = SourceCreateForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        source, key = source_create(name=form.cleaned_data["name"], kind=form.cleaned_data["kind"])
        # Rendered, not redirected: the new key is shown on this one response.
        context = {"source": source, "key": key, **_install_context(request, key)}
        return render(request, "profiles/sources/created.html", context, status=201)

    def _render(self, request, form, status=200):
        context = {"sources": source_list_with_stats(), "form": form}
        return render(request, "profiles/sources/list.html", context, status=status)


# --- One source: settings, tracking plan, write keys, install help --------------------------------


def _install_context(request, key: str | None) -> dict:
    """Where clients send data: this host, as the browser reached it."""
    base = request.build_absolute_uri("/").rstrip("/")
    parts = urlsplit(base)
    return {
        "install_key": key,
        "install_host": base,
        "install_api_host": f"{parts.netloc}/v1",
        "install_protocol": parts.scheme,
    }


def _detail_context(request, source: Source, **extra) -> dict:
    plan_text = format_json(source.tracking_plan) if source.tracking_plan else ""
    context = {
        "source": source,
        "settings_form": SourceSettingsForm(
            initial={
                "enabled": source.enabled,
                "max_message_bytes": source.max_message_bytes,
                "max_batch_bytes": source.max_batch_bytes,
                "rate_limit_per_second": source.rate_limit_per_second,
            }
        ),
        "plan_form": TrackingPlanForm(
            initial={"plan": plan_text, "mode": source.tracking_plan_mode}
        ),
        "rotate_form": RotateKeyForm(),
        "keys": source_write_keys(source),
        **_install_context(request, source_current_key(source)),
    }
    context.update(extra)
    return context


def _detail(request, source: Source, partial: str | None = None, *, status=200, **extra):
    template = "profiles/sources/detail.html"
    if partial and request.htmx:
        template = f"{template}#{partial}"
    return render(request, template, _detail_context(request, source, **extra), status=status)


class SourceDetailView(SourceAccessMixin, View):
    partials = frozenset({"settings", "tracking-plan", "keys", "install"})

    def get(self, request, pk: int):
        target = request.htmx.target if request.htmx else None
        return _detail(request, self.get_source(), target if target in self.partials else None)


class SourceSettingsView(SourceAccessMixin, View):
    def post(self, request, pk: int):
        source = self.get_source()
        form = SourceSettingsForm(request.POST)
        if form.is_valid():
            try:
                source_update(source=source, **form.cleaned_data)
            except ValidationError as exc:
                _add_model_errors(form, exc)
        if not form.is_valid():
            return _form_error(request, source, "settings", settings_form=form)
        return _saved(request, source, "settings", "Settings saved.")


class SourceTrackingPlanView(SourceAccessMixin, View):
    def post(self, request, pk: int):
        source = self.get_source()
        form = TrackingPlanForm(request.POST)
        if form.is_valid():
            try:
                source_update(
                    source=source,
                    tracking_plan=form.cleaned_data["plan"],
                    tracking_plan_mode=form.cleaned_data["mode"],
                )
            except ValidationError as exc:
                _add_model_errors(form, exc, {"tracking_plan": "plan"})
        if not form.is_valid():
            return _form_error(request, source, "tracking-plan", plan_form=form)
        return _saved(request, source, "tracking-plan", "Tracking plan saved.")


class SourceRotateKeyView(SourceAccessMixin, View):
    def post(self, request, pk: int):
        source = self.get_source()
        form = RotateKeyForm(request.POST)
        if not form.is_valid():
            return _form_error(request, source, "keys", rotate_form=form)
        key = source_rotate_key(
            source=source, grace=timedelta(hours=form.cleaned_data["grace_hours"])
        )
        # Rendered, not redirected: the new key is shown on this one response.
        response = _detail(request, source, "keys", new_key=key)
        response["HX-Trigger"] = KEYS_CHANGED
        return response


class WriteKeyRevokeView(SourceAccessMixin, View):
    def post(self, request, pk: int, key_pk: int):
        source = self.get_source()
        write_key = source_write_key(source, key_pk)
        if write_key is None:
            raise Http404("No such write key on this source.")
        if write_key.revoked_at is None:
            source_revoke_key(write_key=write_key)
        if not request.htmx:
            messages.success(request, f"Write key {write_key.prefix}… revoked.")
            return redirect("profiles:source-detail", pk=source.pk)
        response = _detail(request, source, "keys", revoked=write_key)
        response["HX-Trigger"] = KEYS_CHANGED
        return response


def _add_model_errors(form, exc: ValidationError, rename: dict[str, str] | None = None) -> None:
    for field, errors in exc.message_dict.items():
        name = (rename or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)


def _form_error(request, source: Source, partial: str, **forms):
    # htmx swaps 2xx answers only: the partial with its errors comes back as 200.
    return _detail(request, source, partial, status=200 if request.htmx else 400, **forms)


def _saved(request, source: Source, partial: str, message: str):
    if not request.htmx:
        messages.success(request, message)
        return redirect("profiles:source-detail", pk=source.pk)
    return _detail(request, source, partial, saved=message)


# --- The event debugger ---------------------------------------------------------------------------


def _event_json(event: Event) -> str:
    """The stored event as Segment-Spec JSON, for the expandable row."""
    message = {
        "type": event.type,
        "messageId": event.message_id,
        ("event" if event.type == "track" else "name"): event.name,
        "userId": event.user_id,
        "anonymousId": event.anonymous_id,
        "groupId": event.group_id,
        "previousId": event.previous_id,
        "timestamp": event.timestamp.isoformat(),
        "originalTimestamp": event.original_timestamp.isoformat()
        if event.original_timestamp
        else None,
        "sentAt": event.sent_at.isoformat() if event.sent_at else None,
        "receivedAt": event.received_at.isoformat(),
        "properties": event.properties,
        "traits": event.traits,
        "context": event.context,
        "integrations": event.integrations,
        **event.extra,
        "violations": event.violations,
    }
    return format_json({key: value for key, value in message.items() if value not in (None, [])})


def _event_rows(events) -> list[dict]:
    return [{"event": event, "json": _event_json(event)} for event in events]


def _failed_item(failed: FailedEvent, *, text: str | None = None, **extra) -> dict:
    if text is None:
        text = format_json(failed.payload) if failed.payload is not None else failed.raw
    return {"failed": failed, "text": text, **extra}


def _int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def _open_failed(source: Source, after: int | None) -> list[FailedEvent]:
    return list(
        failed_event_list(source_id=source.pk, status=FailedEvent.Status.FAILED, after_id=after)[
            :FAILED_ROWS
        ]
    )


def _live_context(filters: dict, rows: list[Event], after: int | None) -> dict:
    last = max([event.pk for event in rows], default=after or 0)
    query = {
        key: value
        for key, value in (
            ("type", filters["message_type"]),
            ("event", filters["name"]),
            ("user", filters["identity"]),
        )
        if value
    }
    return {"rows": _event_rows(rows), "poll_query": urlencode({**query, "after": last})}


def _failed_context(failed: list[FailedEvent], after: int | None) -> dict:
    last = max([item.pk for item in failed], default=after or 0)
    return {
        "failed_items": [_failed_item(item) for item in failed],
        "failed_poll_query": urlencode({"after_failed": last}),
    }


def _volume_context(source: Source) -> dict:
    hourly = event_volume(source=source, unit="hour")
    daily = event_volume(source=source, unit="day")
    return {
        "hourly_figure": volume_chart_json(hourly, unit="hour", title="Per hour, last 24 hours"),
        "daily_figure": volume_chart_json(daily, unit="day", title="Per day, last 30 days"),
        "volume_totals": {
            "events_24h": sum(point.events for point in hourly),
            "failed_24h": sum(point.failed for point in hourly),
            "events_30d": sum(point.events for point in daily),
            "failed_30d": sum(point.failed for point in daily),
        },
    }


class SourceDebuggerView(SourceAccessMixin, View):
    template_name = "profiles/sources/debugger.html"

    def get(self, request, pk: int):
        source = self.get_source()
        form = DebuggerFilterForm(request.GET)
        filters = form.filters()
        target = request.htmx.target if request.htmx else None
        context = {"source": source, "filter_form": form}
        if target == "event-rows":  # a poll: only what arrived since the last one
            after = _int_param(request, "after")
            rows = list(event_list(source_id=source.pk, after_id=after, **filters)[:LIVE_ROWS])
            if not rows:
                return HttpResponse(status=204)
            return self._partial(
                request, "new-events", context, _live_context(filters, rows, after)
            )
        if target == "failed-rows":
            after = _int_param(request, "after_failed")
            failed = _open_failed(source, after)
            if not failed:
                return HttpResponse(status=204)
            response = self._partial(request, "new-failed", context, _failed_context(failed, after))
            response["HX-Trigger"] = EVENTS_ARRIVED
            return response
        if target == "volume":
            return self._partial(request, "volume", context, _volume_context(source))
        if target == "failed":
            return self._partial(
                request, "failed", context, _failed_context(_open_failed(source, None), None)
            )
        rows = list(event_list(source_id=source.pk, **filters)[:LIVE_ROWS])
        context.update(_live_context(filters, rows, None))
        if target == "live":
            return self._partial(request, "live", context, {})
        context.update(_failed_context(_open_failed(source, None), None))
        context.update(_volume_context(source))
        return render(request, self.template_name, context)

    def _partial(self, request, name: str, context: dict, extra: dict):
        return render(request, f"{self.template_name}#{name}", {**context, **extra})


class FailedEventActionMixin(SourceAccessMixin):
    def get_failed(self, source: Source) -> FailedEvent:
        return get_object_or_404(FailedEvent, pk=self.kwargs["failed_pk"], source=source)

    def answer(self, request, source: Source, item: dict, message: str):
        if not request.htmx:
            level = messages.error if item.get("error") else messages.success
            level(request, message)
            return redirect("profiles:source-debugger", pk=source.pk)
        return render(request, "profiles/sources/debugger.html#failed-item", {"item": item})


class FailedEventReplayView(FailedEventActionMixin, View):
    def post(self, request, pk: int, failed_pk: int):
        source = self.get_source()
        failed = self.get_failed(source)
        form = ReplayForm(request.POST)
        if not form.is_valid():
            text = request.POST.get("payload", "")
            error = form.errors["payload"][0]
            return self.answer(request, source, _failed_item(failed, text=text, error=error), error)
        try:
            failed = failed_event_replay(
                failed_event=failed, payload=form.cleaned_data["payload"], user=request.user
            )
        except FailedEventError as exc:
            return self.answer(request, source, _failed_item(failed, error=str(exc)), str(exc))
        if failed.status == FailedEvent.Status.REPLAYED:
            return self.answer(
                request, source, _failed_item(failed), "Replayed: the event is stored."
            )
        message = f"Still failing: {failed.reason}"
        return self.answer(request, source, _failed_item(failed, error=message), message)


class FailedEventDiscardView(FailedEventActionMixin, View):
    def post(self, request, pk: int, failed_pk: int):
        source = self.get_source()
        failed = self.get_failed(source)
        try:
            failed = failed_event_discard(failed_event=failed)
        except FailedEventError as exc:
            return self.answer(request, source, _failed_item(failed, error=str(exc)), str(exc))
        return self.answer(request, source, _failed_item(failed), "Failed event discarded.")


class FailedEventsReplayAllView(SourceAccessMixin, View):
    def post(self, request, pk: int):
        source = self.get_source()
        result = failed_events_replay_all(source=source, user=request.user)
        summary = f"Replay all: {result.summary()}"
        if not request.htmx:
            messages.success(request, summary)
            return redirect("profiles:source-debugger", pk=source.pk)
        context = {
            "source": source,
            "replay_summary": summary,
            **_failed_context(_open_failed(source, None), None),
        }
        return render(request, "profiles/sources/debugger.html#failed", context)
