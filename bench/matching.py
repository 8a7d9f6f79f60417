"""Identity matching benchmark: accuracy of the resulting profiles against the demo ground truth.

    .venv/bin/python bench/matching.py --customers 10000 --days 30

On a throwaway embedded PostgreSQL (its own data folder, deleted at the end) it generates the
demo business (profiles.demo.generator), loads it through the real path (every source's messages
through events_collect in batches with the source's write key, the CSV exports through the CSV
import service), runs the processor (deterministic resolution), then one probabilistic matching
run at the configured thresholds. After each stage it scores the profiles against the generator's
ground truth: pairwise precision, recall and F1 over records (every message and CSV row), i.e.
over the pairs of records put in one profile, and how many people are split over several profiles
or share one. Rows:
- deterministic only: after the processor;
- + automatic merges: after the matching run (p >= auto-merge threshold, guards applied);
- if no guard held pairs back: the held-back pairs above the auto threshold merged too (what the
  model alone would have done);
- + review candidates accepted: every pending candidate (p >= review threshold) approved.
It also prints the precision of the merges and candidates themselves (a merge is right when both
profiles belong to the same person) and the time of each step.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 1, tzinfo=UTC)
BATCH_MESSAGES = 100


def batch_bodies(messages: list[dict], max_bytes: int):
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


class Clock:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float, str]] = []

    def step(self, name: str, started: float, detail: str = "") -> None:
        seconds = time.monotonic() - started
        self.steps.append((name, seconds, detail))
        print(f"  {name}: {seconds:.1f} s {detail}", flush=True)


def load(dataset, folder: Path, clock: Clock) -> dict[str, str]:
    """Messages through the collection service, files through the CSV import service."""
    from django.conf import settings
    from django.core.files import File

    from profiles.models import ImportJob
    from profiles.services.collection import events_collect
    from profiles.services.imports import import_job_create, import_job_run
    from profiles.services.sources import source_create

    sources = {
        name: source_create(name=name, kind=kind, rate_limit_per_second=1_000_000)
        for name, kind in dataset.sources.items()
    }
    started = time.monotonic()
    total = 0
    for name, messages in dataset.messages.items():
        source, key = sources[name]
        limit = min(source.max_batch_bytes, settings.COLLECT_MAX_BODY_BYTES) - 64
        for body in batch_bodies(messages, limit):
            result = events_collect(
                raw=body,
                endpoint="batch",
                write_key=key,
                content_type="application/json",
                content_encoding=None,
            )
            assert not result.failed, result.failed[:3]
        total += len(messages)
    clock.step("collect", started, f"({total} messages, {rate(total, started)})")

    started = time.monotonic()
    file_ids: dict[str, str] = {}
    rows = 0
    for demo_file in dataset.files:
        name = next(n for n, kind in dataset.sources.items() if kind == demo_file.source_kind)
        path = folder / demo_file.name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=demo_file.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(demo_file.rows)
        file_ids[demo_file.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        with path.open("rb") as handle:
            job = import_job_create(
                source=sources[name][0],
                file=File(handle, name=demo_file.name),
                mapping=demo_file.mapping,
                name=demo_file.name,
            )
        job = import_job_run(job=job)
        assert job.status == ImportJob.Status.DONE, job.error
        assert job.rejected == 0, job.rejected
        rows += job.rows_total
    clock.step("CSV import", started, f"({rows} rows, {rate(rows, started)})")
    return file_ids


def rate(count: int, started: float) -> str:
    return f"{count / max(time.monotonic() - started, 1e-9):.0f}/s"


def record_people(dataset, file_ids: dict[str, str]) -> dict[tuple[str, str], str]:
    """(source name, messageId) -> person, for every message and CSV row of the ground truth."""
    from profiles.domain.csv_import import message_id

    file_source = {
        f.name: next(n for n, kind in dataset.sources.items() if kind == f.source_kind)
        for f in dataset.files
    }
    people = {}
    for person, entries in dataset.truth.items():
        for ref in entries[1:]:
            if "file" in ref:
                key = (file_source[ref["file"]], message_id(file_ids[ref["file"]], ref["row"] + 1))
            else:
                key = (ref["source"], ref["messageId"])
            people[key] = person
    return people


def record_profiles() -> dict[tuple[str, str], int | None]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.name, e.message_id, e.profile_id FROM profiles_event e "
            "JOIN profiles_source s ON s.id = e.source_id"
        )
        return {(name, mid): profile for name, mid, profile in cursor.fetchall()}


def pair_count(n: int) -> int:
    return n * (n - 1) // 2


def score(people: dict, clusters: dict) -> dict:
    """Pairwise precision, recall, F1 over records; people split; profiles shared."""
    cell: Counter = Counter()
    by_cluster: Counter = Counter()
    by_person: Counter = Counter()
    persons_of_cluster = defaultdict(set)
    clusters_of_person = defaultdict(set)
    for index, (record, person) in enumerate(people.items()):
        cluster = clusters.get(record)
        if cluster is None:
            cluster = ("alone", index)  # a record without a profile is its own cluster
        cell[cluster, person] += 1
        by_cluster[cluster] += 1
        by_person[person] += 1
        persons_of_cluster[cluster].add(person)
        clusters_of_person[person].add(cluster)
    tp = sum(pair_count(n) for n in cell.values())
    predicted = sum(pair_count(n) for n in by_cluster.values())
    true = sum(pair_count(n) for n in by_person.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "split": sum(1 for c in clusters_of_person.values() if len(c) > 1),
        "shared": sum(1 for p in persons_of_cluster.values() if len(p) > 1),
        "profiles": len(by_cluster),
    }


def majority(people: dict, clusters: dict) -> dict[int, str]:
    """Each profile's person: the one most of its records belong to."""
    counts: dict[int, Counter] = defaultdict(Counter)
    for record, person in people.items():
        if (cluster := clusters.get(record)) is not None:
            counts[cluster][person] += 1
    return {cluster: c.most_common(1)[0][0] for cluster, c in counts.items()}


