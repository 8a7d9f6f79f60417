"""CSV imports of offline records: stage an upload, preview it, then run it as a job.

A job streams its file in chunks of CHUNK_ROWS rows through `prepare_messages` and
`events_store`, the very path the collection API uses, so an imported row is an event like any
other: deduplicated on (source, messageId), checked against the source's tracking plan, and kept
as a failed event when it is invalid. Each chunk commits on its own, with the job's counters, so
the job page can show progress; a crash marks the job failed with its error.
"""

import hashlib
import io
import itertools
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any, TextIO

import orjson
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from profiles.domain import csv_import
from profiles.domain.csv_import import CsvFile, CsvFileError, MappingError, Plan, Record, RowError
from profiles.domain.identity import TypeRule
from profiles.domain.messages import prepare_messages
from profiles.models import ImportJob, ImportRowError, Source
from profiles.selectors.imports import stale_after
from profiles.services.collection import events_store
from profiles.services.processing import identity_rules

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1000
READ_CHUNK = 1024 * 1024
STAGED_DIR = "imports/staged"
STAGED_MAX_AGE = timedelta(days=1)
ENDPOINT = "import"

__all__ = [
    "CsvFileError",
    "MappingError",
    "Preview",
    "StagedUpload",
    "import_file_inspect",
    "import_job_create",
    "import_job_enqueue",
    "import_job_retry",
    "import_job_run",
    "import_job_start",
    "import_preview",
    "import_upload_stage",
]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    sha256: str
    size: int
    encoding: str


@dataclass(slots=True)
class FileInfo:
    """What the mapping page needs: the columns and a few sample values of each."""

    header: list[str]
    delimiter: str
    encoding: str
    samples: dict[str, list[str]]


@dataclass(slots=True)
class StagedUpload:
    """An uploaded file kept under MEDIA_ROOT until its import starts (or a day has passed)."""

    token: str
    path: str
    name: str
    size: int
    sha256: str
    encoding: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "encoding": self.encoding,
        }


@dataclass(slots=True)
class PreviewRow:
    number: int
    values: dict[str, str]
    message: dict[str, Any] | None = None
    code: str = ""
    reason: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def json(self) -> str:
        """The message as indented JSON, for people to read."""
        if self.message is None:
            return ""
        return orjson.dumps(self.message, option=orjson.OPT_INDENT_2).decode()


@dataclass(slots=True)
class Preview:
    """The first rows of a file as the messages they would become, or why they would not."""

    plan: Plan
    rows: list[PreviewRow] = field(default_factory=list)

    @property
    def ready(self) -> int:
        return sum(row.message is not None for row in self.rows)

    @property
    def rejected(self) -> int:
        return len(self.rows) - self.ready

    @property
    def warned(self) -> int:
        return sum(row.message is not None and bool(row.warnings) for row in self.rows)


# --- Reading files ------------------------------------------------------------------------------


def _binary(file: IO[bytes]) -> IO[bytes]:
    """The plain binary file under Django's File wrappers (TextIOWrapper needs one)."""
    inner: Any = file
    while not isinstance(inner, io.IOBase) and hasattr(inner, "file"):
        inner = inner.file
    return inner


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    file.seek(0)
    while chunk := file.read(READ_CHUNK):
        yield chunk


def _fingerprint(file: IO[bytes]) -> Fingerprint:
    """sha256, size and text encoding, in one pass over the file."""
    digest = hashlib.sha256()
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for chunk in _chunks(file):
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    encoding = csv_import.detect_encoding(counted())
    csv_import.check_file_size(size)
    return Fingerprint(digest.hexdigest(), size, encoding)


@contextmanager
def _opened(file: IO[bytes], encoding: str) -> Iterator[CsvFile]:
    """The file as CSV records; the binary file stays open for the caller."""
    binary = _binary(file)
    binary.seek(0)
    text: TextIO = io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")  # type: ignore[arg-type]
    try:
        yield csv_import.open_csv(text)
    finally:
        text.detach()


def import_file_inspect(
    *, file: IO[bytes], encoding: str | None = None, samples: int = 3
) -> FileInfo:
    """The header of a CSV file, its delimiter and the first few values of each column."""
    if encoding is None:
        encoding = _fingerprint(file).encoding
    with _opened(file, encoding) as opened:
        records = [r for r in itertools.islice(opened.records, samples) if not r.error]
    values = {
        name: [r.fields[index] for r in records if index < len(r.fields)]
        for index, name in enumerate(opened.header)
    }
    return FileInfo(opened.header, opened.delimiter, encoding, values)


def import_job_header(*, job: ImportJob) -> list[str]:
    """The column names of a job's file, to show its rejected rows in file order ([] if the
    file is gone)."""
    try:
        with job.file.open("rb") as file:
            encoding = csv_import.detect_encoding(itertools.islice(_chunks(file), 1))
            with _opened(file, encoding) as opened:
                return opened.header
    except (OSError, CsvFileError):
        return []


