"""Privacy admin: overview, purposes, consent on a profile, data-subject requests, retention.

Purposes and consent need `manage_consent`; requests and retention need `manage_privacy`.
Pages render in full, or one `template.html#partial` when htmx asks for it by its HX-Target.
"""

import orjson
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from cdpapp.access import RoleRequiredMixin
from privacy.forms import (
    ConsentConflictResolveForm,
    ConsentForm,
    PurposeForm,
    RequestForm,
    RequestRejectForm,
    RetentionForm,
)
from privacy.models import ConsentConflict, DataSubjectRequest, Purpose
from privacy.preferences import preference_url
from privacy.selectors import (
    consent_conflicts_list,
    profile_consent_conflicts,
    purposes,
    requests_list,
    requests_overdue,
)
from privacy.selectors_admin import (
    consent_history_rows,
    consent_region,
    consent_states,
    erasure_impact,
    request_is_overdue,
    request_steps,
    requests_open,
    retention_row,
    retention_rows,
    suppressed_per_day,
)
from privacy.services.consent import ConsentError, consent_record
from privacy.services.consent_conflicts import ConsentConflictError, consent_conflict_resolve
from privacy.services.purposes import purpose_create, purpose_update
from privacy.services.requests import (
    RequestError,
    request_complete_access,
    request_complete_erasure,
    request_create,
    request_reject,
)
from privacy.services.retention import retention_run
from privacy.services.retention_policies import (
    retention_policy_check,
    retention_policy_dry_run,
    retention_policy_set,
)
from profiles.models import Source
from profiles.selectors.merge_settings import consent_conflict_window
from profiles.selectors.profiles import profile_resolve

REQUESTS_PER_PAGE = 50
CONFLICTS_PER_PAGE = 50
OPEN_REQUESTS_SHOWN = 20
CONSENT_CHANGED = "consent-changed"


class PrivacyAccessMixin(RoleRequiredMixin):
    read_permission = "manage_privacy"
    write_permission = "manage_privacy"


class ConsentAccessMixin(RoleRequiredMixin):
    read_permission = "manage_consent"
    write_permission = "manage_consent"


def _partial(request, allowed: set[str]) -> str | None:
    """The partial htmx asked for (its HX-Target), if it is one of `allowed`."""
    target = request.htmx.target if request.htmx else None
    return target if target in allowed else None


