"""The audit log for admins: filter, page through, export as CSV (needs `manage_users`)."""

import csv
from collections.abc import Iterator

import orjson
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views import View

from cdpapp.access import RoleRequiredMixin
from privacy.forms import AuditFilterForm
from privacy.selectors_admin import audit_entries, audit_filter_choices

ENTRIES_PER_PAGE = 50
CSV_COLUMNS = ["at", "actor", "action", "object_type", "object_id", "before", "after"]


class AuditAccessMixin(RoleRequiredMixin):
    read_permission = "manage_users"


def _filtered(request):
    """The validated filter form and the entries it selects (none when it is invalid)."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    return form, audit_entries(**form.filters())


def _json(value) -> str:
    return "" if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class AuditLogView(AuditAccessMixin, View):
    def get(self, request):
        form, entries = _filtered(request)
        page = None
        if entries is not None:
            page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "form": form,
            "page": page,
            "rows": [
                {"entry": entry, "before": _json(entry.before), "after": _json(entry.after)}
                for entry in page or ()
            ],
            "valid": page is not None,
            "query": query.urlencode(),
            "choices": audit_filter_choices(),
        }
        return render(
            request, "privacy/audit.html", context, status=200 if page is not None else 400
        )


class _Echo:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(entries) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                entry.at.isoformat(),
                entry.actor_name,
                entry.action,
                entry.object_type,
                entry.object_id,
                _json(entry.before),
                _json(entry.after),
            ]
        )


class AuditExportView(AuditAccessMixin, View):
    """The filtered log as CSV, streamed row by row."""

    def get(self, request):
        form, entries = _filtered(request)
        if entries is None:
            return render(
                request, "privacy/audit.html", {"form": form, "page": None, "rows": []}, status=400
            )
        response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response
