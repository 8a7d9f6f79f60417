"""Probabilistic matching as a background task (django-q2): daily by schedule, or on demand."""


def run_matching(run_id: int | None = None) -> dict:
    """Run matching (the queued run `run_id`, or a new scheduled one); returns its counts."""
    from profiles.models import MatchRun
    from profiles.services.matching import matching_run

    run = MatchRun.objects.filter(pk=run_id).first() if run_id is not None else None
    if run_id is not None and (run is None or run.status != MatchRun.Status.QUEUED):
        return {"run": run_id, "status": "not queued"}
    run = matching_run(run=run)
    return {
        "run": run.pk,
        "status": run.status,
        "profiles": run.profiles,
        "pairs": run.pairs,
        "merges": run.merges,
        "candidates": run.candidates,
    }
