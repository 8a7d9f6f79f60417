"""Consent conflicts at merge time, in a real browser.

An admin turns on "send profiles whose consent conflicts to review" in the identity rules; a
visitor who granted email marketing logs in as a customer who withdrew it, and the pair waits in
the review queue as a consent conflict; the admin approves it, follows the profile page's link
to the consent page, and marks the conflict resolved. Then the admin rejects a data-subject
request with a reason.
"""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from playwright.sync_api import expect

from privacy.models import ConsentConflict
from privacy.services.consent import consent_record
from privacy.services.requests import request_create
from profiles.models import MatchCandidate, Profile
from profiles.services.sources import source_create
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def seed_data(transactional_db):
    """Role groups and default identity types back after another browser test's flush."""
    ContentType.objects.clear_cache()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)
    importlib.import_module("profiles.migrations.0005_default_identity_types").seed(apps, None)


def test_a_consent_conflict_waits_for_review_and_is_resolved(page, live_server, login, screenshot):
    _, key = source_create(name="Web shop", kind="website")
    now = timezone.now()
    send_and_process(
        key,
        {"type": "page", "anonymousId": "anon-v", "name": "Home", "timestamp": now.isoformat()},
        {
            "type": "identify",
            "userId": "u-lena",
            "timestamp": now.isoformat(),
            "traits": {"firstName": "Lena", "lastName": "Ortiz", "email": "lena@example.org"},
        },
    )
    visitor = Profile.objects.get(identities__value="anon-v")
    lena = Profile.objects.get(identities__value="u-lena")
    for profile, status, days in ((visitor, "granted", 1), (lena, "withdrawn", 3)):
        consent_record(
            profile=profile,
            purpose="email_marketing",
            status=status,
            channel="api",
            at=now - timedelta(days=days),
        )

    login("admin")
    page.goto(f"{live_server.url}/profiles/identity/")
    settings_form = page.locator("#merge-settings")
    settings_form.get_by_label(
        "Send profiles whose consent conflicts to review instead of merging them"
    ).check()
    settings_form.get_by_role("button", name="Save merge settings").click()
    expect(page.get_by_text("profiles whose consent conflicts now wait for review")).to_be_visible()
    screenshot("identity-merge-settings")

    # The visitor logs in: the processor holds the merge back.
    send_and_process(
        key,
        {
            "type": "identify",
            "anonymousId": "anon-v",
            "userId": "u-lena",
            "timestamp": timezone.now().isoformat(),
        },
    )
    candidate = MatchCandidate.objects.get(status="pending")
    page.goto(f"{live_server.url}/profiles/matching/")
    row = page.locator(f"#candidate-{candidate.pk}")
    expect(row).to_contain_text("consent conflict on email marketing")
    screenshot("review-queue-consent-conflict")
    row.get_by_role("button", name=f"Approve candidate {candidate.pk}: merge").click()
    expect(page.locator(f"#candidate-{candidate.pk}")).to_contain_text("Approved")

    page.goto(f"{live_server.url}/profiles/{lena.pk}/")
    consent_card = page.get_by_role("region", name="Consent")
    expect(consent_card).to_contain_text("1 open consent conflict")
    consent_card.get_by_role("link", name="1 open consent conflict").click()
    conflicts = page.get_by_role("region", name="Conflicts found at merges")
    expect(conflicts).to_contain_text("email_marketing")
    expect(conflicts).to_contain_text("withdrawn")
    conflict = ConsentConflict.objects.get()
    conflicts.get_by_label("What was done (optional)").fill("Called Lena: she wants the emails.")
    conflicts.get_by_role(
        "button",
        name=f"Mark the email_marketing conflict of profile {conflict.profile_id} resolved",
    ).click()
    expect(conflicts.locator(f"#conflict-{conflict.pk}")).to_contain_text("resolved")
    expect(conflicts).to_contain_text("Called Lena: she wants the emails.")
    screenshot("privacy-consent-conflict-resolved")

    page.goto(f"{live_server.url}/privacy/consent-conflicts/")
    expect(page.get_by_text("No open consent conflict.")).to_be_visible()


def test_admin_rejects_a_request_with_a_reason(page, live_server, login):
    dsr = request_create(kind="access", subject_type="email", subject_value="nobody@example.org")
    login("admin")
    page.goto(f"{live_server.url}/privacy/requests/{dsr.pk}/")
    page.get_by_label("Why is it rejected?").fill("The requester did not confirm their identity.")
    page.get_by_role("button", name="Reject request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rejected")
    expect(page.get_by_text("The requester did not confirm their identity.")).to_be_visible()
    page.goto(f"{live_server.url}/privacy/requests/?status=rejected")
    expect(page.get_by_role("table", name="Requests")).to_contain_text(f"#{dsr.pk}")