def merged(clusters: dict, pairs: list[tuple[int, int]]) -> dict:
    """`clusters` with the profiles of `pairs` joined (union-find)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {record: (find(c) if c is not None else None) for record, c in clusters.items()}


def pair_precision(pairs: list[tuple[int, int]], person_of: dict[int, str]) -> tuple[int, int]:
    right = sum(1 for a, b in pairs if person_of.get(a) == person_of.get(b))
    return right, len(pairs)


def export(path: Path, person_of: dict[int, str]) -> None:
    from dataclasses import asdict

    from profiles.selectors.matching import match_records

    records = [{**asdict(r), "person": person_of.get(r.key)} for r in match_records()]
    path.write_bytes(orjson.dumps(records))
    print(f"  exported {len(records)} matcher records to {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--auto", type=float, help="auto-merge threshold (default: settings)")
    parser.add_argument("--review", type=float, help="review threshold (default: settings)")
    parser.add_argument(
        "--export",
        metavar="FILE",
        help="write the matcher's input records (after the processor) with each profile's "
        "person, as JSON, for bench/matching_splink.py",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["CDP_PGDATA"] = str(folder / "pgdata")
    os.environ["CDP_VAR_DIR"] = str(folder / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdpapp.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from profiles.demo.generator import generate
    from profiles.models import MatchCandidate, MergeEntry
    from profiles.services.matching import matching_run
    from profiles.services.processing import events_process_pending

    settings.DATABASES["default"]["EMBEDDED"]["CLEANUP"] = "delete"
    print(f"machine: {os.cpu_count()} CPUs; PostgreSQL in {folder}", flush=True)
    call_command("migrate", verbosity=0)
    clock = Clock()

    started = time.monotonic()
    dataset = generate(customers=args.customers, days=args.days, seed=args.seed, now=NOW)
    twins = sum(1 for entries in dataset.truth.values() if "duplicate_identifiers" in entries[0])
    clock.step(
        "generate",
        started,
        f"({args.customers} people, {twins} of them also under a second identity)",
    )
    file_ids = load(dataset, folder, clock)

    started = time.monotonic()
    events = 0
    while done := events_process_pending(budget_seconds=3600):
        events += done
    clock.step("processor", started, f"({events} events, {rate(events, started)})")

    people = record_people(dataset, file_ids)
    before = record_profiles()
    person_of = majority(people, before)
    rows = [("deterministic only", score(people, before))]
    if args.export:
        export(Path(args.export), person_of)

    started = time.monotonic()
    run = matching_run(auto_merge_threshold=args.auto, review_threshold=args.review)
    clock.step(
        "matching run",
        started,
        f"({run.profiles} profiles, {run.pairs} pairs compared, {run.merges} merged, "
        f"{run.candidates} for review; stages {run.model.get('seconds')})",
    )
    after = record_profiles()
    rows.append((f"+ automatic merges (p >= {run.auto_merge_threshold})", score(people, after)))

    auto_pairs = list(
        MergeEntry.objects.filter(reason="probabilistic").values_list("survivor_id", "absorbed_id")
    )
    pending = list(
        MatchCandidate.objects.filter(status="pending").values_list(
            "profile_a_id", "profile_b_id", "score", "explanation"
        )
    )
    held = [(a, b) for a, b, p, e in pending if p >= run.auto_merge_threshold and "run" in e]
    review = [(a, b) for a, b, _, _ in pending]
    rows.append(("if no guard held pairs back", score(people, merged(after, held))))
    rows.append(
        (f"+ review candidates accepted (p >= {run.review_threshold})",
         score(people, merged(after, review)))
    )  # fmt: skip

    print()
    print(f"{'':<44} {'precision':>10} {'recall':>8} {'F1':>8} {'split':>6} {'shared':>7}")
    for name, m in rows:
        print(
            f"{name:<44} {m['precision']:>10.5f} {m['recall']:>8.5f} {m['f1']:>8.5f} "
            f"{m['split']:>6} {m['shared']:>7}"
        )
    print("(split: people spread over several profiles; shared: profiles holding several people)")
    print()
    for label, pairs in (
        ("automatic merges", auto_pairs),
        ("held back by a guard (p >= auto)", held),
        ("review candidates", review),
    ):
        right, total = pair_precision(pairs, person_of)
        share = f"{right / total:.4f}" if total else "n/a"
        print(f"{label}: {right}/{total} join one person (precision {share})")
    reasons = Counter(
        reason
        for _, _, p, e in pending
        if p >= run.auto_merge_threshold
        for reason in e.get("review_because", [])
    )
    print(f"guards that held pairs back: {dict(reasons)}")
    print()
    print("time per step:")
    for name, seconds, detail in clock.steps:
        print(f"  {name:<14} {seconds:>8.1f} s  {detail}")


if __name__ == "__main__":
    main()
