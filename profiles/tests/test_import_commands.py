"""The import_records and generate_demo management commands."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from profiles.demo.generator import SOURCES, generate
from profiles.models import Event, ImportJob, Source
from profiles.services.sources import source_create

pytestmark = pytest.mark.django_db

CSV = (
    "Email;Phone;Event;When;Revenue\n"
    "ann@example.com;07700 900123;Order Completed;2025-03-01T10:00:00Z;12.50\n"
    "bob@example.com;;Order Completed;last tuesday;3\n"
    ";;Order Completed;2025-03-01T11:00:00Z;4\n"
)
MAP = [
    "Email=identifier:email",
    "Phone=identifier:phone",
    "Event=event:name",
    "When=event:timestamp",
    "Revenue=event:property:revenue",
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "till.csv"
    path.write_text(CSV)
    return path


@pytest.fixture
def source():
    created, _ = source_create(name="Tills", kind=Source.Kind.POS)
    return created


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_records_prints_counts_and_rejected_rows(csv_file, source):
    out = run("import_records", str(csv_file), "--source", "Tills", "--map", *MAP)

    assert "Imported till.csv into Tills (job " in out
    assert "  rows       3\n" in out
    assert "  accepted   1\n" in out
    assert "  duplicates 0\n" in out
    assert "  rejected   2\n" in out
    assert (
        "  row 2 [invalid_timestamp] Column 'When' (event:timestamp): 'last tuesday' is not "
        "a date-time" in out
    )
    assert (
        "  row 3 [missing_identity] No identifier: the identifier columns 'Email', 'Phone'" in out
    )
    event = Event.objects.get(source=source)
    assert (event.name, event.properties) == ("Order Completed", {"revenue": 12.5})

    again = run("import_records", str(csv_file), "--source", "Tills", "--map", *MAP)
    assert "  accepted   0\n" in again
    assert "  duplicates 1\n" in again
    assert Event.objects.filter(source=source).count() == 1


def test_import_records_prints_warnings_for_refused_identifiers(tmp_path, source):
    path = tmp_path / "till.csv"
    path.write_text(
        "Email;Phone;Event;When;Revenue\n"
        "ann@example.com;12;Order Completed;2025-03-01T10:00:00Z;12.50\n"
        "bob at example;;Order Completed;2025-03-01T10:00:00Z;3\n"
    )
    out = run("import_records", str(path), "--source", "Tills", "--map", *MAP)

    assert "  accepted   1\n" in out
    assert "  rejected   1\n" in out
    assert "  warnings   1\n" in out
    assert (
        "Rejected rows:\n  row 2 [invalid_identifier] Column 'Email' (identifier:email): "
        "'bob at example' is not an email address" in out
    )
    assert (
        "Rows imported with a warning:\n  row 1 [invalid_identifier] Column 'Phone' "
        "(identifier:phone): '12' is not a possible phone number" in out
    )


def test_import_records_limits_the_rejected_rows_it_prints(csv_file, source):
    out = run("import_records", str(csv_file), "--source", "Tills", "--show", "1", "--map", *MAP)
    assert "row 2 [" in out
    assert "row 3 [" not in out
    assert "... and 1 more" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "Nope", "--map", *MAP], "Unknown source 'Nope'. Enabled sources: 'Tills'."),
        (["--source", "Tills", "--map", "Mail=identifier:email"], "Unknown column 'Mail'"),
        (["--source", "Tills", "--map", "Email=identity:email"], "Unknown target 'identity:email'"),
        (["--source", "Tills", "--map", "Email"], "'Email' is not COLUMN=TARGET"),
        (["--source", "Tills", "--map", "Phone=trait:phone"], "Map at least one column to an"),
    ],
)
def test_import_records_explains_what_is_wrong(csv_file, source, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("import_records", str(csv_file), *args)
    assert not ImportJob.objects.exists()


def test_import_records_without_a_mapping_suggests_one(csv_file, source):
    with pytest.raises(CommandError) as caught:
        run("import_records", str(csv_file), "--source", "Tills")
    assert "--map Email=identifier:email Phone=identifier:phone Event=event:name" in str(
        caught.value
    )
    with pytest.raises(CommandError, match="No such file"):
        run("import_records", "/nonexistent.csv", "--source", "Tills", "--map", *MAP)


DEMO = ["--customers", "30", "--days", "30", "--seed", "1", "--now", "2025-06-01T00:00:00Z"]


def test_generate_demo_loads_every_source_and_writes_the_truth(tmp_path):
    truth_path = tmp_path / "truth.json"
    out = run("generate_demo", *DEMO, "--truth", str(truth_path))

    dataset = generate(customers=30, days=30, seed=1, now=datetime(2025, 6, 1, tzinfo=UTC))
    assert set(Source.objects.values_list("name", flat=True)) == set(SOURCES)
    for name, messages in dataset.messages.items():
        stored = Event.objects.filter(source__name=name)
        rows = sum(len(f.rows) for f in dataset.files if SOURCES[name] == f.source_kind)
        assert stored.count() == len(messages) + rows > 0, name
    assert "Web store" in out and "0 failed" in out
    assert "pos_transactions.csv" in out and "0 rejected" in out
    assert "Done in " in out

    truth = json.loads(truth_path.read_text())
    assert set(truth) == set(dataset.truth)
    file_refs = [ref for refs in truth.values() for ref in refs[1:] if "file" in ref]
    assert file_refs
    kinds = {f.name: f.source_kind for f in dataset.files}
    names = {kind: name for name, kind in SOURCES.items()}
    for ref in file_refs:
        source = names[kinds[ref["file"]]]
        assert Event.objects.filter(source__name=source, message_id=ref["messageId"]).exists()
    message_refs = [ref for refs in truth.values() for ref in refs[1:] if "source" in ref]
    sample = message_refs[:: max(1, len(message_refs) // 20)]
    for ref in sample:
        assert Event.objects.filter(
            source__name=ref["source"], message_id=ref["messageId"]
        ).exists()


def test_generate_demo_twice_stores_nothing_new():
    run("generate_demo", *DEMO)
    events, jobs = Event.objects.count(), ImportJob.objects.count()

    out = run("generate_demo", *DEMO)

    assert (Event.objects.count(), ImportJob.objects.count()) == (events, jobs)
    assert " 0 new, " in out and "already imported" in out
    assert "created source" not in out


def test_generate_demo_refuses_bad_arguments():
    with pytest.raises(CommandError, match="days must be at least 1"):
        run("generate_demo", "--days", "0")
    with pytest.raises(CommandError, match="--now"):
        run("generate_demo", "--now", "yesterday")


def test_setup_demo_loads_the_demo_data_into_an_empty_database_once(
    settings, tmp_path, monkeypatch
):
    from profiles.management.commands import generate_demo

    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(generate_demo, "DEFAULT_CUSTOMERS", 12)
    monkeypatch.setattr(generate_demo, "DEFAULT_DAYS", 7)

    assert "loading the demo data" not in run("setup_demo", "--no-data")
    assert not Event.objects.exists()

    out = run("setup_demo")
    assert "No events yet: loading the demo data (12 customers over 7 days" in out
    assert Event.objects.exists()
    assert json.loads((tmp_path / "demo-truth.json").read_text())

    assert "loading the demo data" not in run("setup_demo")
