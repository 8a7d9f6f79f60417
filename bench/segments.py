"""Segments benchmark: compiled starter templates next to hand-written SQL, preview latency, and
the real-time lag from an event received to the membership changed, in one run.

    .venv/bin/python bench/segments.py --profiles 100000 --events 1000000 --lag-events 50

On a throwaway embedded PostgreSQL (its own data folder, deleted at the end) it migrates, loads
`--profiles` profiles (with user_id and email identities) and `--events` events of a subscription
software business by COPY, recomputes computed traits with the platform's own SQL and ANALYZEs.
For each starter template it times the compiled query (segment_queryset: count and id list) and a
hand-written SQL of the same meaning, warm, median of 5, asserts both return the same ids, and
times segment_preview. Then it starts a real django-q2 worker (`manage.py qcluster`) with one
real-time segment, posts events through the collection service, and polls the membership table
until each profile enters: p50 / p95 of the lag. `--explain` prints EXPLAIN ANALYZE of both forms.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261120
RATIO_GOAL = 1.3
LAG_GOAL_P95 = 5.0


# --- The four starter templates, and the same meaning written by hand -----------------------------

# Written the way one would by hand: set-based, starting from the events that matter. Keyed by the
# starter's key in segments.domain.templates; the bench refuses a starter without one.
CONSENTED = """
    p.consent -> 'email_marketing' -> 'granted' = 'true'::jsonb
    AND NOT coalesce(left(p.consent -> 'email_marketing' ->> 'expires_at', 10) < %(today)s, false)
"""
HAND_SQL = {
    "high-value-browsers": """
        WITH viewers AS (
          SELECT profile_id FROM profiles_event
          WHERE name = 'Product Viewed' AND timestamp >= %(since_7d)s
          GROUP BY profile_id HAVING count(*) >= 3)
        SELECT p.id FROM profiles_profile p JOIN viewers v ON v.profile_id = p.id
        WHERE p.merged_into_id IS NULL
          AND jsonb_typeof(p.computed -> 'lifetime_value') = 'number'
          AND (p.computed ->> 'lifetime_value')::numeric >= 200
          AND NOT EXISTS (
            SELECT 1 FROM profiles_event o WHERE o.profile_id = p.id
              AND o.name = 'Order Completed' AND o.timestamp >= %(since_7d)s)
    """,
    "cart-abandoners": """
        SELECT DISTINCT a.profile_id FROM profiles_event a
        JOIN profiles_profile p ON p.id = a.profile_id
        WHERE a.name = 'Product Added' AND a.timestamp >= %(since_1d)s
          AND p.merged_into_id IS NULL
          AND NOT EXISTS (
            SELECT 1 FROM profiles_event o WHERE o.profile_id = a.profile_id
              AND o.name = 'Order Completed' AND o.timestamp > a.timestamp
              AND o.timestamp <= a.timestamp + interval '1 day')
    """,
    "declining-engagement": f"""
        WITH opens AS (
          SELECT profile_id,
                 count(*) FILTER (WHERE timestamp < %(since_31d)s) AS before,
                 count(*) FILTER (WHERE timestamp >= %(since_30d)s) AS recent
          FROM profiles_event
          WHERE name = 'Email Opened' AND timestamp >= %(since_60d)s
          GROUP BY profile_id)
        SELECT p.id FROM profiles_profile p JOIN opens o ON o.profile_id = p.id
        WHERE p.merged_into_id IS NULL AND o.before >= 3 AND o.recent <= 1 AND {CONSENTED}
    """,
    "near-usage-limit": """
        SELECT p.id FROM profiles_profile p
        WHERE p.merged_into_id IS NULL
          AND jsonb_typeof(p.traits -> 'usage_pct') = 'number'
          AND (p.traits ->> 'usage_pct')::numeric >= 80
          AND coalesce(p.traits ->> 'plan', '') <> ''
    """,
}
REALTIME_TEMPLATE = "high-value-browsers"


def starter_templates() -> dict[str, tuple[str, dict]]:
    """{key: (name, definition)} of the app's starter templates (segments.domain.templates)."""
    from segments.domain.templates import STARTERS

    missing = [s.key for s in STARTERS if s.key not in HAND_SQL]
    if missing:
        raise SystemExit(f"no hand-written SQL for the starter templates {missing}")
    return {s.key: (s.name, s.definition) for s in STARTERS}


