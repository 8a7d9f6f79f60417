"""OpenAPI pieces shared by the profiles API: the project's error body, documented."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. invalid, not_found, conflict.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    details = serializers.JSONField(help_text="Per-field errors for `invalid`, else {}.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses for extend_schema(responses=...), all in the project's error shape."""
    meaning = {
        400: "Invalid parameters or body.",
        401: "No or invalid token.",
        403: "Your role does not allow this.",
        404: "Not found.",
        409: "Not possible in the current state.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=meaning[code]) for code in codes}
