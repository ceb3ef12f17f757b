"""``application/vnd.kubernetes.protobuf`` in the HTTP front door.

Two directions, both through :mod:`kemu.api.protobuf`:

- **request bodies**: :func:`decode_body` turns a protobuf body (what
  client-go's typed clients send since 1.32: ``kubectl create deployment``,
  drain's evictions, ``kubectl auth can-i`` ...) into the same JSON data the
  handlers get from a JSON body, ``apiVersion`` and ``kind`` taken from the
  envelope, so every check that follows (kind against the URL, validation)
  is the JSON path's. Bytes that do not decode are a ``400 BadRequest``.
- **responses**: clients that accept JSON get JSON, whatever they prefer
  (kubectl sends ``Accept: application/vnd.kubernetes.protobuf,
  application/json``). :func:`protobuf_middleware` serves a client whose
  ``Accept`` names only protobuf: the handlers run as for JSON, and the JSON
  object they answer (an object, a list, a ``Status``) is encoded to
  protobuf. A watch cannot be re-encoded that way (its protobuf framing is
  another format), so it gets a ``406``, as does an answer that has no
  protobuf form (a ``Table``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from kemu.api import errors
from kemu.api import protobuf
from kemu.log import get_logger

__all__ = ["PROTOBUF", "accepts_only_protobuf", "decode_body", "protobuf_middleware"]

PROTOBUF = protobuf.MEDIA_TYPE
_JSON_LIKE = ("application/json", "*/*", "application/*", "application/yaml")

log = get_logger()


def decode_body(raw: bytes) -> dict[str, Any]:
    """The object in a protobuf request body; ``400`` when it does not decode."""
    try:
        return protobuf.decode_object(raw)
    except protobuf.ProtobufError as exc:
        log.info("protobuf body refused", error=str(exc), size=len(raw))
        raise errors.bad_request(f"the protobuf body of the request could not be decoded: {exc}") from None


def _media_types(accept: str) -> list[str]:
    return [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]


def accepts_only_protobuf(accept: str | None) -> bool:
    """True when ``accept`` names protobuf and nothing JSON can satisfy."""
    media = _media_types(accept or "")
    return PROTOBUF in media and not any(m in _JSON_LIKE for m in media)


def _is_watch(request: web.Request) -> bool:
    return "/watch/" in request.path or request.query.get("watch") in ("1", "true", "True")


@web.middleware
async def protobuf_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Serve a client that accepts only protobuf (see the module doc)."""
    if not accepts_only_protobuf(request.headers.get("Accept")):
        return await handler(request)
    if _is_watch(request):
        return _not_acceptable("a watch is served as application/json only")
    headers = CIMultiDict(request.headers)
    headers["Accept"] = "application/json"
    response = await handler(request.clone(headers=headers))
    if not isinstance(response, web.Response) or response.content_type != "application/json" or not response.body:
        return response
    try:
        # A list can be large: encode off the loop, as the handlers do their work.
        body = await asyncio.get_running_loop().run_in_executor(None, _reencode, bytes(response.body))  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        log.info("answer has no protobuf form", path=request.path, error=str(exc))
        body = None
    if body is None:
        return _not_acceptable("the answer has no protobuf form; accept application/json")
    encoded = web.Response(body=body, status=response.status, headers=_kept_headers(response))
    encoded.content_type = PROTOBUF
    return encoded


def _reencode(data: bytes) -> bytes | None:
    """The protobuf form of a JSON answer; None when it is not one object."""
    obj = json.loads(data)
    return protobuf.encode_object(obj) if isinstance(obj, dict) else None


def _kept_headers(response: web.Response) -> CIMultiDict[str]:
    kept: CIMultiDict[str] = CIMultiDict()
    for key, value in response.headers.items():
        if key.lower() not in ("content-type", "content-length"):
            kept.add(key, value)
    return kept


def _not_acceptable(message: str) -> web.Response:
    """A ``406`` Status, itself in protobuf: the only form the client reads."""
    response = web.Response(body=protobuf.encode_object(errors.status_dict(406, "NotAcceptable", message)), status=406)
    response.content_type = PROTOBUF
    return response