# --- A subscription software business ------------------------------------------------------------

PLANS = [("free", 0.55), ("starter", 0.2), ("growth", 0.15), ("pro", 0.1)]
LIMITS = {"starter": 1_000, "growth": 10_000, "pro": 100_000}
PRODUCTS = [
    ("ADD-STOR-100", "Extra storage 100 GB", "Add-ons", 29.0),
    ("ADD-SEATS-5", "Five extra seats", "Add-ons", 75.0),
    ("ADD-SSO", "Single sign-on", "Security", 120.0),
    ("ADD-AUDIT", "Audit log retention", "Security", 60.0),
    ("SVC-ONBOARD", "Guided onboarding", "Services", 250.0),
    ("SVC-TRAIN", "Team training day", "Services", 400.0),
    ("HW-KEY", "Hardware security key", "Hardware", 45.0),
    ("BOOK-API", "API handbook (print)", "Books", 19.0),
]
PAGES = [("/pricing", "Pricing"), ("/docs", "Docs"), ("/", "Home"), ("/changelog", "Changelog")]
COUNTRIES = ["GB", "US", "DE", "FR", "NL", "IE", "ES", "SE"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example"]


def name_pools(rng: random.Random) -> tuple[list[str], list[str]]:
    from faker import Faker

    fake = Faker(["en_GB", "en_US", "de_DE", "fr_FR"])
    fake.seed_instance(rng.randrange(2**32))
    firsts = sorted({fake.first_name() for _ in range(1500)})
    lasts = sorted({fake.last_name() for _ in range(3000)})
    return firsts, lasts


def make_people(count: int, rng: random.Random, now: datetime) -> list[dict]:
    firsts, lasts = name_pools(rng)
    plans, weights = zip(*PLANS, strict=True)
    people = []
    for n in range(1, count + 1):
        first, last = rng.choice(firsts), rng.choice(lasts)
        plan = rng.choices(plans, weights)[0]
        status = "none" if plan == "free" else ("active" if rng.random() < 0.9 else "past_due")
        consent = {}
        roll = rng.random()
        if roll < 0.8:
            granted = roll < 0.62
            entry = {"granted": granted, "at": (now - timedelta(days=rng.randint(1, 300)))
                     .isoformat(), "source": 1}  # fmt: skip
            if granted and rng.random() < 0.05:
                entry["expires_at"] = (now - timedelta(days=rng.randint(1, 30))).date().isoformat()
            consent["email_marketing"] = entry
        local = f"{first}.{last}{n}".lower().replace(" ", "").replace("'", "")  # unique
        utilisation = rng.betavariate(2, 3) * 1.6
        traits = {
            "email": f"{local}@{rng.choice(DOMAINS)}",
            "firstName": first,
            "lastName": last,
            "plan": plan,
            "country": rng.choice(COUNTRIES),
            "subscription": {"status": status, "seats": rng.randint(1, 25)},
        }
        if plan != "free":  # reported by the billing system: share of the plan's allowance used
            traits["usage_pct"] = round(utilisation * 100, 1)
        people.append(
            {
                "id": n,
                "traits": traits,
                "consent": consent,
                "plan": plan,
                "persona": rng.choices(["steady", "declining", "ramping"], [70, 15, 15])[0],
                "weight": rng.lognormvariate(0, 0.9),
                "utilisation": utilisation,
                "opens": rng.choice([0.02, 0.08, 0.15, 0.35]),  # how keen on our emails
                "span": rng.uniform(14, 90),
            }
        )
    return people


def _age_days(person: dict, rng: random.Random) -> float:
    span = person["span"]
    if person["persona"] == "declining" and rng.random() < 0.92:
        return 30 + rng.betavariate(1.3, 2) * 60
    if person["persona"] == "ramping":
        return min(rng.expovariate(1 / 5), span)
    return rng.uniform(0, span)


def _event(person: dict, rng: random.Random) -> tuple[str, str, dict]:
    """(type, name, properties) of one event of this person."""
    if rng.random() < person["opens"]:
        props = {"campaign": rng.choice(["onboarding-3", "spring-launch", "usage-tips"]),
                 "subject": "Your workspace this week"}  # fmt: skip
        return "track", "Email Opened", props
    roll = rng.random()
    paid = person["plan"] != "free"
    if roll < 0.30:
        sku, title, category, price = rng.choice(PRODUCTS)
        props = {"product_id": sku, "sku": sku, "name": title, "category": category,
                 "price": price, "currency": "GBP"}  # fmt: skip
        return "track", "Product Viewed", props
    if roll < 0.38:
        sku, title, category, price = rng.choice(PRODUCTS)
        props = {"product_id": sku, "sku": sku, "name": title, "category": category,
                 "price": price, "quantity": rng.randint(1, 3), "currency": "GBP"}  # fmt: skip
        return "track", "Product Added", props
    if roll < 0.41:
        items = [rng.choice(PRODUCTS) for _ in range(rng.randint(1, 3))]
        total = round(sum(item[3] for item in items), 2)
        props = {
            "order_id": f"O-{rng.getrandbits(40):010x}",
            "total": total,
            "revenue": round(total / 1.2, 2),
            "tax": round(total - total / 1.2, 2),
            "currency": "GBP",
            "products": [{"product_id": sku, "price": price} for sku, _, _, price in items],
        }
        return "track", "Order Completed", props
    if roll < 0.59 and paid:
        limit = LIMITS[person["plan"]]
        units = max(1, int(limit * person["utilisation"] / 8 * rng.uniform(0.6, 1.4)))
        return "track", "Usage Reported", {"units": units, "metric": "api_calls"}
    if roll < 0.645:
        path, title = rng.choice(PAGES)
        props = {"path": path, "title": title, "url": f"https://app.example.com{path}"}
        return "page", title, props
    if roll < 0.65 and person["plan"] in ("starter", "growth"):
        target = "growth" if person["plan"] == "starter" else "pro"
        return "track", "Plan Upgraded", {"from": person["plan"], "to": target}
    props = {"method": rng.choice(["password", "google", "sso"]),
             "platform": rng.choice(["web", "web", "ios", "android"])}  # fmt: skip
    return "track", "Signed In", props


def _context(rng: random.Random) -> dict:
    return {
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "locale": rng.choice(["en-GB", "en-US", "de-DE", "fr-FR"]),
    }


def lag_events(person: dict, now: datetime) -> list[tuple[str, str, dict, datetime]]:
    """A profile one product view short of the high-value-browsers template."""
    order = {"order_id": f"O-lag-{person['id']}", "revenue": 150.0, "total": 180.0,
             "currency": "GBP"}  # fmt: skip
    view = {"product_id": "ADD-SSO", "name": "Single sign-on", "price": 120.0}
    return [
        ("track", "Order Completed", order, now - timedelta(days=20)),
        ("track", "Order Completed", {**order, "order_id": order["order_id"] + "b"},
         now - timedelta(days=35)),
        ("track", "Product Viewed", view, now - timedelta(days=2)),
        ("track", "Product Viewed", view, now - timedelta(days=3)),
        ("track", "Signed In", {"method": "password", "platform": "web"},
         now - timedelta(days=12)),
    ]  # fmt: skip


# --- Loading by COPY -----------------------------------------------------------------------------

EVENT_COLUMNS = (
    "source_id, message_id, type, name, user_id, anonymous_id, timestamp, sent_at, received_at, "
    "properties, traits, context, integrations, extra, violations, processed_at, profile_id, "
    "origin_profile_id"
)
PROFILE_COLUMNS = (
    "id, traits, trait_lineage, computed, consent, first_seen, last_seen, created_at, updated_at"
)
IDENTITY_COLUMNS = "id_type, value, profile_id, origin_profile_id, source_id, first_seen, last_seen"


def load(args, source_id: int, now: datetime) -> tuple[list[dict], float]:
    """Generate and COPY profiles, identities and events; returns (lag people, seconds)."""
    from django.db import connection

    rng = random.Random(SEED)
    began = time.monotonic()
    people = make_people(args.profiles, rng, now)
    lag_people = rng.sample(people, args.lag_events + 10)
    lag_ids = {p["id"] for p in lag_people}
    others = [p for p in people if p["id"] not in lag_ids]
    budget = args.events - sum(len(lag_events(p, now)) for p in lag_people)
    counts = Counter(
        p["id"] for p in rng.choices(others, weights=[p["weight"] for p in others], k=budget)
    )
    by_id = {p["id"]: p for p in people}
    seen: dict[int, list[datetime]] = {}
    json = orjson.dumps
    empty = "{}"

    def event_rows():
        n = 0
        for person in people:
            pid = person["id"]
            if pid in lag_ids:
                events = lag_events(person, now)
            else:
                events = []
                for _ in range(counts.get(pid, 0)):
                    kind, name, props = _event(person, rng)
                    age = timedelta(days=_age_days(person, rng), seconds=rng.randrange(86400))
                    events.append((kind, name, props, now - min(age, timedelta(days=90))))
            if not events:
                continue
            stamps = [e[3] for e in events]
            seen[pid] = [min(stamps), max(stamps)]
            for kind, name, props, ts in events:
                n += 1
                yield (
                    source_id, f"{uuid.UUID(int=rng.getrandbits(128))}", kind, name,
                    f"user-{pid}", f"anon-{pid}", ts, ts, ts + timedelta(seconds=1),
                    json(props).decode(), empty, json(_context(rng)).decode(), empty, empty,
                    "[]", ts + timedelta(seconds=2), pid, pid,
                )  # fmt: skip
        assert n == args.events, (n, args.events)

    raw = connection.connection
    # One transaction: the foreign keys are deferred, so events can go in before their profiles
    # (whose first and last seen times are known once their events are made).
    with raw.transaction(), raw.cursor() as cursor:
        with cursor.copy(f"COPY profiles_event ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for row in event_rows():
                copy.write_row(row)
        events_done = time.monotonic()
        with cursor.copy(f"COPY profiles_profile ({PROFILE_COLUMNS}) FROM STDIN") as copy:
            for person in people:
                first, last = seen.get(person["id"], [now, now])
                copy.write_row(
                    (person["id"], json(person["traits"]).decode(), empty, empty,
                     json(person["consent"]).decode(), first, last, first, last)
                )  # fmt: skip
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('profiles_profile', 'id'), %s)", [len(people)]
        )
        with cursor.copy(f"COPY profiles_identity ({IDENTITY_COLUMNS}) FROM STDIN") as copy:
            for person in people:
                first, last = seen.get(person["id"], [now, now])
                pid = person["id"]
                copy.write_row(("user_id", f"user-{pid}", pid, pid, source_id, first, last))
                email = person["traits"]["email"]
                copy.write_row(("email", email, pid, pid, source_id, first, last))
    print(
        f"loaded {args.events:,} events by COPY in {events_done - began:.1f}s "
        f"({args.events / (events_done - began):,.0f} rows/s, generation included), "
        f"{len(people):,} profiles and {2 * len(people):,} identities"
    )
    return [by_id[p["id"]] for p in lag_people], time.monotonic() - began


