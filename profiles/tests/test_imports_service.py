"""CSV import jobs on the real database: storage, progress, duplicates, rejected rows, failures."""

import hashlib
import os
import time
from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from profiles.domain.csv_import import CsvFileError, MappingError
from profiles.models import Event, FailedEvent, ImportJob, Source
from profiles.services import imports
from profiles.services.imports import (
    import_job_create,
    import_job_retry,
    import_job_run,
    import_job_start,
    import_preview,
    import_upload_stage,
)
from profiles.services.sources import source_create
from profiles.tasks import import_job_run_task

pytestmark = pytest.mark.django_db

CRM_CSV = (
    "crm_id;first_name;email;city;email_opt_in\n"
    "CRM-1;Ann;ann@example.com;York;yes\n"
    "CRM-2;Bob;bob@example.com;Leeds;maybe\n"
    "\n"
    ";Cy;;Bath;no\n"
    "CRM-4;Di;di@example.com;Hull\n"
    "CRM-5;Ed;ed@example.com;Wells;0\n"
)
CRM_MAPPING = {
    "crm_id": "identifier:crm_id",
    "first_name": "trait:firstName",
    "email": "identifier:email",
    "city": "trait:address.city",
    "email_opt_in": "consent:email_marketing",
}
POS_MAPPING = {
    "order": "event:property:order_id",
    "at": "event:timestamp",
    "email": "identifier:email",
    "event": "event:name",
    "revenue": "event:property:revenue",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def source():
    created, _ = source_create(name="CRM export", kind=Source.Kind.CRM)
    return created


def upload(text: str | bytes, name: str = "contacts.csv") -> ContentFile:
    return ContentFile(text.encode() if isinstance(text, str) else text, name=name)


def pos_csv(rows: int, bad_every: int = 0) -> str:
    lines = ["order,at,email,event,revenue"]
    for n in range(1, rows + 1):
        at = "not a date" if bad_every and n % bad_every == 0 else f"2025-03-01T10:{n % 60:02d}:00Z"
        lines.append(f"T-{n},{at},buyer{n}@example.com,Order Completed,{n}.50")
    return "\n".join(lines) + "\n"


def run_file(source, text, mapping, **kwargs) -> ImportJob:
    job = import_job_create(source=source, file=upload(text), mapping=mapping, **kwargs)
    return import_job_run(job=job)


def test_a_job_stores_the_file_and_its_sha256(source, media, make_user):
    admin = make_user("admin")
    job = import_job_create(
        source=source, file=upload(CRM_CSV), mapping={**CRM_MAPPING, "city": ""}, user=admin
    )
    assert job.status == ImportJob.Status.PENDING
    assert job.sha256 == hashlib.sha256(CRM_CSV.encode()).hexdigest()
    assert job.original_name == "contacts.csv"
    assert job.created_by == admin
    assert job.mapping == {k: v for k, v in CRM_MAPPING.items() if k != "city"}
    path = media / job.file.name
    assert path.read_text() == CRM_CSV
    assert job.file.name.startswith("imports/")


def test_a_bad_mapping_a_disabled_source_or_an_empty_file_make_no_job(source):
    with pytest.raises(MappingError, match="Unknown column 'mail'"):
        import_job_create(source=source, file=upload(CRM_CSV), mapping={"mail": "identifier:email"})
    with pytest.raises(CsvFileError, match="empty"):
        import_job_create(source=source, file=upload(""), mapping=CRM_MAPPING)
    source.enabled = False
    source.save()
    with pytest.raises(CsvFileError, match="disabled"):
        import_job_create(source=source, file=upload(CRM_CSV), mapping=CRM_MAPPING)
    assert not ImportJob.objects.exists()


def test_good_rows_are_stored_and_bad_rows_are_reported_with_reasons(source):
    job = run_file(source, CRM_CSV, CRM_MAPPING)

    assert job.status == ImportJob.Status.DONE, job.error
    assert (job.rows_total, job.rows_done) == (5, 5)
    assert (job.accepted, job.duplicates, job.rejected) == (2, 0, 3)
    assert job.started_at <= job.finished_at
    errors = list(job.row_errors.values_list("row_number", "code", "reason", "row"))
    assert [(number, code) for number, code, _, _ in errors] == [
        (2, "invalid_consent"),
        (3, "missing_identity"),
        (4, "wrong_field_count"),
    ]
    assert "'email_opt_in' (consent:email_marketing): 'maybe'" in errors[0][2]
    assert errors[0][3] == {
        "crm_id": "CRM-2",
        "first_name": "Bob",
        "email": "bob@example.com",
        "city": "Leeds",
        "email_opt_in": "maybe",
    }
    assert errors[2][2].startswith("The row has 4 fields but the header has 5")

    ann = Event.objects.get(source=source, traits__crm_id="CRM-1")
    assert ann.type == "identify"
    assert ann.traits == {
        "crm_id": "CRM-1",
        "firstName": "Ann",
        "email": "ann@example.com",
        "address": {"city": "York"},
    }
    assert ann.consent == {"email_marketing": True}
    assert ann.message_id == f"csv-{job.sha256[:40]}-1"
    assert {item["type"] for item in ann.context["externalIds"]} == {"crm_id", "email"}
    ed = Event.objects.get(source=source, traits__crm_id="CRM-5")
    assert ed.consent == {"email_marketing": False}


def test_importing_the_same_file_twice_stores_nothing_new(source):
    first = run_file(source, CRM_CSV, CRM_MAPPING)
    second = run_file(source, CRM_CSV, CRM_MAPPING)

    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 2, 3)
    assert second.status == ImportJob.Status.DONE
    assert Event.objects.filter(source=source).count() == 2


