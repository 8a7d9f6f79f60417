"""CSV imports: upload a file, map its columns, preview, start; then watch the job and read the
rows it rejected. Pages render in full, or only one `template.html#partial` when htmx asks for it
(GET requests name the partial by their HX-Target)."""

from django.contrib import messages
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django_htmx.http import HttpResponseClientRedirect

from cdpapp.access import RoleRequiredMixin
from profiles.domain.csv_import import CsvFileError, MappingError
from profiles.forms.imports import MappingForm, UploadForm
from profiles.models import ImportJob
from profiles.selectors.imports import (
    import_job_get,
    import_job_is_stale,
    import_job_list,
    import_row_errors,
    import_row_warnings,
    import_source,
    import_sources,
)
from profiles.services.imports import (
    import_file_inspect,
    import_job_header,
    import_job_retry,
    import_job_start,
    import_preview,
    import_staged_delete,
    import_upload_stage,
)

SESSION_KEY = "csv_imports"
KEEP_STAGED = 5  # uploads remembered per session
PREVIEW_ROWS = 10
WARNINGS_SHOWN = 50  # the first rows imported with a warning; the count says how many in all
JOBS_PER_PAGE = 25
ERRORS_PER_PAGE = 50
FINISHED_EVENT = "import-finished"
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


class ImportAccessMixin(RoleRequiredMixin):
    read_permission = "manage_sources"
    write_permission = "manage_sources"


class ImportListView(ImportAccessMixin, View):
    def get(self, request):
        page = Paginator(import_job_list(), JOBS_PER_PAGE).get_page(request.GET.get("page"))
        return render(request, "profiles/imports/list.html", {"page": page})


class ImportNewView(ImportAccessMixin, View):
    def get(self, request):
        return self._render(request, UploadForm())

    def post(self, request):
        form = UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            staged = import_upload_stage(uploaded=form.cleaned_data["file"])
        except CsvFileError as exc:
            form.add_error("file", str(exc))
            return self._render(request, form, status=400)
        remembered = request.session.get(SESSION_KEY, {})
        remembered[staged.token] = {**staged.as_dict(), "source": form.cleaned_data["source"].pk}
        request.session[SESSION_KEY] = dict(list(remembered.items())[-KEEP_STAGED:])
        return redirect("profiles:import-map", token=staged.token)

    def _render(self, request, form, status=200):
        context = {"form": form, "has_sources": import_sources().exists()}
        return render(request, "profiles/imports/new.html", context, status=status)


class ImportMapView(ImportAccessMixin, View):
    """Step 2 and 3: one select per column, a preview of the first rows, and Start."""

    def _load(self, request, token: str):
        staged = request.session.get(SESSION_KEY, {}).get(token)
        if staged is None or not default_storage.exists(staged["path"]):
            raise Http404("This upload has expired: upload the file again.")
        source = import_source(staged["source"])
        if source is None:
            raise Http404("The source of this upload is gone or disabled.")
        with default_storage.open(staged["path"], "rb") as handle:
            info = import_file_inspect(file=handle, encoding=staged["encoding"])
        return staged, source, info

    def get(self, request, token):
        staged, source, info = self._load(request, token)
        form = MappingForm(header=info.header, samples=info.samples)
        return self._render(request, token, staged, source, info, form)

    def post(self, request, token):
        staged, source, info = self._load(request, token)
        form = MappingForm(request.POST, header=info.header, samples=info.samples)
        problems: list[str] = []
        preview = None
        if not form.is_valid():
            problems = [error for errors in form.errors.values() for error in errors]
        elif request.POST.get("action") == "start":
            try:
                with default_storage.open(staged["path"], "rb") as handle:
                    job = import_job_start(
                        source=source,
                        file=File(handle, name=staged["name"]),
                        mapping=form.mapping(),
                        user=request.user,
                        name=staged["name"],
                    )
            except (MappingError, CsvFileError) as exc:
                problems = exc.problems if isinstance(exc, MappingError) else [str(exc)]
            else:
                import_staged_delete(path=staged["path"])
                remembered = request.session.get(SESSION_KEY, {})
                remembered.pop(token, None)
                request.session[SESSION_KEY] = remembered
                url = reverse("profiles:import-detail", args=[job.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        else:
            try:
                with default_storage.open(staged["path"], "rb") as handle:
                    preview = import_preview(
                        file=handle,
                        mapping=form.mapping(),
                        n=PREVIEW_ROWS,
                        encoding=staged["encoding"],
                        sha256=staged["sha256"],
                        source=source,
                    )
            except MappingError as exc:
                problems = exc.problems
        return self._render(
            request, token, staged, source, info, form, preview=preview, problems=problems
        )

    def _render(self, request, token, staged, source, info, form, preview=None, problems=()):
        context = {
            "token": token,
            "staged": staged,
            "source": source,
            "info": info,
            "delimiter": DELIMITERS.get(info.delimiter, info.delimiter),
            "form": form,
            "preview": preview,
            "problems": problems,
            "preview_rows": PREVIEW_ROWS,
        }
        template = "profiles/imports/map.html"
        if request.htmx and request.method == "POST":
            template += "#preview"
        return render(request, template, context, status=400 if problems else 200)


class ImportDetailView(ImportAccessMixin, View):
    """A job: its progress (polled every second while it runs) and the rows it rejected."""

    def get(self, request, pk):
        job = _job_or_404(pk)
        target = request.htmx.target if request.htmx else None
        if target == "import-progress":
            return _progress(request, job)
        context = {**_progress_context(job), **_errors_context(request, job)}
        if target == "import-errors":
            return render(request, "profiles/imports/detail.html#errors", context)
        return render(request, "profiles/imports/detail.html", context)


class ImportRetryView(ImportAccessMixin, View):
    def post(self, request, pk):
        job = _job_or_404(pk)
        try:
            job = import_job_retry(job=job)
        except ValueError as exc:
            messages.error(request, str(exc))
        if request.htmx:
            return _progress(request, job)
        return redirect("profiles:import-detail", pk=job.pk)


def _job_or_404(pk: int) -> ImportJob:
    job = import_job_get(pk)
    if job is None:
        raise Http404("No such import.")
    return job


def _progress_context(job: ImportJob) -> dict:
    finished = job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED)
    duration = rate = None
    if job.started_at and job.finished_at:
        duration = (job.finished_at - job.started_at).total_seconds()
        rate = round(job.rows_done / duration) if duration > 0 else None
    return {
        "job": job,
        "finished": finished,
        "stale": import_job_is_stale(job),
        "percent": 100 if job.status == ImportJob.Status.DONE else job.percent,
        "duration": duration,
        "rate": rate,
    }


def _progress(request, job: ImportJob):
    context = _progress_context(job)
    response = render(request, "profiles/imports/detail.html#progress", context)
    if context["finished"]:
        # The rejected-rows report listens for this and reloads itself.
        response["HX-Trigger"] = FINISHED_EVENT
    return response


def _errors_context(request, job: ImportJob) -> dict:
    page = Paginator(import_row_errors(job), ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    warnings = list(import_row_warnings(job)[:WARNINGS_SHOWN])
    header = import_job_header(job=job) if page.object_list or warnings else []
    position = {name: index for index, name in enumerate(header)}

    def in_file_order(error):
        # Stored as a JSON object, whose keys PostgreSQL reorders: put them back in file order.
        return error, sorted(error.row.items(), key=lambda item: position.get(item[0], len(header)))

    return {
        "job": job,
        "errors": page,
        "rows": [in_file_order(error) for error in page.object_list],
        "warning_rows": [in_file_order(warning) for warning in warnings],
    }