# --- Staging and preview ------------------------------------------------------------------------


def import_upload_stage(*, uploaded: File) -> StagedUpload:
    """Check an uploaded CSV file and keep it under MEDIA_ROOT until its mapping is chosen."""
    csv_import.check_file_size(uploaded.size or 0)
    fingerprint = _fingerprint(uploaded)
    with _opened(uploaded, fingerprint.encoding):
        pass  # the header must be readable before anything is kept
    _staged_prune()
    token = uuid.uuid4().hex
    uploaded.seek(0)
    path = default_storage.save(f"{STAGED_DIR}/{token}.csv", uploaded)
    name = os.path.basename(uploaded.name or "upload.csv")
    return StagedUpload(
        token, path, name, fingerprint.size, fingerprint.sha256, fingerprint.encoding
    )


def import_staged_delete(*, path: str) -> None:
    """Forget a staged upload."""
    if path.startswith(f"{STAGED_DIR}/"):
        default_storage.delete(path)


def _staged_prune() -> None:
    """Delete staged uploads older than a day (abandoned before their import started)."""
    try:
        _, names = default_storage.listdir(STAGED_DIR)
    except FileNotFoundError:
        return
    cutoff = timezone.now() - STAGED_MAX_AGE
    for name in names:
        path = f"{STAGED_DIR}/{name}"
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except (FileNotFoundError, NotImplementedError):
            continue


def import_preview(
    *,
    file: IO[bytes],
    mapping: dict[str, str],
    n: int = 10,
    encoding: str | None = None,
    sha256: str | None = None,
    source: Source | None = None,
) -> Preview:
    """The first `n` rows as the messages they would become, with the errors of the others."""
    if encoding is None or sha256 is None:
        fingerprint = _fingerprint(file)
        encoding, sha256 = fingerprint.encoding, fingerprint.sha256
    with _opened(file, encoding) as opened:
        plan = csv_import.plan_mapping(mapping, opened.header, delimiter=opened.delimiter)
        records = list(itertools.islice(opened.records, n))
    preview = Preview(plan)
    messages = []
    rules = identity_rules()
    for record in records:
        row = PreviewRow(record.number, csv_import.row_values(plan.header, record.fields))
        preview.rows.append(row)
        if record.error:
            row.code, row.reason = "unreadable_row", record.error
            continue
        try:
            converted = csv_import.row_convert(
                plan, record.fields, row_number=record.number, file_sha256=sha256, rules=rules
            )
        except RowError as exc:
            row.code, row.reason = exc.code, exc.reason
        else:
            row.message = converted.message
            row.warnings = [warning.reason for warning in converted.warnings]
            messages.append(converted.message)
    max_bytes = source.max_message_bytes if source else Source().max_message_bytes
    _, rejected = prepare_messages(
        {"batch": messages},
        endpoint=ENDPOINT,
        received_at=timezone.now(),
        max_message_bytes=max_bytes,
    )
    by_id = {row.message["messageId"]: row for row in preview.rows if row.message}
    for item in rejected:
        row = by_id[item.payload["messageId"]]  # type: ignore[index]
        row.message, row.code, row.reason = None, item.code, item.reason
    return preview


# --- Jobs ---------------------------------------------------------------------------------------


