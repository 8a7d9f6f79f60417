"""The profile explorer pages: search (full page and htmx partial), the profile page, undo."""

import pytest
from django.urls import reverse

from profiles.models import Event, MergeEntry, Profile
from profiles.services.merges import profile_merge
from profiles.tests.explorer_scenario import build, last_name_is
from segments.services import segment_create, segment_refresh

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def scenario(db):
    return build()


@pytest.fixture
def merged(scenario):
    entry = profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    return scenario, entry


def profile_url(profile) -> str:
    return reverse("profiles:profile-detail", args=[profile.pk])


def test_search_page_has_a_live_search_box_and_lists_profiles(client_for, scenario):
    response = client_for("analyst").get(reverse("profiles:index"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert 'hx-trigger="keyup changed delay:300ms, search"' in html
    assert 'hx-target="#results"' in html
    assert "Jane Doe" in html
    assert "Bob" in html
    assert "3 profiles" in html


def test_htmx_search_answers_only_the_results_partial(client_for, scenario):
    response = client_for("marketer").get(
        reverse("profiles:index"), {"q": "+44 7700 900123"}, HTTP_HX_TARGET="results", **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<section id="results"')
    assert "Jane Doe" in html
    assert "<td>Jane.Doe@Example.com</td>" in html
    assert "Bob" not in html
    assert "42.50" in html  # lifetime value from the POS order


def test_search_without_results_says_so(client_for, scenario):
    response = client_for("analyst").get(
        reverse("profiles:index"), {"q": "zz-nobody"}, HTTP_HX_TARGET="results", **HTMX
    )
    assert "No profile matches" in response.content.decode()


def test_search_pages_link_to_each_other(client_for, scenario, monkeypatch):
    monkeypatch.setattr("profiles.views.explorer.RESULTS_PER_PAGE", 2)
    client = client_for("analyst")
    first = client.get(reverse("profiles:index")).content.decode()
    assert "Page 1 of 2" in first
    assert 'hx-get="/profiles/?q=&amp;page=2"' in first
    second = client.get(reverse("profiles:index"), {"page": 2}, HTTP_HX_TARGET="results", **HTMX)
    assert "Page 2 of 2" in second.content.decode()


def test_profile_page_shows_every_section(client_for, merged):
    scenario, entry = merged
    html = client_for("analyst").get(profile_url(scenario.jane)).content.decode()
    for heading in ("Traits", "Identifiers", "Computed traits", "Consent", "Segments", "Events"):
        assert f">{heading}" in html
    assert "Merge history" in html
    # Lineage of a trait: the source and the event it came from.
    event = Event.objects.get(name=None, source__name="Crm")
    assert f'href="/profiles/{scenario.jane.pk}/events/{event.pk}/"' in html
    assert "<code>C-1</code>" in html and "<code>+447700900123</code>" in html
    assert "email_marketing" in html and "granted" in html
    assert "Not in any segment." in html
    assert html.count('class="timeline-row"') == 5
    assert f'id="merge-{entry.pk}"' in html
    assert "in effect" in html


def test_profile_page_lists_the_segments_the_profile_is_in(client_for, scenario):
    does = segment_create(name="The Does", definition=last_name_is("Doe"))
    segment_refresh(segment=does)
    html = client_for("analyst").get(profile_url(scenario.jane)).content.decode()
    assert f'<a href="/segments/{does.pk}/">The Does</a>' in html
    assert "Not in any segment." not in html


def test_only_admins_see_the_undo_button(client, make_user, merged):
    scenario, entry = merged
    undo = reverse("profiles:profile-merge-undo", args=[entry.pk])
    for role in ("marketer", "analyst"):
        client.force_login(make_user(role))
        assert undo not in client.get(profile_url(scenario.jane)).content.decode()
    client.force_login(make_user("admin"))
    html = client.get(profile_url(scenario.jane)).content.decode()
    assert f'hx-post="{undo}"' in html
    assert "hx-confirm=" in html


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_undo_is_refused_to_marketers_and_analysts(client_for, merged, role):
    _, entry = merged
    response = client_for(role).post(reverse("profiles:profile-merge-undo", args=[entry.pk]))
    assert response.status_code == 403
    assert MergeEntry.objects.get(pk=entry.pk).undone_by is None


def test_admin_undo_restores_both_profiles_and_shows_them(client_for, merged):
    scenario, entry = merged
    client = client_for("admin")
    response = client.post(reverse("profiles:profile-merge-undo", args=[entry.pk]), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse(
        "profiles:profile-merge-detail", args=[entry.pk]
    )
    assert f"profile #{scenario.crm.pk} is its own profile again" in html
    assert "undone" in html
    assert "<code>C-1</code>" in html and "<code>u-jane</code>" in html
    assert "4 events · 5 identifiers" in html  # Jane
    assert "1 event · 3 identifiers" in html  # her CRM record
    assert Profile.objects.get(pk=scenario.crm.pk).merged_into_id is None
    assert MergeEntry.objects.get(pk=entry.pk).undone_by.actor == client.user
    # A second undo is refused with a message, not an error page.
    again = client.post(reverse("profiles:profile-merge-undo", args=[entry.pk]), follow=True)
    assert "cannot be undone" in again.content.decode()


def test_undo_from_htmx_redirects_the_whole_page(client_for, merged):
    _, entry = merged
    response = client_for("admin").post(
        reverse("profiles:profile-merge-undo", args=[entry.pk]), **HTMX
    )
    assert response["HX-Redirect"] == reverse("profiles:profile-merge-detail", args=[entry.pk])


def test_a_merged_profile_redirects_to_its_survivor_with_a_notice(client_for, merged):
    scenario, _ = merged
    response = client_for("analyst").get(profile_url(scenario.crm), follow=True)
    assert response.redirect_chain == [(profile_url(scenario.jane), 302)]
    assert f"Profile #{scenario.crm.pk} was merged into profile #{scenario.jane.pk}" in (
        response.content.decode()
    )


def test_timeline_partial_filters_and_pages(client_for, scenario, monkeypatch):
    client = client_for("analyst")
    response = client.get(
        profile_url(scenario.jane),
        {"event": "Order Completed"},
        HTTP_HX_TARGET="timeline",
        **HTMX,
    )
    html = response.content.decode()
    assert html.strip().startswith('<section id="timeline"')
    assert html.count('class="timeline-row"') == 1
    assert "Order Completed" in html and "&quot;revenue&quot;: 42.5" in html
    monkeypatch.setattr("profiles.views.explorer.EVENTS_PER_PAGE", 3)
    page2 = client.get(
        profile_url(scenario.jane), {"events_page": 2}, HTTP_HX_TARGET="timeline", **HTMX
    ).content.decode()
    assert page2.count('class="timeline-row"') == 1
    assert "Page 2 of 2" in page2 and "← Newer" in page2


def test_event_page_and_not_found(client_for, scenario):
    client = client_for("analyst")
    event = scenario.jane.events.get(name="Order Completed")
    response = client.get(reverse("profiles:profile-event", args=[scenario.jane.pk, event.pk]))
    assert response.status_code == 200
    assert "&quot;revenue&quot;: 42.5" in response.content.decode()
    other = reverse("profiles:profile-event", args=[scenario.bob.pk, event.pk])
    assert client.get(other).status_code == 404
    assert client.get(reverse("profiles:profile-detail", args=[10**9])).status_code == 404
    assert client.get(reverse("profiles:profile-merge-detail", args=[10**9])).status_code == 404