def _form_errors(form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names (others to the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


# --- Overview -----------------------------------------------------------------------------------


class OverviewView(PrivacyAccessMixin, View):
    """Open requests and their deadlines, suppressed messages per day, retention in force."""

    def get(self, request):
        open_requests = list(requests_open()[:OPEN_REQUESTS_SHOWN])
        suppressed = suppressed_per_day(days=30)
        peak = max((count for _, count in suppressed), default=0)
        rows = retention_rows()
        context = {
            "open_requests": [
                {"request": r, "overdue": request_is_overdue(r)} for r in open_requests
            ],
            "more_open": requests_open().count() - len(open_requests),
            "overdue": requests_overdue().count(),
            "suppressed": [
                {"day": day, "count": count, "height": round(100 * count / peak) if peak else 0}
                for day, count in suppressed
            ],
            "suppressed_total": sum(count for _, count in suppressed),
            "retention": rows,
            "retention_enabled": sum(1 for row in rows if row.enabled),
        }
        return render(request, "privacy/overview.html", context)


# --- Purposes -----------------------------------------------------------------------------------


class PurposeListView(ConsentAccessMixin, View):
    def get(self, request):
        return render(request, "privacy/purposes.html", {"purposes": purposes()})


class PurposeCreateView(ConsentAccessMixin, View):
    def get(self, request):
        form = PurposeForm(creating=True, initial={"defaults": {"*": "opt_in", "EU": "opt_in"}})
        return self._render(request, form)

    def post(self, request):
        form = PurposeForm(request.POST, creating=True)
        if form.is_valid():
            try:
                purpose = purpose_create(
                    slug=form.cleaned_data["slug"],
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    defaults=form.defaults(),
                    validity_days=form.cleaned_data["validity_days"],
                    actor=request.user,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Purpose {purpose.name} created.")
                return redirect("privacy:purposes")
        return self._render(request, form, status=400)

    def _render(self, request, form, status=200):
        context = {"form": form, "purpose": None}
        return render(request, "privacy/purpose_form.html", context, status=status)


class PurposeEditView(ConsentAccessMixin, View):
    def get(self, request, pk: int):
        purpose = get_object_or_404(Purpose, pk=pk)
        initial = {
            "name": purpose.name,
            "description": purpose.description,
            "validity_days": purpose.validity_days,
            "defaults": purpose.defaults,
        }
        return self._render(request, purpose, PurposeForm(initial=initial))

    def post(self, request, pk: int):
        purpose = get_object_or_404(Purpose, pk=pk)
        form = PurposeForm(request.POST)
        if form.is_valid():
            try:
                updated = purpose_update(
                    purpose=purpose,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    defaults=form.defaults(),
                    validity_days=form.cleaned_data["validity_days"],
                    actor=request.user,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                saved = f"Purpose {updated.name} saved."
                if updated.version != purpose.version:
                    saved += f" Its text is now version {updated.version}."
                messages.success(request, saved)
                return redirect("privacy:purposes")
        return self._render(request, purpose, form, status=400)

    def _render(self, request, purpose, form, status=200):
        context = {
            "form": form,
            "purpose": purpose,
            "versions": purpose.versions.order_by("-version"),
        }
        return render(request, "privacy/purpose_form.html", context, status=status)


# --- Consent on a profile -----------------------------------------------------------------------


class ProfileConsentView(ConsentAccessMixin, View):
    """A person's consent per purpose with the enforcement decision, the form, the history."""

    template = "privacy/consent.html"

    def _profile(self, pk: int):
        profile = profile_resolve(profile_id=pk)
        if profile is None:
            raise Http404(f"No profile {pk}.")
        return profile

    def _context(self, request, profile, form) -> dict:
        return {
            "profile": profile,
            "region": consent_region(profile=profile),
            "states": consent_states(profile=profile),
            "history": consent_history_rows(profile=profile),
            "conflicts": profile_consent_conflicts(profile_id=profile.pk),
            "form": form,
            "preference_link": preference_url(request, profile.pk),
        }

    def get(self, request, pk: int):
        profile = self._profile(pk)
        if profile.pk != pk:
            return redirect("privacy:profile-consent", pk=profile.pk)
        form = ConsentForm(purposes=purposes(), initial={"status": "granted"})
        context = self._context(request, profile, form)
        partial = _partial(request, {"consent-state", "consent-history"})
        return render(request, f"{self.template}#{partial}" if partial else self.template, context)

    def post(self, request, pk: int):
        profile = self._profile(pk)
        form = ConsentForm(request.POST, purposes=purposes())
        saved = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                consent_record(
                    profile=profile,
                    purpose=data["purpose"],
                    status=data["status"],
                    legal_basis=data["legal_basis"],
                    expires_at=data["expires_at"],
                    evidence={"proof": data["proof"], "recorded_by": request.user.get_username()},
                    channel="admin",
                    actor=request.user,
                )
            except ConsentError as exc:
                form.add_error(None, str(exc))
            else:
                name = dict(form.fields["purpose"].choices)[data["purpose"]]
                saved = f"Recorded: {name} {data['status']}."
        if saved and not request.htmx:
            messages.success(request, saved)
            return redirect("privacy:profile-consent", pk=profile.pk)
        if saved:
            form = ConsentForm(purposes=purposes(), initial={"status": "granted"})
        context = self._context(request, profile, form) | {"saved": saved}
        status = 200 if saved or form.is_valid() else 400
        if not request.htmx:
            return render(request, self.template, context, status=status)
        response = render(request, f"{self.template}#consent-form", context, status=status)
        if saved:
            response["HX-Trigger"] = CONSENT_CHANGED
        return response


# --- Data-subject requests ----------------------------------------------------------------------

STATUS_TABS = [("", "All"), ("open", "Open"), ("done", "Done"), ("rejected", "Rejected")]


class RequestListView(PrivacyAccessMixin, View):
    """Requests by status, overdue ones flagged, and the form to open one."""

    def get(self, request):
        return self._render(request, RequestForm(initial={"regulation": "gdpr"}))

    def post(self, request):
        form = RequestForm(request.POST)
        if form.is_valid():
            try:
                created = request_create(actor=request.user, **form.cleaned_data)
            except RequestError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Request #{created.pk} opened.")
                return redirect("privacy:request-detail", pk=created.pk)
        return self._render(request, form, status=400)

    def _render(self, request, form, status=200):
        chosen = request.GET.get("status", "")
        chosen = chosen if chosen in dict(STATUS_TABS) else ""
        page = Paginator(requests_list(status=chosen or None), REQUESTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        context = {
            "form": form,
            "tabs": STATUS_TABS,
            "status": chosen,
            "page": page,
            "rows": [{"request": r, "overdue": request_is_overdue(r)} for r in page],
        }
        return render(request, "privacy/requests.html", context, status=status)


class RequestDetailView(PrivacyAccessMixin, View):
    def get(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest.objects.select_related("created_by"), pk=pk)
        return _request_detail(request, found, RequestRejectForm())


def _request_detail(request, found: DataSubjectRequest, reject_form, status: int = 200):
    context = {
        "dsr": found,
        "overdue": request_is_overdue(found),
        "steps": request_steps(found),
        "reject_form": reject_form,
    }
    return render(request, "privacy/request_detail.html", context, status=status)


class RequestRejectView(PrivacyAccessMixin, View):
    """Close an open request without carrying it out, saying why."""

    def post(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk)
        form = RequestRejectForm(request.POST)
        if form.is_valid():
            try:
                request_reject(
                    request=found, reason=form.cleaned_data["reason"], actor=request.user
                )
            except RequestError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Request #{pk} rejected.")
                return redirect("privacy:request-detail", pk=pk)
        return _request_detail(request, found, form, status=400)


class RequestCompleteView(PrivacyAccessMixin, View):
    """Carry out a request; an erasure first names what it deletes and asks to confirm."""

    def get(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk)
        if found.kind != "erasure" or found.status != "open":
            return redirect("privacy:request-detail", pk=pk)
        context = {"dsr": found, "impact": erasure_impact(request=found)}
        return render(request, "privacy/request_erase.html", context)

    def post(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk)
        if found.kind == "erasure" and request.POST.get("confirm") != "erase":
            return redirect("privacy:request-complete", pk=pk)
        complete = request_complete_access if found.kind == "access" else request_complete_erasure
        try:
            complete(request=found, actor=request.user)
        except RequestError as exc:
            messages.error(request, str(exc))
        else:
            done = "The export is ready." if found.kind == "access" else "The person is erased."
            messages.success(request, f"Request #{pk} completed. {done}")
        return redirect("privacy:request-detail", pk=pk)


class RequestExportView(PrivacyAccessMixin, View):
    """The access export as a JSON file."""

    def get(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk, kind="access")
        if found.export is None:
            raise Http404("No export: the request is not complete, or the person was erased.")
        response = HttpResponse(
            orjson.dumps(found.export, option=orjson.OPT_INDENT_2),
            content_type="application/json",
        )
        response["Content-Disposition"] = f'attachment; filename="access-request-{pk}.json"'
        return response


# --- Consent conflicts found at merges -----------------------------------------------------------

CONFLICT_TABS = [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]


class ConsentConflictListView(ConsentAccessMixin, View):
    """Conflicting recent consent decisions of merged profiles, open ones first to check."""

    def get(self, request):
        chosen = request.GET.get("status", "open")
        chosen = chosen if chosen in dict(CONFLICT_TABS) else "open"
        conflicts = consent_conflicts_list(status=None if chosen == "all" else chosen)
        page = Paginator(conflicts, CONFLICTS_PER_PAGE).get_page(request.GET.get("page"))
        context = {
            "tabs": CONFLICT_TABS,
            "status": chosen,
            "page": page,
            "conflicts": list(page),
            "window_days": consent_conflict_window().days,
        }
        return render(request, "privacy/consent_conflicts.html", context)


class ConsentConflictResolveView(ConsentAccessMixin, View):
    """Mark a conflict resolved: htmx gets the row back, a plain form goes back where it was."""

    def post(self, request, pk: int):
        conflict = get_object_or_404(ConsentConflict.objects.select_related("merge"), pk=pk)
        form = ConsentConflictResolveForm(request.POST)
        error = None
        if form.is_valid():
            try:
                conflict = consent_conflict_resolve(
                    conflict=conflict,
                    actor=request.user,
                    resolution=form.cleaned_data["resolution"],
                )
            except ConsentConflictError as exc:
                error = str(exc)
        else:
            error = form.errors["resolution"][0]
        if request.htmx:
            context = {"conflict": conflict, "error": error}
            return render(
                request, "privacy/_consent_conflict.html", context, status=400 if error else 200
            )
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"The {conflict.purpose} conflict is marked resolved.")
        back = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return redirect(back)
        return redirect("privacy:consent-conflicts")


# --- Retention ----------------------------------------------------------------------------------


def _retention_source(key: str) -> Source | None:
    if key == "profiles":
        return None
    if not key.isdigit():
        raise Http404("No such retention policy.")
    return get_object_or_404(Source, pk=int(key))


class RetentionView(PrivacyAccessMixin, View):
    def get(self, request):
        rows = [{"row": row} for row in retention_rows()]
        return render(request, "privacy/retention.html", {"rows": rows})


class RetentionPolicyView(PrivacyAccessMixin, View):
    """Save one row. Enabling, or changing the days of an enabled policy, first shows how many
    rows it would delete now and asks to confirm."""

    def post(self, request, key: str):
        source = _retention_source(key)
        row = retention_row(source=source)
        form = RetentionForm(request.POST)
        confirm = None
        saved = False
        if form.is_valid():
            days, enabled = form.cleaned_data["days"], form.cleaned_data["enabled"]
            fingerprint = f"{days}:{enabled}"
            risky = enabled and (not row.enabled or days != row.days)
            try:
                retention_policy_check(days=days, enabled=enabled)
                if risky and form.cleaned_data["confirmed"] != fingerprint:
                    count = retention_policy_dry_run(source=source, days=days)
                    confirm = {"count": count, "days": days, "fingerprint": fingerprint}
                else:
                    retention_policy_set(
                        source=source, days=days, enabled=enabled, actor=request.user
                    )
                    saved = True
            except ValidationError as exc:
                _form_errors(form, exc)
        status = 400 if form.errors else 200
        if saved and not request.htmx:
            label = source.name if source else "inactive profiles"
            messages.success(request, f"Retention for {label} saved.")
            return redirect("privacy:retention")
        item = {
            "row": retention_row(source=source) if saved else row,
            "form": None if saved else form,
            "confirm": confirm,
            "saved": saved,
        }
        if request.htmx:
            return render(request, "privacy/retention.html#policy", {"item": item}, status=status)
        rows = [item if r.key == row.key else {"row": r} for r in retention_rows()]
        return render(request, "privacy/retention.html", {"rows": rows}, status=status)


class RetentionRunView(PrivacyAccessMixin, View):
    """Apply the enabled policies now (the schedule does it daily)."""

    def post(self, request):
        done = retention_run(actor=request.user)
        events = sum(done.events.values())
        messages.success(
            request, f"Retention ran: {events} events and {done.profiles} profiles deleted."
        )
        return redirect("privacy:retention")
