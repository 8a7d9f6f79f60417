"""The Segment-compatible collection API: POST /v1/{identify,track,page,screen,group,alias,batch,
import} and analytics.js's short paths. Authenticated by the source's write key, not by a user."""

import base64
import binascii
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from cdpapp.api.errors import error_body
from profiles.services.collection import RateLimited, RequestRejected, Unauthorized, events_collect

logger = logging.getLogger(__name__)

SHORT_PATHS = {
    "t": "track",
    "p": "page",
    "i": "identify",
    "g": "group",
    "a": "alias",
    "s": "screen",
    "b": "batch",
}
ENDPOINTS = {"identify", "track", "page", "screen", "group", "alias", "batch", "import"}


DEFAULT_ALLOWED_HEADERS = "Content-Type, Authorization, Content-Encoding, X-Retry-Count"


def _cors(response: HttpResponse, request) -> HttpResponse:
    # Browser sources post from the customer's own site; any origin may send with a write key.
    response["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    # Whatever headers the client asks to send are allowed: a refused one turns every request
    # into a network error in the browser (analytics.js 2.0 adds X-Retry-Count to each retry,
    # and sites add their own), and the library drops the messages after its last attempt. The
    # endpoint only writes, and credentials (cookies) are never allowed.
    requested = request.headers.get("Access-Control-Request-Headers", "").strip()
    response["Access-Control-Allow-Headers"] = (
        f"{DEFAULT_ALLOWED_HEADERS}, {requested}" if requested else DEFAULT_ALLOWED_HEADERS
    )
    # Readable by the library, so that it waits as long as we ask after a 429.
    response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Access-Control-Max-Age"] = "86400"
    response["Vary"] = "Origin"
    return response


def _error(status: int, code: str, message: str) -> JsonResponse:
    # Our error object, plus the top-level code and message that Segment's and RudderStack's
    # libraries read (without them RudderStack retries a 4xx as if the network had failed).
    return JsonResponse(
        {**error_body(code, message), "code": code, "message": message}, status=status
    )


def _basic_username(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


@csrf_exempt
def collect(request, endpoint: str):
    """One collection request; answers exactly 200 on acceptance."""
    endpoint = SHORT_PATHS.get(endpoint, endpoint)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), request)
    if endpoint not in ENDPOINTS:
        return _cors(_error(404, "not_found", f"No collection endpoint /v1/{endpoint}."), request)
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Send collection calls with POST.")
        response["Allow"] = "POST, OPTIONS"
        return _cors(response, request)
    try:
        result = events_collect(
            # Read directly, not through request.body: Django's 2.5 MB upload limit must not
            # apply below a source's own limit. One byte past the hard cap is enough to refuse.
            raw=request.read(settings.COLLECT_MAX_BODY_BYTES + 1),
            endpoint=endpoint,
            write_key=_basic_username(request),
            content_type=request.content_type,
            content_encoding=request.headers.get("Content-Encoding"),
        )
    except Unauthorized:
        response = _error(
            401, "invalid_write_key", "Unknown, revoked or expired write key, or disabled source."
        )
        response["WWW-Authenticate"] = 'Basic realm="collection"'
    except RateLimited as exc:
        response = _error(429, "rate_limited", f"Too many requests; retry in {exc.retry_after}s.")
        response["Retry-After"] = str(exc.retry_after)
    except RequestRejected as exc:
        response = _error(400, exc.code, exc.message)
    else:
        response = JsonResponse(result.as_dict(), status=200)
    return _cors(response, request)