def check_json_objects() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE jsonb_typeof(properties) <> 'object' "
            "OR jsonb_typeof(context) <> 'object' OR jsonb_typeof(traits) <> 'object'), "
            "count(*) FROM profiles_event"
        )
        bad_events, total = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FILTER (WHERE jsonb_typeof(traits) <> 'object' "
            "OR jsonb_typeof(consent) <> 'object' OR jsonb_typeof(computed) <> 'object') "
            "FROM profiles_profile"
        )
        bad_profiles = cursor.fetchone()[0]
    if bad_events or bad_profiles:
        raise SystemExit(f"jsonb not objects: {bad_events} events, {bad_profiles} profiles")
    print(f"jsonb_typeof check: all {total:,} events and every profile store JSON objects")


def computed_traits(profile_count: int) -> float:
    from django.db import connection

    from profiles.services.processing import computed_refresh

    began = time.monotonic()
    step = 20_000
    for start in range(1, profile_count + 1, step):
        computed_refresh(set(range(start, min(start + step, profile_count + 1))))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE profiles_profile")
        cursor.execute("VACUUM ANALYZE profiles_event")
        cursor.execute("ANALYZE profiles_identity")
    return time.monotonic() - began


# --- Timing --------------------------------------------------------------------------------------


def median_pair(compiled, hand, runs: int = 5) -> tuple[float, float, object, object]:
    """Median ms of each of two functions, run in turn (alternating who goes first) so that both
    see the same load; one warm-up run each first."""
    results = [compiled(), hand()]
    times: list[list[float]] = [[], []]
    for run in range(runs):
        order = (0, 1) if run % 2 == 0 else (1, 0)
        for which in order:
            began = time.perf_counter()
            results[which] = (compiled, hand)[which]()
            times[which].append((time.perf_counter() - began) * 1000)
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1]


