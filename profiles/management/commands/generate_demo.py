import csv
import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from profiles.demo.generator import DemoDataset, DemoFile, generate
from profiles.domain.csv_import import message_id
from profiles.domain.messages import parse_timestamp
from profiles.models import ImportJob, Source
from profiles.selectors.imports import import_job_done_for, import_source_named
from profiles.selectors.sources import source_current_key
from profiles.services.collection import RateLimited, RequestRejected, events_collect
from profiles.services.imports import import_job_create, import_job_run
from profiles.services.sources import source_create, source_rotate_key

DEFAULT_CUSTOMERS = 2000
DEFAULT_DAYS = 90
DEFAULT_SEED = 1
BATCH_MESSAGES = 100


class Command(BaseCommand):
    help = (
        "Load a believable retail business's demo data: every source's messages through the "
        "collection API's path (batches of at most 100, with the source's write key) and the "
        "offline exports through the CSV importer. Deterministic for a seed and day, so running "
        "it again stores nothing new."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--truth", help="write the ground truth (who is really who) as JSON")
        parser.add_argument(
            "--now",
            help="when the data ends, ISO 8601 (default: today 00:00 UTC; the same day and seed "
            "always give the same data)",
        )

    def handle(self, *args, customers, days, seed, truth, now, **options):
        started = time.monotonic()
        end = self._end(now)
        try:
            dataset = generate(customers=customers, days=days, seed=seed, now=end)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        generated = time.monotonic() - started
        total = sum(len(messages) for messages in dataset.messages.values())
        self.stdout.write(
            f"Demo data: {customers} customers over {days} days up to {end:%Y-%m-%d %H:%M} UTC "
            f"(seed {seed}): {total} messages, {sum(len(f.rows) for f in dataset.files)} CSV rows."
        )
        sources = self._sources(dataset)
        for name, messages in dataset.messages.items():
            if messages:
                source, key = sources[name]
                self._collect(source, key, messages)
        file_ids: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="cdp-demo-") as folder:
            for demo_file in dataset.files:
                file_ids[demo_file.name] = self._import(demo_file, dataset, sources, Path(folder))
        if truth:
            self._write_truth(dataset, file_ids, Path(truth))
        elapsed = time.monotonic() - started
        self.stdout.write(f"Done in {elapsed:.1f} s (generating took {generated:.1f} s).")

    def _end(self, now: str | None) -> datetime:
        if not now:
            today = timezone.now().astimezone(UTC)
            return today.replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            return parse_timestamp(now)
        except ValueError as exc:
            raise CommandError(f"--now: {exc}") from exc

    def _sources(self, dataset: DemoDataset) -> dict[str, tuple[Source, str]]:
        found = {}
        for name, kind in dataset.sources.items():
            source = import_source_named(name)
            if source is None:
                source, key = source_create(name=name, kind=kind)
                self.stdout.write(f"  created source {name} ({kind})")
            else:
                if not source.enabled:
                    raise CommandError(f"Source {name!r} exists but is disabled: enable it first.")
                key = source_current_key(source) or source_rotate_key(source=source)
            found[name] = (source, key)
        return found

    def _collect(self, source: Source, key: str, messages: list[dict[str, Any]]) -> None:
        """Send messages as the HTTP endpoint receives them: JSON batch bodies, the write key."""
        limit = min(source.max_batch_bytes, settings.COLLECT_MAX_BODY_BYTES) - 64
        accepted = duplicates = failed = 0
        for body in _batch_bodies(messages, limit):
            while True:
                try:
                    result = events_collect(
                        raw=body,
                        endpoint="batch",
                        write_key=key,
                        content_type="application/json",
                        content_encoding=None,
                    )
                except RateLimited:
                    time.sleep(1.01 - time.time() % 1)  # the limit counts per second
                    continue
                except RequestRejected as exc:
                    raise CommandError(f"{source.name}: {exc.code}: {exc.message}") from exc
                break
            accepted += result.accepted
            duplicates += result.duplicates
            failed += len(result.failed)
        self.stdout.write(
            f"  {source.name:<18} {len(messages):>7} messages: {accepted} new, "
            f"{duplicates} already stored, {failed} failed"
        )

    def _import(
        self,
        demo_file: DemoFile,
        dataset: DemoDataset,
        sources: dict[str, tuple[Source, str]],
        folder: Path,
    ) -> str:
        """Import one offline export through the CSV importer; returns the file's sha256."""
        name = next(n for n, kind in dataset.sources.items() if kind == demo_file.source_kind)
        source = sources[name][0]
        path = folder / demo_file.name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=demo_file.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(demo_file.rows)
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        label = f"  {demo_file.name:<24} → {name}:"
        done = import_job_done_for(source=source, sha256=sha256)
        if done is not None:
            self.stdout.write(f"{label} already imported (job {done.pk}), nothing to do")
            return sha256
        if not demo_file.rows:
            self.stdout.write(f"{label} no rows")
            return sha256
        with path.open("rb") as handle:
            job = import_job_create(
                source=source,
                file=File(handle, name=demo_file.name),
                mapping=demo_file.mapping,
                name=demo_file.name,
            )
        job = import_job_run(job=job)
        if job.status != ImportJob.Status.DONE:
            raise CommandError(f"Importing {demo_file.name} failed: {job.error}")
        self.stdout.write(
            f"{label} {job.rows_total} rows: {job.accepted} new, {job.duplicates} already "
            f"stored, {job.rejected} rejected (job {job.pk})"
        )
        return sha256

    def _write_truth(self, dataset: DemoDataset, file_ids: dict[str, str], path: Path) -> None:
        """The generator's ground truth; a file row's reference also gets its event's messageId."""
        truth = {
            person: [
                {**ref, "messageId": message_id(file_ids[ref["file"]], ref["row"] + 1)}
                if "file" in ref
                else ref
                for ref in entries
            ]
            for person, entries in dataset.truth.items()
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(truth, indent=1, ensure_ascii=False))
        self.stdout.write(f"Ground truth for {len(truth)} people written to {path}")


def _batch_bodies(messages: list[dict[str, Any]], max_bytes: int):
    """JSON bodies {"batch": [...]} of at most BATCH_MESSAGES messages and `max_bytes` bytes."""
    parts: list[bytes] = []
    size = 0
    for message in messages:
        encoded = orjson.dumps(message)
        if parts and (len(parts) == BATCH_MESSAGES or size + len(encoded) + 1 > max_bytes):
            yield b'{"batch":[' + b",".join(parts) + b"]}"
            parts, size = [], 0
        parts.append(encoded)
        size += len(encoded) + 1
    if parts:
        yield b'{"batch":[' + b",".join(parts) + b"]}"