@transaction.atomic
def import_job_create(
    *,
    source: Source,
    file: IO[bytes],
    mapping: dict[str, str],
    user=None,
    name: str | None = None,
) -> ImportJob:
    """Store a CSV file under MEDIA_ROOT with its sha256, as a job waiting to run."""
    if not source.enabled:
        raise CsvFileError(f"Source {source.name!r} is disabled: enable it before importing.")
    fingerprint = _fingerprint(file)
    with _opened(file, fingerprint.encoding) as opened:
        plan = csv_import.plan_mapping(mapping, opened.header, delimiter=opened.delimiter)
    name = os.path.basename(name or getattr(file, "name", None) or "import.csv")
    job = ImportJob(
        source=source,
        original_name=name,
        sha256=fingerprint.sha256,
        mapping=plan.as_mapping(),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    _binary(file).seek(0)
    job.file.save(name, File(_binary(file), name=name), save=False)
    job.save()
    return job


def import_job_enqueue(*, job: ImportJob) -> None:
    """Run the job on the worker once the current transaction commits."""
    transaction.on_commit(
        lambda: async_task(
            "profiles.tasks.import_job_run_task", job.pk, task_name=f"import-job-{job.pk}"
        )
    )


@transaction.atomic
def import_job_start(
    *, source: Source, file: IO[bytes], mapping: dict[str, str], user=None, name: str | None = None
) -> ImportJob:
    """Create an import job and hand it to the worker."""
    job = import_job_create(source=source, file=file, mapping=mapping, user=user, name=name)
    import_job_enqueue(job=job)
    return job


def _stale(now) -> Q:
    """A job still marked running after the task timeout: its worker died."""
    return Q(status=ImportJob.Status.RUNNING, started_at__lt=now - stale_after())


@transaction.atomic
def import_job_retry(*, job: ImportJob) -> ImportJob:
    """Run a failed job again (or one whose worker died); rows already stored count as
    duplicates, so nothing is stored twice."""
    claimed = (
        ImportJob.objects.filter(pk=job.pk)
        .filter(Q(status=ImportJob.Status.FAILED) | _stale(timezone.now()))
        .update(status=ImportJob.Status.PENDING, error="", finished_at=None)
    )
    if not claimed:
        raise ValueError("Only a failed import, or one whose worker stopped, can run again.")
    job.refresh_from_db()
    import_job_enqueue(job=job)
    return job


def import_job_run(*, job: ImportJob) -> ImportJob:
    """Import a job's file now; a failure marks the job failed with its error, never leaves it
    "running". A job that is done, or running elsewhere, is left alone."""
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job.pk)
        .filter(Q(status=ImportJob.Status.PENDING) | _stale(now))
        .update(
            status=ImportJob.Status.RUNNING,
            started_at=now,
            finished_at=None,
            error="",
            rows_total=0,
            rows_done=0,
            accepted=0,
            duplicates=0,
            rejected=0,
            warnings=0,
        )
    )
    if not claimed:
        job.refresh_from_db()
        return job
    try:
        job.refresh_from_db()
        job.row_errors.all().delete()
        _run(job)
    except Exception as exc:
        logger.exception("Import job %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=_describe(exc), finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def _describe(exc: Exception) -> str:
    if isinstance(exc, CsvFileError | MappingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".replace("\x00", "\ufffd")


def _run(job: ImportJob) -> None:
    source = job.source
    with job.file.open("rb") as file:
        encoding = _fingerprint(file).encoding
        with _opened(file, encoding) as opened:
            total = sum(1 for _ in opened.records)
        ImportJob.objects.filter(pk=job.pk).update(rows_total=total)
        rules = identity_rules()
        with _opened(file, encoding) as opened:
            plan = csv_import.plan_mapping(job.mapping, opened.header, delimiter=opened.delimiter)
            for chunk in itertools.batched(opened.records, CHUNK_ROWS):
                _import_chunk(job, source, plan, rules, chunk)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now()
    )


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")  # PostgreSQL text and jsonb cannot hold NUL


def _row_error(
    job: ImportJob,
    plan: Plan,
    record: Record,
    code: str,
    reason: str,
    severity: str = ImportRowError.Severity.ERROR,
):
    values = csv_import.row_values(plan.header, record.fields)
    return ImportRowError(
        job=job,
        row_number=record.number,
        severity=severity,
        code=code,
        reason=_clean(reason),
        row={_clean(key): _clean(value) for key, value in values.items()},
    )


def _import_chunk(
    job: ImportJob,
    source: Source,
    plan: Plan,
    rules: dict[str, TypeRule],
    chunk: tuple[Record, ...],
) -> None:
    errors: list[ImportRowError] = []
    warnings: dict[str, ImportRowError] = {}  # by messageId: dropped if the row is rejected
    messages: list[dict[str, Any]] = []
    records: dict[str, Record] = {}
    for record in chunk:
        if record.error:
            errors.append(_row_error(job, plan, record, "unreadable_row", record.error))
            continue
        try:
            converted = csv_import.row_convert(
                plan, record.fields, row_number=record.number, file_sha256=job.sha256, rules=rules
            )
        except RowError as exc:
            errors.append(_row_error(job, plan, record, exc.code, exc.reason))
            continue
        message = converted.message
        messages.append(message)
        records[message["messageId"]] = record
        if converted.warnings:
            # One entry per row, like a rejection: its reasons together, the first one's code.
            warnings[message["messageId"]] = _row_error(
                job,
                plan,
                record,
                converted.warnings[0].code,
                " ".join(warning.reason for warning in converted.warnings),
                ImportRowError.Severity.WARNING,
            )
    prepared, rejected = prepare_messages(
        {"batch": messages},
        endpoint=ENDPOINT,
        received_at=timezone.now(),
        max_message_bytes=source.max_message_bytes,
    )
    with transaction.atomic():
        result = events_store(
            source=source, endpoint=ENDPOINT, prepared=prepared, rejected=rejected
        )
        for item in result.failed:
            record = records[item.payload["messageId"]]  # type: ignore[index]
            errors.append(_row_error(job, plan, record, item.code, item.reason))
            warnings.pop(item.payload["messageId"], None)  # type: ignore[arg-type]
        rows = sorted([*errors, *warnings.values()], key=lambda error: error.row_number)
        ImportRowError.objects.bulk_create(rows)
        ImportJob.objects.filter(pk=job.pk).update(
            rows_done=F("rows_done") + len(chunk),
            accepted=F("accepted") + result.accepted,
            duplicates=F("duplicates") + result.duplicates,
            rejected=F("rejected") + len(errors),
            warnings=F("warnings") + len(warnings),
        )