def median_ms(fn, runs: int = 5) -> tuple[float, object]:
    result = fn()  # warm
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def hand_params(now: datetime) -> dict:
    return {
        "since_1d": now - timedelta(days=1),
        "since_7d": now - timedelta(days=7),
        "since_30d": now - timedelta(days=30),
        "since_31d": now - timedelta(days=31),
        "since_60d": now - timedelta(days=60),
        "today": now.date().isoformat(),
    }


def run_hand(sql: str, params: dict, *, count: bool) -> object:
    from django.db import connection

    with connection.cursor() as cursor:
        if count:
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS hand", params)
            return cursor.fetchone()[0]
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join("    " + row[0] for row in cursor.fetchall())


def compare_templates(
    templates: dict[str, tuple[str, dict]], now: datetime, *, preview: bool, show_plans: bool
) -> list[dict]:
    from segments.selectors import segment_preview, segment_queryset

    params = hand_params(now)
    rows = []
    for key, (title, definition_) in templates.items():
        compiled = segment_queryset(definition_, now=now)
        sql = HAND_SQL[key]
        c_count_ms, h_count_ms, c_count, h_count = median_pair(
            compiled.count, lambda sql=sql: run_hand(sql, params, count=True)
        )
        c_ids_ms, h_ids_ms, c_ids, h_ids = median_pair(
            lambda q=compiled: sorted(q.values_list("pk", flat=True)),
            lambda sql=sql: run_hand(sql, params, count=False),
        )
        if c_ids != h_ids or c_count != h_count or c_count != len(c_ids):
            missing, extra = set(h_ids) - set(c_ids), set(c_ids) - set(h_ids)
            raise SystemExit(
                f"{key}: compiled and hand-written disagree ({c_count} vs {h_count}); only hand: "
                f"{sorted(missing)[:10]}, only compiled: {sorted(extra)[:10]}"
            )
        line = (
            f"{title:<50} {c_count:>6,} members | count {c_count_ms:7.1f} ms vs hand "
            f"{h_count_ms:7.1f} ms ({c_count_ms / h_count_ms:4.2f}x) | ids {c_ids_ms:7.1f} vs "
            f"{h_ids_ms:7.1f} ms ({c_ids_ms / h_ids_ms:4.2f}x)"
        )
        if preview:
            preview_ms, answer = median_ms(lambda d=definition_: segment_preview(d, now=now))
            assert answer.count == c_count
            line += f" | preview {preview_ms:7.1f} ms"
        print(line, flush=True)
        rows.append({"count": c_count_ms / h_count_ms, "ids": c_ids_ms / h_ids_ms})
        if show_plans:
            compiled_sql, compiled_params = compiled.values("pk").query.sql_with_params()
            print(f"  compiled plan:\n{explain(compiled_sql, compiled_params)}")
            print(f"  hand-written plan:\n{explain(sql, params)}")
    return rows


