"""PII never reaches the logs: a full ingestion run with every logger captured at DEBUG.

The run goes through the real interfaces: the collection API with a real write key (good,
invalid and malformed messages), the processor, a segment refresh, a consent decision through
the API, the admin pages that show the person, a CSV import with rejected rows, an access
request and its export, an erasure, and the person's data sent again afterwards.
"""

import base64
import logging
import traceback

import orjson
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse

from privacy.models import DataSubjectRequest, SuppressedCount
from profiles.models import FailedEvent, ImportRowError, Profile
from profiles.services.imports import import_job_create, import_job_run
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from segments.services import segment_create, segment_refresh

pytestmark = pytest.mark.django_db

PERSON = {
    "email": "wilhelmina.quaresma@example.net",
    "phone": "+447700900777",
    "phone_typed": "07700 900777",
    "first_name": "Wilhelmina",
    "last_name": "Quaresma",
    "user_id": "usr-wq-5521",
    "anonymous_id": "anon-wq-8830",
    "crm_id": "CRM-WQ-3017",
}
STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def messages(now: str) -> list[dict]:
    return [
        {"type": "page", "anonymousId": PERSON["anonymous_id"], "name": "Home", "timestamp": now},
        {
            "type": "identify",
            "anonymousId": PERSON["anonymous_id"],
            "userId": PERSON["user_id"],
            "timestamp": now,
            "traits": {
                "email": PERSON["email"],
                "phone": PERSON["phone_typed"],
                "firstName": PERSON["first_name"],
                "lastName": PERSON["last_name"],
                "crm_id": PERSON["crm_id"],
            },
            "context": {"consent": {"categoryPreferences": {"email_marketing": True}}},
        },
        {
            "type": "track",
            "userId": PERSON["user_id"],
            "event": "Order Completed",
            "timestamp": now,
            "properties": {"revenue": 42, "note": f"gift for {PERSON['email']}"},
        },
        # Invalid (a track call without its event name): kept as a failed event.
        {"type": "track", "userId": PERSON["user_id"], "timestamp": now,
         "properties": {"email": PERSON["email"]}},
    ]  # fmt: skip


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write for this record: message, args, exception, extras."""
    parts = [str(record.msg), repr(record.args), record.getMessage()]
    if record.exc_info:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    parts.extend(repr(value) for key, value in vars(record).items() if key not in STANDARD)
    return "\n".join(parts)


def capture_everything_at_debug(caplog) -> None:
    """The root logger at DEBUG, and every logger configured with its own level (Django's
    "django" logger is at INFO, the project's django.db.backends too) lowered to DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name, found in list(logging.root.manager.loggerDict.items()):
        if isinstance(found, logging.Logger) and found.level > logging.DEBUG:
            caplog.set_level(logging.DEBUG, logger=name)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_query_logging_stays_off_even_with_debug():
    """Django logs every SQL statement with its parameters at DEBUG on django.db.backends
    (when settings.DEBUG is on): the project keeps that logger at INFO."""
    assert settings.LOGGING["loggers"]["django.db.backends"]["level"] == "INFO"
    assert logging.getLogger("django.db.backends").getEffectiveLevel() >= logging.INFO


def test_the_check_sees_pii_in_any_part_of_a_record(caplog):
    capture_everything_at_debug(caplog)
    logging.getLogger("django.template").debug("lookup in %r", {"email": PERSON["email"]})
    try:
        raise ValueError(f"bad phone {PERSON['phone']}")
    except ValueError:
        logging.getLogger("profiles.services.imports").exception("Import job 7 failed")
    logging.getLogger("privacy").info("done", extra={"who": PERSON["crm_id"]})
    found = [record_text(record) for record in caplog.records]
    assert PERSON["email"] in found[0]
    assert PERSON["phone"] in found[1] and "Import job 7 failed" in found[1]
    assert PERSON["crm_id"] in found[2]


def test_a_full_ingestion_run_writes_no_pii_to_the_logs(caplog, client, api_client_for, make_user):
    capture_everything_at_debug(caplog)

    from django.utils import timezone

    now = timezone.now().isoformat()
    source, key = source_create(name="Web", kind="website")

    # Collection API, over HTTP with the real write key.
    batch = client.post(
        "/v1/batch",
        data=orjson.dumps({"batch": messages(now)}),
        content_type="application/json",
        headers={"Authorization": basic(key)},
    )
    assert batch.status_code == 200
    single = client.post(
        "/v1/identify",
        data=orjson.dumps({"userId": PERSON["user_id"], "traits": {"email": PERSON["email"]},
                           "timestamp": now}),
        content_type="application/json",
        headers={"Authorization": basic(key)},
    )  # fmt: skip
    assert single.status_code == 200
    broken = client.post(
        "/v1/batch",
        data=b'{"batch": [{"type": "identify", "userId": "' + PERSON["user_id"].encode() + b'", ',
        content_type="application/json",
        headers={"Authorization": basic(key)},
    )
    assert broken.status_code == 400
    wrong_key = client.post(
        "/v1/track",
        data=orjson.dumps({"userId": PERSON["user_id"], "event": "X"}),
        content_type="application/json",
        headers={"Authorization": basic("wk_not_a_key")},
    )
    assert wrong_key.status_code == 401
    assert FailedEvent.objects.exists()

    # The processor, then a segment on the person's own email, refreshed.
    events_process_pending()
    person = Profile.objects.get(identities__value=PERSON["user_id"])
    segment = segment_create(
        name="Wilhelmina watch",
        definition={
            "version": 1,
            "root": {"id": "r", "type": "group", "op": "and", "children": [
                {"id": "t", "type": "trait", "trait": "email", "operator": "equals",
                 "value": PERSON["email"]},
            ]},
        },
    )  # fmt: skip
    segment_refresh(segment=segment)

    # A consent decision through the API.
    api = api_client_for("admin")
    consent = api.post(
        f"/api/profiles/{person.pk}/consent",
        {"purpose": "sms", "status": "granted", "evidence": {"phone": PERSON["phone"]}},
        format="json",
    )
    assert consent.status_code == 201

    # The admin pages that show the person.
    client.force_login(make_user("admin"))
    for url in (
        reverse("profiles:index") + f"?q={PERSON['email']}",
        reverse("profiles:profile-detail", args=[person.pk]),
        reverse("privacy:profile-consent", args=[person.pk]),
        f"/api/profiles/{person.pk}/",
    ):
        assert client.get(url).status_code == 200, url

    # A CSV import with rejected rows that name the person.
    csv = (
        "crm_id,email,phone,first_name,event,at\n"
        f"{PERSON['crm_id']},{PERSON['email']},{PERSON['phone_typed']},{PERSON['first_name']},"
        "Store Visit,not a date\n"
        f"{PERSON['crm_id']},not-an-email-{PERSON['last_name']},{PERSON['phone']},x,"
        "Store Visit,2025-01-01\n"
    )
    job = import_job_create(
        source=source,
        file=ContentFile(csv.encode(), name="crm.csv"),
        mapping={
            "crm_id": "identifier:crm_id",
            "email": "identifier:email",
            "phone": "identifier:phone",
            "first_name": "trait:firstName",
            "event": "event:name",
            "at": "event:timestamp",
        },
    )
    import_job_run(job=job)
    assert ImportRowError.objects.exists()
    events_process_pending()

    # An access request and its export, then an erasure, through the pages.
    client.post(
        reverse("privacy:requests"),
        {"kind": "access", "regulation": "gdpr", "subject_type": "email",
         "subject_value": PERSON["email"].upper()},
    )  # fmt: skip
    access = DataSubjectRequest.objects.get(kind="access")
    client.post(reverse("privacy:request-complete", args=[access.pk]))
    export = client.get(reverse("privacy:request-export", args=[access.pk]))
    assert PERSON["email"] in export.content.decode()
    client.post(
        reverse("privacy:requests"),
        {"kind": "erasure", "regulation": "ccpa", "subject_type": "phone",
         "subject_value": PERSON["phone_typed"]},
    )  # fmt: skip
    erasure = DataSubjectRequest.objects.get(kind="erasure")
    assert client.get(reverse("privacy:request-complete", args=[erasure.pk])).status_code == 200
    client.post(reverse("privacy:request-complete", args=[erasure.pk]), {"confirm": "erase"})
    erasure.refresh_from_db()
    assert erasure.status == "done"
    assert client.get(reverse("profiles:profile-detail", args=[person.pk])).status_code == 404

    # The person's data sent again: dropped, counted.
    again = client.post(
        "/v1/batch",
        data=orjson.dumps({"batch": messages(now)[:3]}),
        content_type="application/json",
        headers={"Authorization": basic(key)},
    )
    assert again.status_code == 200
    assert SuppressedCount.objects.get().count == 3

    # Logging was captured (Django logs the refused requests), and no record names the person.
    assert any(r.name == "django.request" for r in caplog.records)
    leaks = [
        (record.name, record.levelname, value)
        for record in caplog.records
        for value in PERSON.values()
        if value.lower() in record_text(record).lower()
    ]
    assert leaks == []
