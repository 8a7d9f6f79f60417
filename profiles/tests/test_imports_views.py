"""The CSV import pages: roles, upload, mapping, preview, start, progress polling and the report."""

import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from profiles.models import ImportJob, Source
from profiles.services import imports
from profiles.services.imports import import_job_create, import_job_run
from profiles.services.sources import source_create

pytestmark = pytest.mark.django_db

CSV = (
    "email,first_name,signup,email_opt_in\n"
    "ann@example.com,Ann,2024-01-02,yes\n"
    ",Nobody,2024-01-03,no\n"
    "cy@example.com,Cy,2024-01-04,perhaps\n"
)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def source():
    created, _ = source_create(name="CRM", kind=Source.Kind.CRM)
    return created


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(imports, "async_task", lambda *args, **kwargs: calls.append(args))
    return calls


def upload(client, source, text=CSV, name="people.csv"):
    return client.post(
        reverse("profiles:import-new"),
        {"source": source.pk, "file": SimpleUploadedFile(name, text.encode(), "text/csv")},
    )


def token_of(response) -> str:
    return response["Location"].rstrip("/").rsplit("/", 1)[-1]


def mapping_post(**targets) -> dict:
    columns = ["email", "first_name", "signup", "email_opt_in"]
    data = {f"col-{i}": "" for i in range(len(columns))}
    for index, column in enumerate(columns):
        if column in targets:
            data[f"col-{index}"] = targets[column]
    return data


GOOD = mapping_post(
    email="identifier:email",
    first_name="trait:firstName",
    email_opt_in="consent:email_marketing",
)


