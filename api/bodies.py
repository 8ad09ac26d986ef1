"""Reading an ingestion request body: bounded, optionally gzip-compressed JSON.

The body is read here rather than through DRF's parsers so that the size bound
(``CHM_INGEST_MAX_BODY_BYTES``, runs/limits.py) holds for the compressed and the decompressed
bytes alike, and so that every malformed body gets a 4xx naming ``body``.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from django.http import HttpRequest
from rest_framework import status
from rest_framework.exceptions import APIException

from runs import limits


class BodyError(APIException):
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        if status_code is not None:
            self.status_code = status_code
        super().__init__({"detail": message, "errors": {"body": [message]}})


def _too_large(limit: int) -> BodyError:
    return BodyError(
        f"Request body too large: at most {limit} bytes (CHM_INGEST_MAX_BODY_BYTES).",
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def read_json_body(django_request: HttpRequest) -> Any:
    """The parsed JSON body of a request; raises BodyError (400, 413 or 415)."""
    limit = limits.max_body_bytes()
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    raw = django_request.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)

    encoding = django_request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding == "gzip":
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = decompressor.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise BodyError("The body is not valid gzip data.") from exc
        if len(raw) > limit or decompressor.unconsumed_tail:
            raise _too_large(limit)
    elif encoding not in ("", "identity"):
        raise BodyError(
            f"Unsupported Content-Encoding {encoding!r}: send gzip or no encoding.",
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )

    if not raw.strip():
        raise BodyError("The body is empty: send JSON.")
    try:
        # NaN and Infinity (and numbers too large for a double, read as infinity) are parsed as
        # floats: no field accepts one, so the item that holds one is rejected naming its field
        # while the rest of a batch is stored. Refusing them here would refuse the whole body.
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise BodyError("The body is not UTF-8 text.") from exc
    except RecursionError as exc:
        raise BodyError("The JSON body is nested too deeply.") from exc
    except ValueError as exc:
        raise BodyError(f"Malformed JSON: {exc}.") from exc
