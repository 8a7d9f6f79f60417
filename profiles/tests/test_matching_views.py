"""The review queue pages (full and htmx partials) and the match-candidates API."""

import pytest
from django.urls import reverse

from profiles.models import MatchCandidate, MatchRun, MergeEntry, Profile
from profiles.services.matching import matching_run
from profiles.tests.matching_helpers import crowd, identify, person, process, profile_with, sources

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def pairs(db):
    """Two pending candidates: Jane (held back: two CRM ids) and Tom (a name and a typo)."""
    keys = sources(db)
    crowd(keys["website"], n=30)
    jane = person("Jane", "Doe", "1985-04-12", "12 Oak Road", "SW1A 1AA", "London", "jd@x.com")
    identify(keys["crm"], user_id=None, anonymous_id="c1", crm_id="CRM-1", **jane)
    identify(
        keys["crm"],
        anonymous_id="c2",
        crm_id="CRM-2",
        **{**jane, "firstName": "Jnae", "email": "jane.d@example.org"},
    )
    tom = person("Tom", "Baker", "1970-02-01", "3 Mill Lane", "LS6 2AB", "Leeds", "tb@x.com")
    identify(keys["crm"], anonymous_id="c3", crm_id="CRM-3", **tom)
    identify(
        keys["crm"],
        anonymous_id="c4",
        crm_id="CRM-4",
        **{**tom, "lastName": "Bakre", "email": "tom.b@example.org"},
    )
    process()
    matching_run()
    return {
        "jane": MatchCandidate.objects.get(profile_a=profile_with("crm_id", "CRM-1")),
        "tom": MatchCandidate.objects.get(profile_a=profile_with("crm_id", "CRM-3")),
    }