def finished_job(source, text=CSV):
    job = import_job_create(
        source=source,
        file=ContentFile(text.encode(), name="people.csv"),
        mapping={"email": "identifier:email", "email_opt_in": "consent:email_marketing"},
    )
    return import_job_run(job=job)


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_only_admins_may_import(client_for, source, role):
    client = client_for(role)
    job = finished_job(source)
    for url in (
        reverse("profiles:import-list"),
        reverse("profiles:import-new"),
        reverse("profiles:import-map", args=["abc"]),
        reverse("profiles:import-detail", args=[job.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert upload(client, source).status_code == 403
    assert client.post(reverse("profiles:import-retry", args=[job.pk])).status_code == 403
    assert ImportJob.objects.count() == 1


def test_the_list_shows_past_imports(client_for, source):
    client = client_for("admin")
    assert "No imports yet" in client.get(reverse("profiles:import-list")).content.decode()
    job = finished_job(source)
    page = client.get(reverse("profiles:import-list")).content.decode()
    assert reverse("profiles:import-detail", args=[job.pk]) in page
    assert "people.csv" in page
    assert "command line" in page


def test_upload_then_map_with_suggested_targets(client_for, source):
    client = client_for("admin")
    response = upload(client, source)
    assert response.status_code == 302
    token = token_of(response)
    assert response["Location"] == reverse("profiles:import-map", args=[token])

    page = client.get(response["Location"]).content.decode()
    assert "Map the columns of “people.csv”" in page
    assert re.search(r'<option value="identifier:email" selected>', page)
    assert re.search(r'<option value="trait:firstName" selected>', page)
    assert re.search(r'<option value="consent:email_marketing" selected>', page)
    assert "ann@example.com" in page  # sample values
    assert "comma-separated" in page


def test_uploads_that_are_not_csv_are_refused_with_a_reason(client_for, source):
    client = client_for("admin")
    response = client.post(
        reverse("profiles:import-new"),
        {"source": source.pk, "file": SimpleUploadedFile("book.xlsx", b"PK\x03\x04\x14\x00")},
    )
    assert response.status_code == 400
    assert "looks like an Excel workbook" in response.content.decode()
    response = client.post(reverse("profiles:import-new"), {"source": source.pk})
    assert response.status_code == 400


def test_an_unknown_upload_token_is_not_found(client_for):
    assert client_for("admin").get(reverse("profiles:import-map", args=["nope"])).status_code == 404


def test_preview_shows_the_first_rows_and_their_errors(client_for, source):
    client = client_for("admin")
    url = upload(client, source)["Location"]

    response = client.post(url, {**GOOD, "action": "preview"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="preview"')
    assert "1 ready" in html and "2 rejected" in html
    assert "No identifier: the identifier column &#x27;email&#x27; is empty." in html
    assert "&#x27;perhaps&#x27; is not a consent value" in html
    assert "Start the import" in html
    assert not ImportJob.objects.exists()


def test_a_bad_mapping_is_explained(client_for, source):
    client = client_for("admin")
    url = upload(client, source)["Location"]
    response = client.post(url, {**mapping_post(first_name="trait:firstName")}, **HTMX)
    assert response.status_code == 400
    assert "Map at least one column to an identifier" in response.content.decode()
    custom = {**GOOD, "custom-2": "trait:"}
    response = client.post(url, custom, **HTMX)
    assert "Trait name" in response.content.decode()


def test_a_custom_target_overrides_the_select(client_for, source):
    client = client_for("admin")
    url = upload(client, source)["Location"]
    response = client.post(url, {**GOOD, "custom-2": "trait:signedUpOn"}, **HTMX)
    assert "signedUpOn" in response.content.decode()


def test_start_creates_the_job_and_queues_it(
    client_for, source, queued, django_capture_on_commit_callbacks
):
    client = client_for("admin")
    url = upload(client, source)["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**GOOD, "action": "start"}, **HTMX)

    job = ImportJob.objects.get()
    assert response["HX-Redirect"] == reverse("profiles:import-detail", args=[job.pk])
    assert queued == [("profiles.tasks.import_job_run_task", job.pk)]
    assert job.created_by == client.user
    assert job.mapping == {
        "email": "identifier:email",
        "first_name": "trait:firstName",
        "email_opt_in": "consent:email_marketing",
    }
    assert client.get(url).status_code == 404  # the staged upload is used up


def test_start_without_htmx_redirects(client_for, source, queued):
    client = client_for("admin")
    url = upload(client, source)["Location"]
    response = client.post(url, {**GOOD, "action": "start"})
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "profiles:import-detail", args=[ImportJob.objects.get().pk]
    )


def test_a_waiting_job_polls_and_a_finished_one_stops_and_announces_it(client_for, source):
    client = client_for("admin")
    job = import_job_create(
        source=source,
        file=ContentFile(CSV.encode(), name="people.csv"),
        mapping={"email": "identifier:email"},
    )
    url = reverse("profiles:import-detail", args=[job.pk])
    page = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert "waiting for the worker" in page

    import_job_run(job=job)
    response = client.get(url, HTTP_HX_TARGET="import-progress", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="import-progress"')
    assert "every 1s" not in html
    assert response["HX-Trigger"] == "import-finished"
    assert 'aria-valuenow="100"' in html
    assert "3 of 3 rows" in html


def test_the_report_lists_rejected_rows_page_by_page(client_for, source, monkeypatch):
    monkeypatch.setattr("profiles.views.imports.ERRORS_PER_PAGE", 2)
    text = "email,n\n" + "".join(f",{n}\n" for n in range(5)) + "ok@example.com,5\n"
    job = finished_job_with(source, text)
    client = client_for("admin")
    url = reverse("profiles:import-detail", args=[job.pk])

    page = client.get(url).content.decode()
    assert "Page 1 of 3" in page
    assert page.count("No identifier") == 2
    # Values in file order, although PostgreSQL keeps JSON object keys shortest first.
    assert list(job.row_errors.first().row) == ["n", "email"]
    assert page.index("<b>email</b>") < page.index("<b>n</b>")
    response = client.get(url + "?page=3", HTTP_HX_TARGET="import-errors", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="import-errors"')
    assert "Page 3 of 3" in html
    assert html.count("No identifier") == 1


def test_the_report_shows_rows_imported_with_a_warning(client_for, source):
    client = client_for("admin")
    job = finished_job_with(source, "email,n\nnull,1\nok@example.com,2\n")
    assert (job.accepted, job.rejected) == (1, 1)
    page = client.get(reverse("profiles:import-detail", args=[job.pk])).content
    assert "<dt>Warnings</dt><dd>0</dd>" in page.decode()

    job = import_job_create(
        source=source,
        file=ContentFile(b"email,crm\njane at example dot com,C1\n", name="rows.csv"),
        mapping={"email": "identifier:email", "crm": "identifier:crm_id"},
    )
    job = import_job_run(job=job)
    assert (job.accepted, job.rejected, job.warnings) == (1, 0, 1)
    page = client.get(reverse("profiles:import-detail", args=[job.pk])).content
    html = page.decode()
    assert '<dt>Warnings</dt><dd class="status-warn">1</dd>' in html
    assert "Imported with a warning" in html
    assert "&#x27;jane at example dot com&#x27; is not an email address" in html
    assert "<b>crm</b> C1" in html


def test_the_preview_shows_warnings(client_for, source):
    client = client_for("admin")
    text = "email,first_name,signup,email_opt_in\nann at example,Ann,2024-01-02,yes\n"
    url = upload(client, source, text=text)["Location"]
    data = mapping_post(email="identifier:email", first_name="identifier:crm_id")
    html = client.post(url, {**data, "action": "preview"}, **HTMX).content.decode()
    assert "1 with a warning" in html
    assert "&#x27;ann at example&#x27; is not an email address" in html


def finished_job_with(source, text):
    job = import_job_create(
        source=source,
        file=ContentFile(text.encode(), name="rows.csv"),
        mapping={"email": "identifier:email", "n": "trait:n"},
    )
    return import_job_run(job=job)


def test_a_failed_job_shows_its_error_and_runs_again(client_for, source, queued):
    job = finished_job(source)
    ImportJob.objects.filter(pk=job.pk).update(status="failed", error="RuntimeError: boom")
    client = client_for("admin")
    page = client.get(reverse("profiles:import-detail", args=[job.pk])).content.decode()
    assert "The import stopped: RuntimeError: boom" in page
    assert "Run it again" in page

    response = client.post(reverse("profiles:import-retry", args=[job.pk]), **HTMX)
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING
