"""Identity rules pages: roles, the simulation partial, confirmation, history, health."""

import pytest
from django.urls import reverse

from profiles.models import Identity, IdentityType, RuleChange, SurvivorshipRule
from profiles.services.identity_rules import identity_type_update
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from tests.collect import send

pytestmark = pytest.mark.django_db

PAGES = [
    "profiles:identity-types",
    "profiles:identity-type-create",
    "profiles:identity-survivorship",
    "profiles:identity-history",
    "profiles:identity-health",
]


def email() -> IdentityType:
    return IdentityType.objects.get(name="email")


def form_data(identity_type: IdentityType, **changes) -> dict:
    data = {
        "normaliser": identity_type.normaliser,
        "pattern": identity_type.pattern,
        "default_region": identity_type.default_region,
        "trait_keys": ", ".join(identity_type.trait_keys),
        "priority": identity_type.priority,
        "max_per_profile": identity_type.max_per_profile or "",
        "blocked_values": "\n".join(identity_type.blocked_values),
    }
    if identity_type.verified:
        data["verified"] = "on"
    if identity_type.enabled:
        data["enabled"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("marketer", 403), ("analyst", 403)])
def test_only_identity_admins_see_the_pages(client_for, name, role, status):
    assert client_for(role).get(reverse(name)).status_code == status


def test_the_types_list_says_changes_apply_to_new_events(client_for):
    body = client_for("admin").get(reverse("profiles:identity-types")).content.decode()
    assert "identifiers already stored are not" in body
    assert reverse("profiles:identity-type-edit", args=[email().pk]) in body


def test_marketers_cannot_change_or_simulate(client_for):
    client = client_for("marketer")
    url = reverse("profiles:identity-type-edit", args=[email().pk])
    assert client.post(url, form_data(email(), priority=1)).status_code == 403
    simulate = reverse("profiles:identity-type-simulate", args=[email().pk])
    assert client.post(simulate, form_data(email())).status_code == 403
    assert email().priority == 85


@pytest.fixture
def linked_pair(db):
    """Two profiles kept apart by one email per profile; an event links them."""
    identity_type_update(identity_type=email(), max_per_profile=1)
    _, key = source_create(name="Web", kind="website")
    send(
        key,
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "a@x.com"}},
        {"type": "identify", "anonymousId": "a2", "traits": {"email": "b@x.com"}},
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "b@x.com"}},
    )
    events_process_pending()
    return [Identity.objects.get(value=v).profile_id for v in ("a1", "a2")]