def test_the_queue_lists_pending_candidates_by_score(client_for, pairs):
    response = client_for("admin").get(reverse("profiles:matching-queue"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Identity review queue" in html
    assert f'id="candidate-{pairs["jane"].pk}"' in html
    assert f'id="candidate-{pairs["tom"].pk}"' in html
    assert "Jnae Doe" in html and "Tom Bakre" in html
    assert "different verified crm_id" in html
    assert "Run matching now" in html
    assert "<html" in html


def test_an_htmx_request_for_the_queue_table_gets_only_the_table(client_for, pairs):
    response = client_for("admin").get(
        reverse("profiles:matching-queue") + "?status=pending", HTTP_HX_TARGET="queue", **HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="queue"')
    assert "<html" not in html
    assert f'id="candidate-{pairs["tom"].pk}"' in html


def test_other_statuses_have_their_own_tab(client_for, pairs):
    client = client_for("admin")
    html = client.get(reverse("profiles:matching-queue") + "?status=rejected").content.decode()
    assert "No candidates here." in html
    assert client.get(reverse("profiles:matching-queue") + "?status=nonsense").status_code == 200


def test_side_by_side_comparison_explains_the_score(client_for, pairs):
    candidate = pairs["jane"]
    response = client_for("admin").get(reverse("profiles:matching-candidate", args=[candidate.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"#{candidate.profile_a_id}" in html and f"#{candidate.profile_b_id}" in html
    assert "CRM-1" in html and "CRM-2" in html  # identifiers of each side
    assert "Jaro-Winkler ≥ 0.92" in html  # Jane / Jnae
    assert "Date of birth" in html
    assert "Approve: merge" in html and "Reject: two people" in html
    assert "Not merged automatically: different verified crm_id" in html


def test_approving_from_a_queue_row_merges_and_updates_the_row(client_for, pairs):
    candidate = pairs["tom"]
    response = client_for("admin").post(
        reverse("profiles:matching-approve", args=[candidate.pk]),
        HTTP_HX_TARGET=f"candidate-{candidate.pk}",
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="candidate-{candidate.pk}"')
    assert "Approved (merged)" in html
    assert response["HX-Trigger"] == "match-candidates-changed"
    absorbed = Profile.objects.get(pk=candidate.profile_b_id)
    assert absorbed.merged_into_id == candidate.profile_a_id
    assert MergeEntry.objects.get(absorbed=absorbed).reason == "review"


def test_rejecting_from_the_comparison_page_updates_the_decision_panel(client_for, pairs):
    candidate = pairs["jane"]
    response = client_for("admin").post(
        reverse("profiles:matching-reject", args=[candidate.pk]), HTTP_HX_TARGET="decision", **HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="decision"')
    assert "Rejected" in html
    candidate.refresh_from_db()
    assert candidate.status == MatchCandidate.Status.REJECTED
    assert Profile.objects.filter(merged_into__isnull=False).count() == 0


def test_a_second_decision_shows_why_it_cannot_be_made(client_for, pairs):
    candidate = pairs["jane"]
    client = client_for("admin")
    url = reverse("profiles:matching-reject", args=[candidate.pk])
    client.post(url, HTTP_HX_TARGET=f"candidate-{candidate.pk}", **HX)
    response = client.post(
        reverse("profiles:matching-approve", args=[candidate.pk]),
        HTTP_HX_TARGET=f"candidate-{candidate.pk}",
        **HX,
    )
    assert "already decided (rejected)" in response.content.decode()
    assert Profile.objects.filter(merged_into__isnull=False).count() == 0


def test_without_htmx_a_decision_redirects_with_a_message(client_for, pairs):
    candidate = pairs["tom"]
    client = client_for("admin")
    response = client.post(reverse("profiles:matching-reject", args=[candidate.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "profiles:matching-candidate", args=[candidate.pk]
    )
    assert "rejected: it will not be proposed again" in response.content.decode()


def test_run_now_queues_a_run_and_the_history_polls_until_it_ends(
    client_for, pairs, django_capture_on_commit_callbacks
):
    client = client_for("admin")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("profiles:matching-runs"), HTTP_HX_TARGET="runs", **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="runs"')
    assert 'hx-trigger="every 2s"' in html
    assert "Run queued…" in html
    assert len(callbacks) == 1
    run = MatchRun.objects.get(status="queued")
    assert run.requested_by == client.user
    matching_run(run=run)
    polled = client.get(reverse("profiles:matching-runs") + "?polling=1", **HX)
    assert "every 2s" not in polled.content.decode()
    assert "match-run-finished" in polled["HX-Trigger"]


def test_the_run_history_page_shows_learned_weights(client_for, pairs):
    html = client_for("admin").get(reverse("profiles:matching-runs")).content.decode()
    assert "Matching runs" in html
    assert "Learned weights" in html
    assert "birth_date" in html


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_only_identity_managers_see_the_queue(client_for, pairs, role):
    client = client_for(role)
    assert client.get(reverse("profiles:matching-queue")).status_code == 403
    url = reverse("profiles:matching-approve", args=[pairs["tom"].pk])
    assert client.post(url).status_code == 403


# --- API ------------------------------------------------------------------------------------------


def test_api_lists_candidates_with_their_explanation(api_client_for, pairs):
    api = api_client_for("admin")
    body = api.get("/api/match-candidates/?status=pending").json()
    assert body["count"] == 2
    first = body["results"][0]
    assert first["status"] == "pending"
    assert {e["field"] for e in first["evidence"]} >= {"first_name", "birth_date", "postcode"}
    assert [r["score"] for r in body["results"]] == sorted(
        [r["score"] for r in body["results"]], reverse=True
    )
    assert api.get("/api/match-candidates/?status=rejected").json()["count"] == 0
    bad = api.get("/api/match-candidates/?status=maybe")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    one = api.get(f"/api/match-candidates/{pairs['jane'].pk}/").json()
    assert one["review_because"] == ["different verified crm_id"]


def test_api_approve_and_reject(api_client_for, pairs):
    api = api_client_for("admin")
    approved = api.post(f"/api/match-candidates/{pairs['tom'].pk}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert approved.json()["reviewed_by"] == "api-admin"
    rejected = api.post(f"/api/match-candidates/{pairs['jane'].pk}/reject")
    assert rejected.json()["status"] == "rejected"
    again = api.post(f"/api/match-candidates/{pairs['jane'].pk}/approve")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert api.post("/api/match-candidates/999999/approve").status_code == 404


def test_api_runs(api_client_for, pairs):
    api = api_client_for("admin")
    queued = api.post("/api/match-runs/")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    runs = api.get("/api/match-runs/").json()
    assert runs["count"] == 2
    assert runs["results"][1]["status"] == "done"


def test_api_refuses_other_roles(api_client_for, pairs):
    api = api_client_for("marketer")
    assert api.get("/api/match-candidates/").status_code == 403
    assert api.post(f"/api/match-candidates/{pairs['tom'].pk}/approve").status_code == 403
