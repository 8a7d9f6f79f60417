"""The home page's figures: each role sees exactly its own, the numbers are right, and the tiles
that need someone are marked."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from cdpapp import selectors
from cdpapp.roles import Role
from cdpapp.selectors import Figure, home_figures
from privacy.models import DataSubjectRequest
from privacy.services.consent import consent_record
from privacy.services.requests import request_create, request_reject
from profiles.models import Event, FailedEvent, MatchCandidate, Profile
from profiles.services.failed_events import failed_event_discard
from profiles.services.merges import profile_merge
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from segments.services import segment_archive, segment_create, segment_refresh
from tests.collect import send

pytestmark = pytest.mark.django_db

SEES = {
    "analyst": ["profiles", "events", "processing", "segments"],
    "marketer": ["profiles", "events", "processing", "segments"],
    "admin": [
        "profiles",
        "events",
        "processing",
        "segments",
        "reviews",
        "consent_conflicts",
        "requests",
        "failed_events",
    ],
}
TILE = re.compile(
    r'<(?P<tag>a|div)(?: href="(?P<url>[^"]*)")? id="figure-(?P<key>\w+)" class="(?P<cls>[^"]*)">'
    r"(?P<body>.*?)</(?P=tag)>",
    re.S,
)


def tiles(response) -> dict[str, dict]:
    """The figure tiles of a rendered home page, by key, in page order."""
    assert response.status_code == 200
    html = response.content.decode()
    return {
        m["key"]: {
            "url": m["url"],
            "attention": "attention" in m["cls"].split(),
            "text": " ".join(re.sub(r"<[^>]+>", " ", m["body"]).split()),
        }
        for m in TILE.finditer(html)
    }


def by_key(figures: list[Figure]) -> dict[str, Figure]:
    return {figure.key: figure for figure in figures}


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def segment_definition(trait: str, value: str) -> dict:
    condition = {"id": "c", "type": "trait", "trait": trait, "operator": "equals", "value": value}
    return {
        "version": 1,
        "root": {"id": "root", "type": "group", "op": "and", "children": [condition]},
    }


@pytest.fixture
def world(monkeypatch):
    """A small shop after a day of work, each figure known:
    - profiles: Ann, Ann's work account (merged into Ann: a consent conflict), Bob, Cy: 3 active;
    - events: 4 identify and a product view, one of them moved 2 days back: 4 in the last 24 h;
    - failed events: 3 tracks without a name, one discarded, one 2 days old: 1 waiting;
    - segments: Bobs, Cys, Broken (its refresh failed), Old (failed, archived): 3 live, 1 failed;
    - review queue: Bob~Cy pending, Ann~Cy rejected: 1 pending;
    - requests: Bob's access (open), Cy's erasure (open, past its deadline), a rejected one.
    """
    _, key = source_create(name="Web", kind="website")
    now = timezone.now().isoformat()
    people = ("u-ann", "u-ann-work", "u-bob", "u-cy")
    send(
        key,
        *(
            {"type": "identify", "userId": user, "messageId": f"id-{user}", "timestamp": now,
             "traits": {"firstName": user[2:].split("-")[0].title()}}
            for user in people
        ),
        {"type": "track", "event": "Product Viewed", "userId": "u-bob", "messageId": "view",
         "timestamp": now},
        *(
            {"type": "track", "userId": "u-cy", "messageId": f"nameless-{n}", "timestamp": now}
            for n in range(3)
        ),
    )  # fmt: skip
    events_process_pending()
    two_days_ago = days_ago(2)  # received and processed then
    Event.objects.filter(message_id="id-u-cy").update(
        received_at=two_days_ago, processed_at=two_days_ago
    )
    nameless = FailedEvent.objects.order_by("pk")
    failed_event_discard(failed_event=nameless[1])
    FailedEvent.objects.filter(pk=nameless[2].pk).update(received_at=days_ago(2))

    ann, work, bob, cy = (Profile.objects.get(identities__value=user) for user in people)
    for profile, status, days in ((ann, "granted", 2), (work, "withdrawn", 4)):
        consent_record(
            profile=profile, purpose="email_marketing", status=status, channel="api",
            at=days_ago(days),
        )  # fmt: skip
    profile_merge(survivor=ann, absorbed=work, reason="manual")

    segment_create(name="Bobs", definition=segment_definition("firstName", "Bob"))
    segment_create(name="Cys", definition=segment_definition("firstName", "Cy"))
    broken = segment_create(name="Broken", definition=segment_definition("firstName", "Zed"))
    old = segment_create(name="Old", definition=segment_definition("firstName", "Old"))
    with monkeypatch.context() as patch:
        patch.setattr("segments.services.segment_queryset", lambda *a, **k: 1 / 0)
        segment_refresh(segment=broken)
        segment_refresh(segment=old)
    segment_archive(segment=old)

    def pair(a, b, status):
        low, high = sorted((a.pk, b.pk))
        MatchCandidate.objects.create(profile_a_id=low, profile_b_id=high, score=0.8, status=status)

    pair(bob, cy, MatchCandidate.Status.PENDING)
    pair(ann, cy, MatchCandidate.Status.REJECTED)

    request_create(kind="access", subject_type="user_id", subject_value="u-bob")
    late = request_create(kind="erasure", subject_type="user_id", subject_value="u-cy")
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=days_ago(1))
    duplicate = request_create(kind="access", subject_type="user_id", subject_value="u-ann")
    request_reject(request=duplicate, reason="A duplicate of an earlier request.")


@pytest.mark.parametrize("role", sorted(SEES))
def test_each_role_sees_exactly_its_figures(client_for, world, role):
    assert [figure.key for figure in home_figures(Role(role))] == SEES[role]
    assert list(tiles(client_for(role).get("/"))) == SEES[role]


def test_an_analyst_sees_no_admin_figure_and_no_link_to_admin_pages(client_for, world):
    response = client_for("analyst").get("/")
    html = response.content.decode()
    for absent in ("review", "consent conflict", "data-subject", "Failed events", "/privacy/"):
        assert absent not in html
    shown = tiles(response)
    assert shown["profiles"]["url"] == "/profiles/"
    assert shown["segments"]["url"] == "/segments/"
    # Nowhere an analyst may act on the event volume or the processor: the tiles only inform.
    assert shown["events"]["url"] is None and shown["processing"]["url"] is None


def test_the_numbers_on_a_small_shop(world):
    figures = by_key(home_figures(Role.ADMIN))
    assert {key: figure.value for key, figure in figures.items() if key != "processing"} == {
        "profiles": 3,
        "events": 4,
        "segments": 3,
        "reviews": 1,
        "consent_conflicts": 1,
        "requests": 2,
        "failed_events": 1,
    }
    processing = figures["processing"]
    # Processed just now (in the test's one transaction the database's now() is its start, so the
    # measured lag is a few milliseconds either side of zero).
    assert processing.value is not None and abs(processing.value) < 5
    assert not processing.attention
    assert processing.detail == "Nothing waiting to be processed"
    assert figures["segments"].detail == "1 failed to refresh"
    assert figures["requests"].detail == "1 overdue"
    assert figures["failed_events"].detail == "Waiting to be replayed or discarded"


def test_the_admin_page_marks_what_needs_someone_and_links_where_to_act(client_for, world):
    shown = tiles(client_for("admin").get("/"))
    marked = {key for key, tile in shown.items() if tile["attention"]}
    assert marked == {"segments", "reviews", "consent_conflicts", "requests", "failed_events"}
    for key in marked:
        assert "Needs attention" in shown[key]["text"]
    assert "Needs attention" not in shown["profiles"]["text"]
    assert shown["requests"]["text"].startswith("2 Open data-subject requests 1 overdue")
    assert shown["segments"]["text"].startswith("3 Live segments 1 failed to refresh")
    assert {key: tile["url"] for key, tile in shown.items()} == {
        "profiles": "/profiles/",
        "events": "/profiles/sources/",
        "processing": "/profiles/identity/health/",
        "segments": "/segments/",
        "reviews": "/profiles/matching/",
        "consent_conflicts": "/privacy/consent-conflicts/",
        "requests": "/privacy/requests/?status=open",
        "failed_events": "/profiles/sources/",
    }


def test_nothing_is_marked_when_nothing_waits(client_for):
    shown = tiles(client_for("admin").get("/"))
    assert list(shown) == SEES["admin"]
    assert not any(tile["attention"] for tile in shown.values())
    assert shown["processing"]["text"].startswith("— Processing lag")
    assert shown["requests"]["text"].startswith("0 Open data-subject requests None overdue")


def test_a_backlog_waiting_for_minutes_marks_the_processor(db):
    _, key = source_create(name="Web", kind="website")
    send(key, {"type": "identify", "userId": "u-1", "timestamp": timezone.now().isoformat()})
    Event.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    processing = by_key(home_figures(Role.ANALYST))["processing"]
    assert processing.attention
    assert processing.detail == "1 event waiting, the oldest for 5 min"


def test_a_slow_processor_shows_its_p95_and_is_marked(db):
    _, key = source_create(name="Web", kind="website")
    send(key, {"type": "identify", "userId": "u-1", "timestamp": timezone.now().isoformat()})
    Event.objects.update(received_at=timezone.now() - timedelta(minutes=10))
    events_process_pending()
    processing = by_key(home_figures(Role.MARKETER))["processing"]
    assert processing.attention and processing.display == "10 min"
    assert processing.detail == "Nothing waiting to be processed"


def test_counts_stop_at_the_cap_and_say_so(world, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    monkeypatch.setattr(selectors, "PROFILES_CAP", 2)
    figures = by_key(home_figures(Role.ADMIN))
    assert (figures["events"].value, figures["events"].capped) == (2, True)
    assert figures["events"].display == "2+"
    assert figures["profiles"].display == "2+"
    assert figures["reviews"].display == "1"  # under the cap: exact


@pytest.mark.parametrize(
    ("figure", "shown"),
    [
        (Figure("x", "x", 1234567), "1,234,567"),
        (Figure("x", "x", 100_000, capped=True), "100,000+"),
        (Figure("x", "x", None, unit="s"), "—"),
        (Figure("x", "x", 0.4321, unit="s"), "0.4 s"),
        (Figure("x", "x", -0.003, unit="s"), "0.0 s"),
        (Figure("x", "x", 42.4, unit="s"), "42 s"),
        (Figure("x", "x", 600, unit="s"), "10 min"),
        (Figure("x", "x", 3 * 3600, unit="s"), "3 h"),
    ],
)
def test_figures_display_as_read(figure, shown):
    assert figure.display == shown