def test_event_files_become_track_events_with_numbers_and_times(source):
    job = run_file(source, pos_csv(3), POS_MAPPING)

    assert (job.accepted, job.rejected) == (3, 0)
    event = Event.objects.get(source=source, properties__order_id="T-2")
    assert event.type == "track"
    assert event.name == "Order Completed"
    assert event.properties == {"order_id": "T-2", "revenue": 2.5}
    assert event.timestamp == datetime(2025, 3, 1, 10, 2, tzinfo=UTC)
    assert event.traits == {"email": "buyer2@example.com"}
    assert event.anonymous_id == event.message_id
    assert event.user_id is None


def test_progress_is_committed_chunk_by_chunk_and_ends_at_rows_total(source, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 4)
    seen = []
    chunk = imports._import_chunk

    def watched(job, *args):
        chunk(job, *args)
        seen.append(ImportJob.objects.values_list("rows_done", "rows_total").get(pk=job.pk))

    monkeypatch.setattr(imports, "_import_chunk", watched)
    job = run_file(source, pos_csv(10, bad_every=3), POS_MAPPING)

    assert seen == [(4, 10), (8, 10), (10, 10)]
    assert (job.rows_done, job.rows_total, job.percent) == (10, 10, 100)
    assert (job.accepted, job.rejected) == (7, 3)
    assert list(job.row_errors.values_list("row_number", flat=True)) == [3, 6, 9]
    assert job.row_errors.first().reason.startswith(
        "Column 'at' (event:timestamp): 'not a date' is not a date-time"
    )


def test_a_crash_marks_the_job_failed_and_keeps_what_was_stored(source, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 5)
    store = imports.events_store
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return store(**kwargs)

    monkeypatch.setattr(imports, "events_store", flaky)
    job = run_file(source, pos_csv(12), POS_MAPPING)

    assert job.status == ImportJob.Status.FAILED
    assert job.error == "RuntimeError: disk on fire"
    assert job.finished_at is not None
    assert (job.rows_done, job.accepted) == (5, 5)

    monkeypatch.setattr(imports, "events_store", store)
    job = import_job_retry(job=job)
    assert job.status == ImportJob.Status.PENDING
    job = import_job_run(job=job)
    assert job.status == ImportJob.Status.DONE
    assert (job.rows_done, job.accepted, job.duplicates) == (12, 7, 5)
    assert Event.objects.filter(source=source).count() == 12


def test_only_failed_or_abandoned_jobs_run_again(source):
    job = run_file(source, CRM_CSV, CRM_MAPPING)
    with pytest.raises(ValueError, match="Only a failed import"):
        import_job_retry(job=job)
    assert import_job_run(job=job).accepted == 2  # done: left alone, counts unchanged
    assert job.row_errors.count() == 3


def test_messages_refused_by_the_collection_path_are_rejected_rows(source):
    source.tracking_plan = {"Order Completed": {"revenue": "string"}}
    source.tracking_plan_mode = Source.PlanMode.QUARANTINE
    source.save()
    job = run_file(source, pos_csv(2), POS_MAPPING)

    assert (job.accepted, job.rejected) == (0, 2)
    assert set(job.row_errors.values_list("code", flat=True)) == {"tracking_plan"}
    assert job.row_errors.first().row["order"] == "T-1"
    assert FailedEvent.objects.filter(source=source, endpoint="import").count() == 2


def test_too_large_rows_and_nul_characters_are_rejected_rows(source):
    source.max_message_bytes = 1024
    source.save()
    text = f"email,name\nbig@example.com,{'x' * 2000}\nnul@example.com,a\x00b\nok@example.com,ok\n"
    job = run_file(source, text, {"email": "identifier:email", "name": "trait:name"})

    assert (job.accepted, job.rejected) == (1, 2)
    codes = dict(job.row_errors.values_list("row_number", "code"))
    assert codes == {1: "message_too_large", 2: "nul_character"}
    assert job.row_errors.get(row_number=2).row["name"] == "a\ufffdb"


