"""The review queue of probabilistic matches: candidates by score, side by side, decisions, runs.

Pages render in full, or one `template.html#partial` when htmx asks for it by its HX-Target (the
queue's tabs and table, the run history). Approve and reject answer with the part they change:
the queue row they were clicked in, or the decision panel of the comparison page.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from cdpapp.access import RoleRequiredMixin
from profiles.models import MatchCandidate
from profiles.selectors.matching import (
    candidate_conflicts,
    candidate_list,
    candidate_merge_entry,
    candidate_row,
    candidate_sides,
    candidate_status_counts,
    identity_limits,
    match_run_active,
    match_run_list,
)
from profiles.services.matching import (
    MatchReviewError,
    match_candidate_approve,
    match_candidate_reject,
    match_run_request,
    match_thresholds,
)

PER_PAGE = 50
DECIDED = "match-candidates-changed"  # HX-Trigger: the queue's status tabs refresh
RUN_FINISHED = "match-candidates-changed, match-run-finished"  # tabs and the queue table
STATUSES = list(MatchCandidate.Status.values)


def _target(request, allowed: set[str]) -> str | None:
    target = request.htmx.target if request.htmx else None
    return target if target in allowed else None


class MatchingAccessMixin(RoleRequiredMixin):
    read_permission = "manage_identity"
    write_permission = "manage_identity"


def _runs_context() -> dict:
    return {"runs": match_run_list(limit=8), "active_run": match_run_active()}


class MatchQueueView(MatchingAccessMixin, View):
    """Pending candidates, best score first (or those of another status), and recent runs."""

    partials = frozenset({"queue-tabs", "queue", "runs"})

    def get(self, request):
        status = request.GET.get("status", MatchCandidate.Status.PENDING)
        if status not in STATUSES:
            status = MatchCandidate.Status.PENDING
        page = Paginator(
            candidate_list(status=status).select_related("profile_a", "profile_b"), PER_PAGE
        ).get_page(request.GET.get("page"))
        auto, review = match_thresholds()
        context = {
            "status": status,
            "status_label": MatchCandidate.Status(status).label,
            "statuses": [
                (value, MatchCandidate.Status(value).label, count)
                for value, count in candidate_status_counts().items()
            ],
            "page": page,
            "rows": [candidate_row(candidate) for candidate in page],
            "auto_threshold": auto,
            "review_threshold": review,
            **_runs_context(),
        }
        template = "profiles/matching/queue.html"
        if partial := _target(request, self.partials):
            template = f"{template}#{partial}"
        return render(request, template, context)


class MatchCandidateView(MatchingAccessMixin, View):
    """Both profiles side by side with the field-by-field explanation of the score."""

    def get(self, request, pk: int):
        candidate = get_object_or_404(MatchCandidate, pk=pk)
        return render(request, "profiles/matching/candidate.html", _candidate_context(candidate))


def _candidate_context(candidate: MatchCandidate, **extra) -> dict:
    sides = candidate_sides(candidate)
    explanation = candidate.explanation or {}
    fields = explanation.get("fields") or []
    widest = max([abs(f["weight"]) for f in fields] + [1])
    traits_a, traits_b = dict(sides[0].traits), dict(sides[1].traits)
    return {
        "candidate": candidate,
        "a": sides[0],
        "b": sides[1],
        "differing": {
            k for k in traits_a.keys() | traits_b.keys() if traits_a.get(k) != traits_b.get(k)
        },
        "fields": [{**f, "bar": round(100 * abs(f["weight"]) / widest)} for f in fields],
        "explanation": explanation,
        "conflicts": candidate_conflicts(sides, identity_limits()),
        "merge_entry": candidate_merge_entry(candidate)
        if candidate.status in (MatchCandidate.Status.APPROVED, MatchCandidate.Status.AUTO_MERGED)
        else None,
        **extra,
    }


class _DecisionView(MatchingAccessMixin, View):
    verb = ""

    def decide(self, candidate: MatchCandidate, user) -> MatchCandidate:
        raise NotImplementedError

    def post(self, request, pk: int):
        candidate = get_object_or_404(MatchCandidate, pk=pk)
        error = None
        try:
            candidate = self.decide(candidate, request.user)
        except MatchReviewError as exc:
            error = str(exc)
            candidate.refresh_from_db()
        if not request.htmx:
            if error:
                messages.error(request, error)
            else:
                messages.success(request, f"Candidate {candidate.pk} {self.verb}.")
            return redirect("profiles:matching-candidate", pk=candidate.pk)
        if request.htmx.target == f"candidate-{candidate.pk}":
            context = {"row": candidate_row(candidate), "error": error, "decided": error is None}
            response = render(request, "profiles/matching/queue.html#row", context)
        else:
            context = _candidate_context(candidate, error=error, decided=error is None)
            response = render(request, "profiles/matching/candidate.html#decision", context)
        response["HX-Trigger"] = DECIDED
        return response


class MatchApproveView(_DecisionView):
    verb = "approved: the profiles are merged"

    def decide(self, candidate, user):
        return match_candidate_approve(candidate=candidate, user=user)


class MatchRejectView(_DecisionView):
    verb = "rejected: it will not be proposed again"

    def decide(self, candidate, user):
        return match_candidate_reject(candidate=candidate, user=user)


class MatchRunsView(MatchingAccessMixin, View):
    """The run history (polled while a run waits or works); POST queues a run now."""

    def get(self, request):
        if not request.htmx:
            context = {"runs": match_run_list(limit=50)}
            return render(request, "profiles/matching/runs.html", context)
        context = _runs_context()
        response = render(request, "profiles/matching/queue.html#runs", context)
        if request.GET.get("polling") and context["active_run"] is None:
            response["HX-Trigger"] = RUN_FINISHED  # a run just finished: new candidates to show
        return response

    def post(self, request):
        run = match_run_request(user=request.user)
        if not request.htmx:
            messages.success(request, f"Matching run {run.pk} queued.")
            return redirect("profiles:matching-queue")
        return render(request, "profiles/matching/queue.html#runs", _runs_context())
