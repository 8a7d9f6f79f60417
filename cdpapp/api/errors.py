"""One JSON error shape for the whole API: {"error": {"code", "message", "details"}}."""

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if key == "non_field_errors" else f"{key}: {inner}"
    return str(detail)


def exception_handler(exc, context):
    """DRF's handler, re-shaped into our error body (headers such as Retry-After kept)."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", _first_message(exc.detail), exc.detail)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        body = error_body(code, str(exc.detail))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            body["error"]["details"] = {"retry_after_seconds": int(exc.wait) + 1}
    else:  # Http404 and PermissionDenied from Django
        code = (
            "not_found"
            if response.status_code == status.HTTP_404_NOT_FOUND
            else "permission_denied"
        )
        body = error_body(code, str(response.data.get("detail", "")))
    response.data = body
    return response


def json_error(status_code: int, code: str, message: str, details=None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)