def load_average() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


# --- Real-time lag -------------------------------------------------------------------------------


def start_worker(log: Path) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "manage.py"), "qcluster"]
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT
        )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def wait_for(condition, timeout: float, what: str, worker: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited ({worker.returncode}):\n{log.read_text()[-3000:]}")
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def realtime_lag(people: list[dict], key: str, samples: int, folder: Path) -> list[float]:
    from django.db import connection

    from profiles.services.collection import events_collect
    from segments.models import Membership, Segment
    from segments.services import segment_create

    title, definition_ = starter_templates()[REALTIME_TEMPLATE]
    segment = segment_create(name=title, definition=definition_)
    log = folder / "qcluster.log"
    connection.close()
    worker = start_worker(log)
    atexit.register(stop_worker, worker)
    try:
        began = time.monotonic()
        wait_for(
            lambda: Segment.objects.filter(pk=segment.pk, last_refreshed_at__isnull=False).exists(),
            180,
            "the first refresh",
            worker,
            log,
        )
        size = Segment.objects.get(pk=segment.pk).size
        print(
            f"worker up; first full refresh of the real-time segment done "
            f"{time.monotonic() - began:.1f}s after start ({size:,} members)"
        )
        lags = []
        for person in people[:samples]:
            pid = person["id"]
            assert not Membership.objects.filter(segment=segment, profile_id=pid).exists()
            message = {
                "type": "track",
                "userId": f"user-{pid}",
                "event": "Product Viewed",
                "messageId": f"lag-{uuid.uuid4()}",
                "timestamp": datetime.now(UTC).isoformat(),
                "properties": {"product_id": "ADD-SSO", "name": "Single sign-on", "price": 120},
            }
            sent = time.monotonic()
            events_collect(
                raw=orjson.dumps(message),
                endpoint="track",
                write_key=key,
                content_type="application/json",
                content_encoding=None,
            )
            wait_for(
                lambda p=pid: Membership.objects.filter(
                    segment=segment, profile_id=p, exited_at__isnull=True
                ).exists(),
                60,
                f"profile {pid} to enter",
                worker,
                log,
            )
            lags.append(time.monotonic() - sent)
            time.sleep(random.uniform(0.05, 0.3))
        return lags
    finally:
        stop_worker(worker)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- Main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lag-events", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cdp-bench-segments-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    # Before Django starts: this run's own embedded PostgreSQL, gone when the run ends.
    os.environ["CDP_PGDATA"] = str(folder / "pgdata")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdpapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)
    from django.conf import settings
    from django.core.management import call_command

    from profiles.models import Source
    from profiles.services.sources import source_create

    settings.DATABASES["default"]["EMBEDDED"]["CLEANUP"] = "delete"
    print(f"machine: {os.cpu_count()} CPUs; PostgreSQL in {folder}")
    call_command("migrate", verbosity=0)
    source, key = source_create(name="App", kind=Source.Kind.WEBSITE, rate_limit_per_second=100_000)
    now = datetime.now(UTC)
    lag_people, _ = load(args, source.pk, now)
    seconds = computed_traits(args.profiles)
    print(f"computed traits (lifetime value, orders...) and VACUUM ANALYZE in {seconds:.1f}s")
    check_json_objects()

    print(
        f"\nstarter templates, warm, median of 5 ({args.profiles:,} profiles, "
        f"{args.events:,} events); goal: compiled at most {RATIO_GOAL}x hand-written; "
        f"{load_average()}"
    )
    templates = starter_templates()
    rows = compare_templates(templates, now, preview=True, show_plans=args.explain)
    worst = max(max(row.values()) for row in rows)
    print(
        f"worst ratio {worst:.2f}x (goal {RATIO_GOAL}x); every compiled id list equals the "
        f"hand-written one; {load_average()}"
    )
    # The same without parallel query: how much of the gap is the plan shape, not parallelism.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    print("\nthe same with max_parallel_workers_per_gather = 0 (no parallel query on either side)")
    rows = compare_templates(templates, now, preview=False, show_plans=False)
    print(f"worst ratio {max(max(row.values()) for row in rows):.2f}x; {load_average()}")
    with connection.cursor() as cursor:
        cursor.execute("RESET max_parallel_workers_per_gather")

    if args.lag_events:
        print(f"\nreal-time lag: {args.lag_events} events posted through events_collect, a "
              "django-q2 worker (qcluster) processing them")  # fmt: skip
        lags = realtime_lag(lag_people, key, args.lag_events, folder)
        p50, p95 = percentile(lags, 0.5), percentile(lags, 0.95)
        print(
            f"event received -> membership entered: p50 {p50:.2f}s, p95 {p95:.2f}s, "
            f"max {max(lags):.2f}s over {len(lags)} events (goal p95 < {LAG_GOAL_P95:.0f}s); "
            f"{load_average()}"
        )


if __name__ == "__main__":
    main()
