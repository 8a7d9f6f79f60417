"""The merge settings on the identity-types page: shown, changed, recorded; admins only."""

import re

import pytest
from django.urls import reverse

from cdpapp.models import AuditEntry
from profiles.models import MergeSettings, RuleChange

pytestmark = pytest.mark.django_db


def test_the_types_page_shows_the_setting_off_by_default(client_for):
    html = client_for("admin").get(reverse("profiles:identity-types")).content.decode()
    assert 'id="merge-settings"' in html
    assert "Send profiles whose consent conflicts to review instead of merging them" in html
    checkbox = re.search(r'<input[^>]*name="consent_conflict_review"[^>]*>', html).group(0)
    assert "checked" not in checkbox
    assert "within the last 30 days" in html


def test_admin_turns_review_on_and_off_and_each_change_is_in_the_history(client_for):
    client = client_for("admin")
    url = reverse("profiles:identity-merge-settings")
    response = client.post(url, {"consent_conflict_review": "on"}, follow=True)
    assert MergeSettings.objects.get().consent_conflict_review is True
    assert "now wait for review" in response.content.decode()
    client.post(url, {})
    assert MergeSettings.objects.get().consent_conflict_review is False
    changes = RuleChange.objects.filter(kind=RuleChange.Kind.MERGE_SETTING).order_by("at", "id")
    assert [c.after for c in changes] == [
        {"consent_conflict_review": True},
        {"consent_conflict_review": False},
    ]
    assert {c.actor.username for c in changes} == {"admin-user"}
    assert AuditEntry.objects.filter(action="merge_setting.changed").count() == 2
    history = client.get(reverse("profiles:identity-history")).content.decode()
    assert "Merge setting" in history and "consent conflict review" in history


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_other_roles_may_not_change_merge_settings(client_for, role):
    client = client_for(role)
    response = client.post(
        reverse("profiles:identity-merge-settings"), {"consent_conflict_review": "on"}
    )
    assert response.status_code == 403
    assert not MergeSettings.objects.exists()
