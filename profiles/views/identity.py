"""Identity rules admin: identity types with their simulation, survivorship rules, the change
history, and identity health. Everything here needs the `manage_identity` capability."""

import hashlib

import orjson
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View

from cdpapp.access import RoleRequiredMixin
from privacy.selectors import consent_conflict_automatic_merges
from profiles.forms.identity import IdentityTypeForm, MergeSettingsForm, SurvivorshipRuleForm
from profiles.models import IdentityType, RuleChange, SurvivorshipRule
from profiles.selectors import identity_health as health
from profiles.selectors.identity_rules import (
    identity_type_list,
    identity_type_simulate,
    rule_change_list,
    source_names,
    survivorship_rule_list,
)
from profiles.selectors.merge_settings import consent_conflict_window, merge_settings_get
from profiles.services.identity_rules import (
    identity_type_clean,
    identity_type_create,
    identity_type_update,
    merge_settings_update,
    survivorship_rule_delete,
    survivorship_rule_set,
)

TYPE_FORM = "profiles/identity/type_form.html"


class IdentityAccessMixin(RoleRequiredMixin):
    read_permission = "manage_identity"
    write_permission = "manage_identity"


def _form_errors(form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names (others to the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _fingerprint(form) -> str:
    """Identifies the exact values an admin confirmed: changed values need a new confirmation."""
    values = {"name": form.cleaned_data.get("name"), **form.rule_fields()}
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class IdentityTypeListView(IdentityAccessMixin, View):
    def get(self, request):
        current = merge_settings_get()
        window = consent_conflict_window()
        context = {
            "types": identity_type_list(),
            "merge_settings": current,
            "merge_form": MergeSettingsForm(
                initial={"consent_conflict_review": current.consent_conflict_review}
            ),
            "window_days": window.days,
            "recent_conflict_merges": consent_conflict_automatic_merges(
                since=timezone.now() - window
            ),
        }
        return render(request, "profiles/identity/types.html", context)


class MergeSettingsView(IdentityAccessMixin, View):
    """Save the merge settings (recorded in the change history and the audit log)."""

    def post(self, request):
        form = MergeSettingsForm(request.POST)
        form.is_valid()  # a checkbox is never invalid: anything but "on" reads as off
        saved = merge_settings_update(
            consent_conflict_review=form.cleaned_data.get("consent_conflict_review", False),
            actor=request.user,
        )
        messages.success(
            request,
            "Merge settings saved: profiles whose consent conflicts "
            + (
                "now wait for review."
                if saved.consent_conflict_review
                else "are merged, and the conflict is flagged."
            ),
        )
        return redirect("profiles:identity-types")


class _TypeFormMixin:
    """The edit and create pages share the form, the simulation and the confirmation."""

    creating = False

    def get_type(self) -> IdentityType:
        return get_object_or_404(IdentityType, pk=self.kwargs["pk"])

    def proposed(self, form) -> IdentityType:
        """The identity type as it would be saved (unsaved), validated by the service rules."""
        if self.creating:
            proposed = IdentityType(name=form.cleaned_data["name"])
        else:
            proposed = self.get_type()
        for name, value in form.rule_fields().items():
            setattr(proposed, name, value)
        identity_type_clean(proposed)
        return proposed

    def needs_confirmation(self, request, form, proposed: IdentityType):
        """The impact when the change affects profiles and these values were not confirmed."""
        fingerprint = _fingerprint(form)
        if request.POST.get("confirmed") == fingerprint:
            return None
        impact = identity_type_simulate(proposed=proposed)
        return None if impact.is_zero else (impact, fingerprint)

    def render_form(self, request, form, *, impact=None, confirm="", status=200):
        context = {
            "form": form,
            "identity_type": None if self.creating else self.get_type(),
            "creating": self.creating,
            "impact": impact,
            "confirm": confirm,
        }
        return render(request, TYPE_FORM, context, status=status)


class IdentityTypeEditView(IdentityAccessMixin, _TypeFormMixin, View):
    def get(self, request, pk: int):
        form = IdentityTypeForm(initial=IdentityTypeForm.initial_for(self.get_type()))
        return self.render_form(request, form)

    def post(self, request, pk: int):
        form = IdentityTypeForm(request.POST)
        if not form.is_valid():
            return self.render_form(request, form, status=400)
        try:
            proposed = self.proposed(form)
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.render_form(request, form, status=400)
        if pending := self.needs_confirmation(request, form, proposed):
            impact, fingerprint = pending
            return self.render_form(request, form, impact=impact, confirm=fingerprint)
        identity_type = identity_type_update(
            identity_type=self.get_type(), actor=request.user, **form.rule_fields()
        )
        messages.success(request, f"Identity type {identity_type.name} saved.")
        return redirect("profiles:identity-types")


class IdentityTypeCreateView(IdentityAccessMixin, _TypeFormMixin, View):
    creating = True

    def get(self, request):
        initial = {"normaliser": "trim", "default_region": "GB", "priority": 50, "enabled": True}
        return self.render_form(request, IdentityTypeForm(initial=initial, creating=True))

    def post(self, request):
        form = IdentityTypeForm(request.POST, creating=True)
        if not form.is_valid():
            return self.render_form(request, form, status=400)
        try:
            proposed = self.proposed(form)
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.render_form(request, form, status=400)
        if pending := self.needs_confirmation(request, form, proposed):
            impact, fingerprint = pending
            return self.render_form(request, form, impact=impact, confirm=fingerprint)
        identity_type = identity_type_create(
            name=form.cleaned_data["name"], actor=request.user, **form.rule_fields()
        )
        messages.success(request, f"Identity type {identity_type.name} created.")
        return redirect("profiles:identity-types")


class IdentityTypeSimulateView(IdentityAccessMixin, _TypeFormMixin, View):
    """The impact of the form's values, as the `impact` partial (nothing is saved)."""

    def post(self, request, pk: int | None = None):
        self.creating = pk is None
        form = IdentityTypeForm(request.POST, creating=self.creating)
        impact = error = None
        if form.is_valid():
            try:
                impact = identity_type_simulate(proposed=self.proposed(form))
            except ValidationError as exc:
                _form_errors(form, exc)
        if impact is None:
            error = "Fix the form first: " + "; ".join(
                f"{'' if field == '__all__' else field.replace('_', ' ') + ': '}{messages_[0]}"
                for field, messages_ in form.errors.items()
            )
        context = {"impact": impact, "simulation_error": error}
        return render(request, f"{TYPE_FORM}#impact", context, status=200 if impact else 400)


class SurvivorshipRuleListView(IdentityAccessMixin, View):
    def get(self, request):
        trait = request.GET.get("trait")
        rule = SurvivorshipRule.objects.filter(trait=trait).first() if trait else None
        sources = source_names()
        form = SurvivorshipRuleForm(initial=SurvivorshipRuleForm.initial_for(rule), sources=sources)
        return self._render(request, form)

    def post(self, request):
        form = SurvivorshipRuleForm(request.POST, sources=source_names())
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            rule = survivorship_rule_set(
                trait=form.cleaned_data["trait"],
                rule=form.cleaned_data["rule"],
                source_priority=form.source_priority(),
                keep_non_empty=form.cleaned_data["keep_non_empty"],
                actor=request.user,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
            return self._render(request, form, status=400)
        messages.success(request, f"Survivorship rule for {rule.trait} saved.")
        return redirect("profiles:identity-survivorship")

    def _render(self, request, form, status=200):
        context = {"rules": survivorship_rule_list(), "form": form}
        return render(request, "profiles/identity/survivorship.html", context, status=status)


class SurvivorshipRuleDeleteView(IdentityAccessMixin, View):
    def post(self, request, pk: int):
        rule = get_object_or_404(SurvivorshipRule, pk=pk)
        try:
            survivorship_rule_delete(rule=rule, actor=request.user)
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(request, f"The rule for {rule.trait} was removed; '*' applies.")
        return redirect("profiles:identity-survivorship")


class RuleChangeListView(IdentityAccessMixin, View):
    def get(self, request):
        kind = request.GET.get("kind")
        kind = kind if kind in RuleChange.Kind.values else None
        context = {
            "changes": rule_change_list(kind=kind),
            "kind": kind,
            "kinds": RuleChange.Kind.choices,
            "sources": source_names(),
        }
        return render(request, "profiles/identity/history.html", context)


class IdentityHealthView(IdentityAccessMixin, View):
    def get(self, request):
        junk = health.junk_identifiers()
        context = {
            "mega": health.mega_profiles(),
            "merge_rate": health.merge_rate(),
            "junk": junk,
            "junk_alert": any(item.alert for item in junk),
            "junk_alert_count": health.JUNK_ALERT_COUNT,
            "match_rate": health.match_rate(),
            "completeness": health.profile_completeness(),
            "without_profile": health.events_without_profile(),
            "lag": health.processor_lag(),
            "backlog": health.processor_backlog(),
            "spike_factor": health.SPIKE_FACTOR,
            "spike_minimum": health.SPIKE_MINIMUM,
        }
        return render(request, "profiles/identity/health.html", context)
