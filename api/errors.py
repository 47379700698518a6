"""LUNA error codes and the one exception type handlers raise.

Handlers and domain code raise :class:`LunaError` (or a subclass); the error middleware
is the only place that turns it into the spec's ``{error_code, desc, detail, link}`` body.
Codes, descriptions and statuses come from the spec's examples (`CORE.md` §1.6, §14).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DOCS_LINK = "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-{code}"


@dataclass(frozen=True)
class ErrorKind:
    code: int
    desc: str
    status: int


# Generic request errors.
INTERNAL = ErrorKind(11009, "Internal server error", 500)
NO_JSON = ErrorKind(12002, "Bad/incomplete input data", 400)
BAD_QUERY = ErrorKind(12012, "Bad/incomplete input data", 400)
PAGE_NOT_FOUND = ErrorKind(12013, "Resource not found", 404)
BAD_CONTENT_TYPE = ErrorKind(12017, "Bad/incomplete input data", 400)
METHOD_NOT_ALLOWED = ErrorKind(12021, "Method not allowed", 405)
BAD_JSON = ErrorKind(12022, "Bad/incomplete input data", 400)
UNSUPPORTED_MEDIA = ErrorKind(12024, "Unsupported media type", 415)
RESOURCE_DISABLED = ErrorKind(12049, "Forbidden", 403)
RESPONSE_TIMEOUT = ErrorKind(37001, "Internal server error", 503)
REQUEST_TIMEOUT = ErrorKind(37002, "Request timeout", 408)
PAYLOAD_TOO_LARGE = ErrorKind(37003, "Payload too large", 413)
# The spec names no code for an operation the server does not provide; Argus answers 501
# with this one (outside every LUNA range) so clients can tell "not built" from "failed".
NOT_IMPLEMENTED = ErrorKind(99501, "Not implemented", 501)
# A write lost a race with a concurrent change (a row it links to vanished); retrying answers
# with the precise error. Argus's own code: the spec names none.
CONFLICT = ErrorKind(99409, "Integrity error", 409)
# Luna-Request-Id header that does not match `{10 digits},{uuid}`.
BAD_REQUEST_ID = ErrorKind(12012, "Bad/incomplete input data", 400)

# Images and samples.
IMAGE_NOT_FOUND = ErrorKind(13003, "Object not found", 404)
BAD_IMAGE = ErrorKind(18002, "Failed convert bytes to jpg", 400)
BAD_SAMPLE_SIZE = ErrorKind(11030, "Bad/incomplete input data", 400)

# Descriptors and attributes.
DESCRIPTOR_LENGTH = ErrorKind(12034, "Bad/incomplete input data", 400)
BAD_XPK = ErrorKind(12035, "Bad/incomplete input data", 400)
DESCRIPTOR_VERSION = ErrorKind(12036, "Bad/incomplete input data", 400)
BAD_SDK_DESCRIPTOR = ErrorKind(12038, "Bad/incomplete input data", 400)
BAD_BASE64 = ErrorKind(18001, "Bad/incomplete input data", 400)
ATTRIBUTE_NOT_FOUND = ErrorKind(22011, "Object not found", 404)
BAD_TARGET = ErrorKind(22016, "Bad/incomplete input data", 400)

# Authentication and authorization.
AUTH_FAILED = ErrorKind(11065, "Authorization failed", 401)
TOKEN_PERMISSION_DENIED = ErrorKind(11059, "Forbidden", 403)
TOKEN_CORRUPTED = ErrorKind(11062, "Forbidden", 403)
TOKEN_ACCESS_DENIED = ErrorKind(11064, "Forbidden", 403)
AUTH_REQUIRED = ErrorKind(12010, "Bad/incomplete input data", 403)

# Accounts and tokens.
ACCOUNT_NOT_FOUND = ErrorKind(28001, "Object not found", 404)
LOGIN_EXISTS = ErrorKind(41001, "Integrity error", 409)
ACCOUNT_ID_EXISTS = ErrorKind(41002, "Integrity error", 409)
TOKEN_NOT_FOUND = ErrorKind(41003, "Object not found", 404)
ADMIN_TYPE_LOCKED = ErrorKind(41004, "Forbidden", 403)
# Argus keeps account creation to admins unless `auth.open_registration` is on.
ACCOUNT_CREATION_DENIED = ErrorKind(11064, "Forbidden", 403)
# /6/credentials_verifier failures.
JWT_NOT_FOUND = ErrorKind(41005, "Object not found", 401)
CREDENTIALS_WRONG = ErrorKind(41006, "Account credentials wrong", 401)
TOKEN_EXPIRED = ErrorKind(41007, "Account credentials wrong", 401)


class LunaError(Exception):
    """An error with a LUNA code; ``detail`` is the human-readable specific."""

    def __init__(
        self, kind: ErrorKind, detail: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.kind = kind
        self.detail = detail if detail is not None else kind.desc
        self.headers = dict(headers or {})
        super().__init__(f"{kind.code}: {self.detail}")

    @property
    def status(self) -> int:
        return self.kind.status

    def body(self) -> dict[str, object]:
        return error_body(self.kind, self.detail)


def error_body(kind: ErrorKind, detail: str) -> dict[str, object]:
    return {
        "error_code": kind.code,
        "desc": kind.desc,
        "detail": detail,
        "link": DOCS_LINK.format(code=kind.code),
    }


def bad_query(name: str) -> LunaError:
    return LunaError(BAD_QUERY, f"Bad query parameters '{name}'")


def bad_json(path: str, message: str) -> LunaError:
    return LunaError(BAD_JSON, f"Failed to validate input json. Path: '{path}', message: '{message}'")


def auth_failed(detail: str, scheme: str = "Basic") -> LunaError:
    challenge = "Basic realm='login:password'" if scheme == "Basic" else "Bearer"
    return LunaError(AUTH_FAILED, detail, {"WWW-Authenticate": challenge})


# Faces and lists (CORE.md §7, §8). Objects named by the path answer 404; objects named inside
# a request body answer 400 with the same code, as the spec's examples do (PATCH
# /6/lists/{list_id}/faces: 22004 under 400; PUT /6/faces/{face_id}/attributes: 22011 under 400).
FACE_NOT_FOUND = ErrorKind(22002, "Object not found", 404)
LIST_NOT_FOUND = ErrorKind(22003, "Object not found", 404)
FACES_NOT_FOUND = ErrorKind(22004, "Object not found", 400)
LIST_IN_BODY_NOT_FOUND = ErrorKind(22003, "Object not found", 400)
ATTRIBUTE_IN_BODY_NOT_FOUND = ErrorKind(22011, "Object not found", 400)

# Events (CORE.md §6). 22016 for events carries desc "Bad input data" in the spec's only example
# (bad_target_to_get_events), unlike the faces' "Bad/incomplete input data".
EVENT_NOT_FOUND = ErrorKind(23001, "Object not found", 404)
EVENT_BAD_TARGET = ErrorKind(22016, "Bad input data", 400)
INCOMPATIBLE_USER_FILTERS = ErrorKind(10020, "Database error", 422)

# Matching (CORE.md §9). Not-found kinds are reported inside a 200 reply, per reference
# (spec example nonexistent_references_errors); their status is never sent.
DESCRIPTOR_NOT_EXTRACTED = ErrorKind(11034, "Bad/incomplete input data", 400)
FACE_EXTERNAL_ID_NOT_FOUND = ErrorKind(11041, "Object not found", 400)
EVENT_REFERENCE_NOT_FOUND = ErrorKind(23001, "Object not found", 400)
EVENT_EXTERNAL_ID_NOT_FOUND = ErrorKind(11057, "Object not found", 400)
EVENT_TRACK_ID_NOT_FOUND = ErrorKind(11058, "Object not found", 400)
# The matcher examples' code for an unregistered descriptor version (/6/attributes uses 12036).
MATCH_DESCRIPTOR_VERSION = ErrorKind(12037, "Bad/incomplete input data", 400)
# components/responses/forbidden_events_error: events are not available to the matcher.
EVENTS_DISABLED = ErrorKind(11040, "Forbidden", 403)

# Video (/6/videosdk, stream references). The spec names no codes for video input failures:
# a source that cannot be fetched or reached (download, RTSP) reuses the image download code;
# the rest are Argus's own 994xx codes. A video longer than allowed is a too-large payload.
VIDEO_SOURCE_FAILED = ErrorKind(11027, "External request failed", 400)
BAD_VIDEO = ErrorKind(99400, "Bad/incomplete input data", 400)
REFERENCE_DENIED = ErrorKind(99403, "Forbidden", 403)
VIDEO_TOO_LONG = ErrorKind(37003, "Payload too large", 413)

# Streams, stream groups and analytics (CORE.md §2, §3; REST.md §20, §21). Codes and details
# follow each operation's example: a path-named stream is 44001 under 404 (L20612), a stream or
# group named in a body is 44001/44004 under 400 (linker, L54015/L54021); GET /6/groups/{id}
# answers 39008 (L54569) while PATCH/DELETE answer 44004 (L54691, L54798).
STREAM_NOT_FOUND = ErrorKind(44001, "Object not found", 404)
STREAM_IN_BODY_NOT_FOUND = ErrorKind(44001, "Object not found", 400)
GROUP_EXISTS = ErrorKind(44003, "Unique constraint error", 409)
GROUP_NOT_FOUND = ErrorKind(44004, "Object not found", 404)
GROUP_IN_BODY_NOT_FOUND = ErrorKind(44004, "Object not found", 400)
GROUP_NOT_FOUND_ON_GET = ErrorKind(39008, "Object not found", 404)
# A stream created into a group named by `group_name` that does not exist: the spec has no
# example; LUNA's video manager answers 44005 "Group named '...' not found".
GROUP_NAME_IN_BODY_NOT_FOUND = ErrorKind(44005, "Object not found", 400)
ANALYTIC_NOT_FOUND = ErrorKind(44008, "Object not found", 404)
STREAM_NOT_PROCESSED = ErrorKind(44013, "Stream status is unsuitable", 422)
# A `luna-event` callback naming a handler the account does not have (handler_not_found, 11033).
CALLBACK_HANDLER_NOT_FOUND = ErrorKind(11033, "Object not found", 400)
