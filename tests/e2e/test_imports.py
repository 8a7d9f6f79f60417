"""An admin imports a CSV file: upload, map, preview with an error row, start, progress, report."""

import re

from playwright.sync_api import expect

from profiles.models import Event, ImportJob
from profiles.services.imports import import_job_run
from profiles.services.sources import source_create

CSV = """crm_id,email,first_name,city,member_since,email_opt_in,notes
CRM-1,ann@example.com,Ann,York,2021-04-01,yes,likes candles
CRM-2,bob@example.com,Bob,Leeds,2022-09-12,maybe,
CRM-3,,Cy,Bath,2023-01-30,no,called twice
,,Di,Hull,2020-02-02,yes,no ids at all
CRM-5,ed@example.com,Ed,Wells,2024-07-15,0,
"""


def test_admin_imports_a_csv_and_reads_the_rejected_rows(
    page, live_server, login, screenshot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    source_create(name="CRM export", kind="crm")
    login("admin")

    page.goto(f"{live_server.url}/profiles/imports/")
    expect(page.get_by_text("No imports yet.")).to_be_visible()
    page.get_by_role("link", name="Import a CSV file").first.click()
    page.get_by_label("Source", exact=True).select_option(label="CRM export")
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "crm.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    screenshot("imports-upload")
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Map the columns of “crm.csv”")
    expect(page.get_by_label("crm_id", exact=True)).to_have_value("identifier:crm_id")
    expect(page.get_by_label("email", exact=True)).to_have_value("identifier:email")
    expect(page.get_by_label("first_name", exact=True)).to_have_value("trait:firstName")
    expect(page.get_by_label("email_opt_in", exact=True)).to_have_value("consent:email_marketing")
    page.get_by_label("member_since", exact=True).select_option("trait:createdAt")
    page.get_by_label("notes", exact=True).select_option("")
    page.get_by_role("button", name="Preview the first 10 rows").click()

    preview = page.locator("#preview")
    expect(preview.get_by_role("status")).to_have_text(re.compile(r"3 ready, 2 rejected"))
    rejected = preview.locator("tr.row-rejected")
    expect(rejected).to_have_count(2)
    expect(rejected.first).to_contain_text(
        "Column 'email_opt_in' (consent:email_marketing): 'maybe' is not a consent value"
    )
    expect(rejected.nth(1)).to_contain_text("No identifier")
    screenshot("imports-preview")
    assert not Event.objects.exists()

    page.get_by_role("button", name="Start the import").click()
    page.wait_for_url(re.compile(r"/profiles/imports/\d+/$"))
    progress = page.locator("#import-progress")
    expect(progress).to_contain_text("waiting for the worker")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    screenshot("imports-waiting")

    # What the worker does; the page polls every second and sees it finish.
    job = ImportJob.objects.get()
    assert job.mapping["member_since"] == "trait:createdAt" and "notes" not in job.mapping
    import_job_run(job=job)

    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(progress.locator(".percent")).to_have_text("100%")
    expect(progress).to_contain_text("5 of 5 rows")
    expect(progress.locator(".counts")).to_contain_text("Accepted3")
    report = page.locator("#import-errors")
    expect(report.get_by_role("row")).to_have_count(3)  # the header and two rejected rows
    expect(report).to_contain_text("'maybe' is not a consent value")
    expect(report.locator("tbody tr").first.locator(".kv").first).to_have_text("crm_id CRM-2")
    expect(report).to_contain_text("No identifier: the identifier columns 'crm_id', 'email'")
    screenshot("imports-done")
    assert progress.get_attribute("hx-trigger") is None  # polling has stopped

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Imports").click()
    row = page.get_by_role("row", name=re.compile("crm.csv"))
    expect(row).to_contain_text("done")
    expect(row).to_contain_text("CRM export")
    screenshot("imports-list")
    assert Event.objects.filter(source__name="CRM export").count() == 3
