import time

from django.core.management.base import BaseCommand, CommandError

from profiles.models import MatchRun
from profiles.services.matching import matching_run
from profiles.services.processing import events_process_pending


class Command(BaseCommand):
    help = (
        "Run identity resolution now: process every collected event not yet turned into profiles "
        "(deterministic resolution on shared identifiers) and, with --probabilistic, run "
        "probabilistic matching over the active profiles. Prints the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--probabilistic",
            action="store_true",
            help="also run probabilistic matching (auto-merges and review candidates)",
        )
        parser.add_argument(
            "--auto-merge-threshold",
            type=float,
            help="merge pairs at or above this match probability (default: MATCH_AUTO_MERGE)",
        )
        parser.add_argument(
            "--review-threshold",
            type=float,
            help="propose pairs at or above this for review (default: MATCH_REVIEW)",
        )

    def handle(self, *args, probabilistic, auto_merge_threshold, review_threshold, **options):
        started = time.monotonic()
        events = 0
        while done := events_process_pending(budget_seconds=60.0):
            events += done
        self.stdout.write(f"Events processed: {events} ({time.monotonic() - started:.1f} s)")
        if not probabilistic:
            return
        try:
            run = matching_run(
                trigger=MatchRun.Trigger.COMMAND,
                auto_merge_threshold=auto_merge_threshold,
                review_threshold=review_threshold,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if run.status == MatchRun.Status.SKIPPED:
            raise CommandError("Another matching run is in progress; try again when it ends.")
        self.stdout.write(
            f"Matching run {run.pk}: {run.profiles} profiles compared in {run.pairs} pairs, "
            f"{run.merges} merged automatically (p >= {run.auto_merge_threshold}), "
            f"{run.candidates} proposed for review (p >= {run.review_threshold}), "
            f"{run.held_for_review} of them held back from auto-merge by a conflict, "
            f"{run.skipped_rejected} rejected before ({run.seconds:.1f} s)"
        )