def test_simulate_renders_the_impact_partial(client_for, linked_pair):
    p1, p2 = linked_pair
    url = reverse("profiles:identity-type-simulate", args=[email().pk])
    response = client_for("admin").post(
        url, form_data(email(), max_per_profile="2"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert "Profiles merged</dt><dd>2</dd>" in body
    assert f'href="/profiles/{p1}/"' in body and f'href="/profiles/{p2}/"' in body
    assert "would merge" in body
    assert email().max_per_profile == 1


def test_simulate_reports_form_errors(client_for):
    url = reverse("profiles:identity-type-simulate", args=[email().pk])
    response = client_for("admin").post(
        url, form_data(email(), pattern="([a-"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "not a valid regular expression" in response.content.decode()


def test_save_with_impact_asks_for_confirmation_then_saves(client_for, linked_pair):
    client = client_for("admin")
    url = reverse("profiles:identity-type-edit", args=[email().pk])
    data = form_data(email(), max_per_profile="2")
    response = client.post(url, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Save anyway" in body and "Profiles merged</dt><dd>2</dd>" in body
    assert email().max_per_profile == 1
    fingerprint = response.context["confirm"]
    # Values changed after the confirmation was asked: asked again, nothing saved.
    response = client.post(url, {**data, "max_per_profile": "3", "confirmed": fingerprint})
    assert "Save anyway" in response.content.decode()
    assert email().max_per_profile == 1
    response = client.post(url, {**data, "confirmed": fingerprint})
    assert response.status_code == 302
    assert email().max_per_profile == 2
    change = RuleChange.objects.order_by("-id").first()
    assert (change.object_name, change.after["max_per_profile"], change.actor) == (
        "email",
        2,
        client.user,
    )


def test_save_without_impact_saves_at_once(client_for):
    client = client_for("admin")
    url = reverse("profiles:identity-type-edit", args=[email().pk])
    response = client.post(url, form_data(email(), priority="86"), follow=True)
    assert email().priority == 86
    assert "Identity type email saved." in response.content.decode()


def test_invalid_values_re_render_the_form_with_the_reason(client_for):
    client = client_for("admin")
    url = reverse("profiles:identity-type-edit", args=[email().pk])
    response = client.post(url, form_data(email(), default_region="ZZ"))
    assert response.status_code == 400
    assert "ZZ is not a region phone numbers know" in response.content.decode()
    assert not RuleChange.objects.exists()


def test_create_a_type(client_for):
    client = client_for("admin")
    data = {
        "name": "member_no",
        "normaliser": "regex",
        "pattern": r"M\d+",
        "default_region": "GB",
        "trait_keys": "memberNo, member_no",
        "priority": "75",
        "max_per_profile": "1",
        "blocked_values": "M0\n  M000 \n",
        "enabled": "on",
    }
    response = client.post(reverse("profiles:identity-type-create"), data)
    assert response.status_code == 302
    created = IdentityType.objects.get(name="member_no")
    assert created.trait_keys == ["memberNo", "member_no"]
    assert created.blocked_values == ["M0", "M000"]
    assert created.verified is False


def test_survivorship_rules_page_sets_and_removes_rules(client_for):
    client = client_for("admin")
    pos, _ = source_create(name="POS", kind="pos")
    crm, _ = source_create(name="CRM", kind="crm")
    url = reverse("profiles:identity-survivorship")
    data = {
        "trait": "phone",
        "rule": "source_priority",
        f"rank_{pos.pk}": "2",
        f"rank_{crm.pk}": "1",
        "keep_non_empty": "on",
    }
    assert client.post(url, data).status_code == 302
    rule = SurvivorshipRule.objects.get(trait="phone")
    assert rule.source_priority == [crm.pk, pos.pk]
    body = client.get(url).content.decode()
    assert "<li>CRM</li><li>POS</li>" in body
    edit = client.get(url, {"trait": "phone"})
    assert edit.context["form"].initial[f"rank_{crm.pk}"] == 1
    response = client.post(url, {"trait": "x", "rule": "source_priority"})
    assert response.status_code == 400
    assert "at least one source" in response.content.decode()
    delete = reverse("profiles:identity-survivorship-delete", args=[rule.pk])
    assert client.post(delete).status_code == 302
    assert not SurvivorshipRule.objects.filter(trait="phone").exists()
    star = SurvivorshipRule.objects.get(trait="*")
    response = client.post(
        reverse("profiles:identity-survivorship-delete", args=[star.pk]), follow=True
    )
    assert "cannot be removed" in response.content.decode()


def test_history_shows_who_changed_what(client_for):
    client = client_for("admin")
    identity_type_update(identity_type=email(), actor=client.user, priority=84)
    body = client.get(reverse("profiles:identity-history")).content.decode()
    assert "admin-user" in body
    assert "<del>85</del> → <ins>84</ins>" in body
    filtered = client.get(reverse("profiles:identity-history"), {"kind": "survivorship_rule"})
    assert "<del>85</del>" not in filtered.content.decode()


def test_health_page_shows_alerts_and_metrics(client_for, monkeypatch):
    _, key = source_create(name="Web", kind="website")
    send(key, *({"type": "identify", "userId": "u-big", "anonymousId": f"a{n}"} for n in range(5)))
    send(key, *({"type": "page", "anonymousId": "anonymous"} for _ in range(12)))
    events_process_pending()
    monkeypatch.setenv("IDENTITY_MEGA_THRESHOLD", "3")
    body = client_for("admin").get(reverse("profiles:identity-health")).content.decode()
    big = Identity.objects.get(value="u-big").profile_id
    assert "1 profile</strong> holds more than 3 identifiers" in body
    assert f'<a href="/profiles/{big}/">#{big}</a> — 6 identifiers' in body
    assert '<tr class="idr-hot"><td>anonymous_id</td><td><code>anonymous</code></td>' in body
    assert "Identity match rate" in body and "100%" in body