def test_windows_encoded_files_are_read(source):
    text = "email,name\nzoe@example.com,Zoë Brontë\n".encode("cp1252")
    job = import_job_run(
        job=import_job_create(
            source=source,
            file=upload(text),
            mapping={"email": "identifier:email", "name": "trait:name"},
        )
    )
    assert job.accepted == 1
    assert Event.objects.get(source=source).traits["name"] == "Zoë Brontë"


def test_excel_unicode_text_files_are_read(source):
    text = "email\tname\nzoe@example.com\tZoë Brontë\n".encode("utf-16")
    job = import_job_run(
        job=import_job_create(
            source=source,
            file=upload(text),
            mapping={"email": "identifier:email", "name": "trait:name"},
        )
    )
    assert job.accepted == 1
    assert Event.objects.get(source=source).traits["name"] == "Zoë Brontë"


def test_preview_shows_messages_and_errors_before_anything_is_stored(source):
    preview = import_preview(file=upload(CRM_CSV), mapping=CRM_MAPPING, n=3)

    assert [row.number for row in preview.rows] == [1, 2, 3]
    assert (preview.ready, preview.rejected) == (1, 2)
    first, second, third = preview.rows
    assert first.message["traits"]["firstName"] == "Ann"
    assert first.values["city"] == "York"
    assert (second.code, third.code) == ("invalid_consent", "missing_identity")
    assert "'maybe'" in second.reason
    assert not Event.objects.exists()
    with pytest.raises(MappingError, match="Unknown column"):
        import_preview(file=upload(CRM_CSV), mapping={"nope": "identifier:email"})


def test_preview_applies_the_sources_message_size_limit(source):
    source.max_message_bytes = 600
    text = f"email,name\nbig@example.com,{'x' * 2000}\n"
    mapping = {"email": "identifier:email", "name": "trait:name"}
    preview = import_preview(file=upload(text), mapping=mapping, source=source)
    assert preview.rows[0].code == "message_too_large"
    assert preview.rows[0].message is None


def test_uploads_are_staged_under_media_root_and_old_ones_pruned(media):
    old = default_storage.save(f"{imports.STAGED_DIR}/old.csv", ContentFile(b"a\n"))
    past = time.time() - 2 * 86400
    os.utime(media / old, (past, past))

    staged = import_upload_stage(uploaded=upload(CRM_CSV, name="crm export.csv"))

    assert staged.name == "crm export.csv"
    assert staged.size == len(CRM_CSV)
    assert staged.sha256 == hashlib.sha256(CRM_CSV.encode()).hexdigest()
    assert staged.encoding == "utf-8-sig"
    assert (media / staged.path).read_text() == CRM_CSV
    assert not (media / old).exists()
    with pytest.raises(CsvFileError, match="Excel workbook"):
        import_upload_stage(uploaded=upload(b"PK\x03\x04\x00\x00", name="book.xlsx"))
    with pytest.raises(CsvFileError, match="empty"):
        import_upload_stage(uploaded=upload(b"", name="empty.csv"))


def test_starting_a_job_enqueues_the_task_after_commit(
    source, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(imports, "async_task", lambda *args, **kwargs: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_start(source=source, file=upload(CRM_CSV), mapping=CRM_MAPPING)
    assert queued == [("profiles.tasks.import_job_run_task", job.pk)]

    result = import_job_run_task(job.pk)
    assert result == {
        "status": "done",
        "rows": 5,
        "accepted": 2,
        "duplicates": 0,
        "rejected": 3,
        "warnings": 0,
    }
    assert import_job_run_task(999_999) is None


def test_rows_with_refused_identifiers_are_rejected_or_imported_with_a_warning(source):
    text = (
        "crm_id,first_name,email,phone,city,email_opt_in\n"
        ",Jane,jane at example dot com,,Leeds,yes\n"  # only identifier invalid: rejected
        "C2,Kim,test@example.com,,York,no\n"  # a blocked email beside a good crm id: a warning
        "C3,Lee,lee@example.com,,Hull,yes\n"  # fine
    )
    job = run_file(source, text, CRM_MAPPING)

    assert (job.rows_total, job.accepted, job.rejected, job.warnings) == (3, 2, 1, 1)
    rejected, warned = job.row_errors.order_by("row_number")
    assert (rejected.row_number, rejected.severity, rejected.code) == (
        1,
        "error",
        "invalid_identifier",
    )
    assert "'jane at example dot com' is not an email address" in rejected.reason
    assert (warned.row_number, warned.severity, warned.code) == (2, "warning", "invalid_identifier")
    assert "'test@example.com' is a blocked placeholder value for email" in warned.reason
    assert warned.row["crm_id"] == "C2"


def test_preview_shows_warnings_on_rows_that_are_ready(source):
    text = "crm_id,first_name,email,phone,city,email_opt_in\nC2,Kim,kim at x,,York,no\n"
    preview = import_preview(file=upload(text), mapping=CRM_MAPPING)

    [row] = preview.rows
    assert row.message is not None
    assert (preview.ready, preview.warned) == (1, 1)
    assert "'kim at x' is not an email address" in row.warnings[0]
