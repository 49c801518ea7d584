"""The simulated result host: signed, expiring links to each task's MP4 and PNG.

Real results are signed TOS (object storage) URLs valid for 24 h, on a host that is not
the API's. The CDN runs as its own aiohttp app on its own port, so a test can prove a client
never sends its API key there: every request it serves is recorded with its headers.

URLs look like ``http://127.0.0.1:P/tos/<provider>/<task id>/video.mp4?expires=<unix>&sig=<hmac>``.
The signature is an HMAC-SHA256 of path and expiry under a secret derived from the seed. A
wrong signature answers 403 ``SignatureDoesNotMatch`` and an expired link 403
``AccessDenied`` "Request has expired", both as S3/TOS-style XML.

Like S3 and TOS, the CDN honours a single-range ``Range: bytes=...`` header (206 with
``Content-Range``; 416 ``InvalidRange`` when it starts past the end; several ranges, or a
stale ``If-Range``, get the whole file), so a client can resume a cut download. Downloads
can fail the way object stores do (:class:`CdnFaults`): 503 ``ServiceUnavailable``, or a
body cut short in one of four ways (:data:`TruncateMode`).

The CDN also hosts reference media for Seedance 2.x requests (:meth:`Cdn.host`): unsigned
files under ``/media/<name>``, ``Range`` honoured, logged like the rest. The simulated
providers fetch those (and any other loopback URL) to read the clips' headers.

A provider configured with relative result links (``Quirks.relative_result_urls``) serves
the same files from its own host under ``/files/<provider>/<task id>/<name>``; those
requests go through :meth:`Cdn.serve` too, so they are logged, faulted and ranged alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import random
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args
from urllib.parse import quote

import attrs
from aiohttp import web

from seedance_async.simulator._http import abort_connection
from seedance_async.simulator._media import mp4_bytes, png_for_task

__all__ = ["TRUNCATE_MODES", "Cdn", "CdnFaults", "CdnRequest", "MediaSpec", "TruncateMode"]

TruncateMode = Literal["closed", "chunked", "short", "unframed"]
"""How a truncated download ends.

* ``closed``: ``Content-Length`` announces the whole body, part of it is sent, then the
  connection is closed: the client sees a payload error (too few bytes).
* ``chunked``: chunked transfer encoding, part of the body, then the connection is closed
  without the last chunk: the client sees a transfer-encoding error.
* ``short``: a complete, well-formed answer whose ``Content-Length`` matches the shortened
  body: nothing fails at the HTTP level; only a client that checks the size it expected
  (``Content-Range``, a known size, the file's own structure) notices.
* ``unframed``: neither ``Content-Length`` nor chunking (``Connection: close``), part of the
  body, then a clean close: the end of the connection looks like the end of the file.
"""
TRUNCATE_MODES: tuple[TruncateMode, ...] = get_args(TruncateMode)


def _probability(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _fraction(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1), got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class CdnFaults:
    """What goes wrong on result downloads, and how often (per request, off by default).

    Dice: every file request draws two numbers from the CDN's own seeded generator
    (unavailable, then truncated), whatever the probabilities; ``unavailable`` wins when
    both come up. Requests with a bad signature or for an expired link still roll, so the
    sequence does not depend on which links a client holds.

    Attributes:
        unavailable: answer 503 ``ServiceUnavailable`` (S3/TOS XML) instead of the file.
        retry_after: seconds to send in ``Retry-After`` with those 503s; None sends none.
        truncated: send only part of the file (or of the requested range).
        truncate_mode: how the cut body ends (:data:`TruncateMode`).
        truncate_fraction: the share of the body that is sent, in [0, 1).
    """

    unavailable: float = attrs.field(default=0.0, validator=_probability)
    retry_after: float | None = attrs.field(default=None, validator=_non_negative)
    truncated: float = attrs.field(default=0.0, validator=_probability)
    truncate_mode: TruncateMode = attrs.field(
        default="closed", validator=attrs.validators.in_(TRUNCATE_MODES)
    )
    truncate_fraction: float = attrs.field(default=0.5, validator=_fraction)


@attrs.frozen(kw_only=True)
class MediaSpec:
    """What a task's files look like: enough to rebuild them byte for byte."""

    task_id: str
    width: int
    height: int
    seconds: float


@attrs.frozen(kw_only=True)
class CdnRequest:
    """One request the CDN served.

    Attributes:
        time: clock time (Unix seconds).
        method: HTTP method.
        path: path with the query string.
        headers: every request header as received (names as sent).
        status: the status answered (or announced, when the body was then cut).
        fault: the fault injected: ``unavailable``, ``truncated:<mode>`` or "".
    """

    time: float
    method: str
    path: str
    headers: Mapping[str, str]
    status: int
    fault: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the CDN's ``/_sim/requests`` format)."""
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "status": self.status,
            "fault": self.fault,
        }


_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>{rid}</RequestId></Error>'
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str, size: int) -> tuple[int, int] | Literal["ignore", "unsatisfiable"]:
    """The inclusive byte range ``(first, last)`` a ``Range`` header asks of a ``size``-byte file.

    Returns:
        The range; ``"ignore"`` when the header is malformed or asks for several ranges
        (then the whole file is sent, as S3 does); ``"unsatisfiable"`` when it starts
        past the end (or is an empty suffix).
    """
    if "," in header:
        return "ignore"
    found = _RANGE.match(header)
    if found is None or not (found.group(1) or found.group(2)):
        return "ignore"
    first_text, last_text = found.groups()
    if not first_text:  # "bytes=-N": the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = size - 1 if not last_text else min(int(last_text), size - 1)
    if not last_text or int(last_text) >= first:
        return (first, last) if first < size else "unsatisfiable"
    return "ignore"  # last < first: syntactically invalid, so ignored (RFC 9110 §14.1.1)


class Cdn:
    """Mints signed result URLs and serves them.

    Args:
        clock: Unix-seconds clock shared with the providers.
        secret: HMAC key for the signatures.
        url_ttl: seconds a minted URL stays valid.
        faults: download faults (none by default).
        seed: seeds the fault dice.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        secret: bytes,
        url_ttl: float,
        faults: CdnFaults | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.secret = secret
        self.url_ttl = url_ttl
        self.faults = faults or CdnFaults()
        self.base_url = ""
        self.log: list[CdnRequest] = []
        self._rng = random.Random(f"{seed}:cdn:faults")
        self._media: dict[tuple[str, str], MediaSpec] = {}
        self._hosted: dict[str, tuple[bytes, str]] = {}
        self.app = web.Application()
        self.app.router.add_get("/tos/{provider}/{task_id}/{name}", self.serve)
        self.app.router.add_get("/media/{name}", self._serve_hosted)
        self.app.router.add_get("/_sim/requests", self._admin_requests)

    def _sign(self, path: str, expires: int) -> str:
        return hmac.new(self.secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def mint(self, provider: str, spec: MediaSpec, name: str, *, relative: bool = False) -> str:
        """A fresh signed URL for ``video.mp4`` or ``last_frame.png`` of a task.

        Args:
            relative: a relative reference (``/files/...``) for the provider's own host
                instead of an absolute URL on the CDN.
        """
        self._media[(provider, spec.task_id)] = spec
        tail = f"{provider}/{quote(spec.task_id, safe='')}/{name}"
        path = f"/tos/{tail}"
        expires = int(self.clock() + self.url_ttl)
        query = f"?expires={expires}&sig={self._sign(path, expires)}"
        return f"/files/{tail}{query}" if relative else f"{self.base_url}{path}{query}"

    def _record(self, request: web.Request, status: int, fault: str = "") -> None:
        self.log.append(
            CdnRequest(
                time=self.clock(),
                method=request.method,
                path=request.path_qs,
                headers=dict(request.headers),
                status=status,
                fault=fault,
            )
        )

    def _xml(self, request: web.Request, code: str, message: str, extra: str = "") -> str:
        rid = hashlib.sha256(f"{request.path_qs}{self.clock()}".encode()).hexdigest()[:24].upper()
        return _XML.format(code=code, message=message, extra=extra, rid=rid)

    def _error(
        self,
        request: web.Request,
        status: int,
        code: str,
        message: str,
        extra: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        fault: str = "",
    ) -> web.Response:
        self._record(request, status, fault)
        return web.Response(
            status=status,
            text=self._xml(request, code, message, extra),
            content_type="application/xml",
            headers=headers,
        )

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Answer one file request (a CDN path, or a provider's ``/files/...`` path)."""
        faults = self.faults
        d_unavailable, d_truncated = self._rng.random(), self._rng.random()
        if d_unavailable < faults.unavailable:
            headers = (
                {} if faults.retry_after is None else {"Retry-After": f"{faults.retry_after:g}"}
            )
            return self._error(
                request,
                503,
                "ServiceUnavailable",
                "Please reduce your request rate.",
                headers=headers,
                fault="unavailable",
            )
        provider = request.match_info["provider"]
        task_id = request.match_info["task_id"]
        name = request.match_info["name"]
        raw_expires = request.query.get("expires", "")
        signature = request.query.get("sig", "")
        if not raw_expires.isdigit() or not signature:
            return self._error(
                request,
                403,
                "AccessDenied",
                "Query-string authentication requires the expires and sig parameters",
            )
        expires = int(raw_expires)
        path = f"/tos/{provider}/{quote(task_id, safe='')}/{name}"
        if not hmac.compare_digest(signature, self._sign(path, expires)):
            return self._error(
                request,
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        now = self.clock()
        if now >= expires:
            return self._error(
                request,
                403,
                "AccessDenied",
                "Request has expired",
                f"<Expires>{expires}</Expires><ServerTime>{int(now)}</ServerTime>",
            )
        spec = self._media.get((provider, task_id))
        if spec is None or name not in ("video.mp4", "last_frame.png"):
            return self._error(request, 404, "NoSuchKey", "The specified key does not exist.")
        if name == "video.mp4":
            body, ctype = mp4_bytes(spec.task_id, spec.seconds), "video/mp4"
        else:
            body, ctype = png_for_task(spec.task_id, spec.width, spec.height), "image/png"
        etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
        headers = {"ETag": etag, "Accept-Ranges": "bytes", "Content-Type": ctype}
        status, part = 200, body
        wanted = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        # A stale If-Range (the file changed since the client's first part) means "send it
        # all"; only strong ETags are compared, as for S3.
        if wanted is not None and (if_range is None or if_range.strip() == etag):
            span = parse_range(wanted, len(body))
            if span == "unsatisfiable":
                return self._error(
                    request,
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    f"<RangeRequested>{wanted}</RangeRequested><ActualObjectSize>{len(body)}</ActualObjectSize>",
                    headers={"Content-Range": f"bytes */{len(body)}"},
                )
            if span != "ignore":
                first, last = span
                status, part = 206, body[first : last + 1]
                headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
        if d_truncated < faults.truncated and part and request.method != "HEAD":
            mode = faults.truncate_mode
            self._record(request, status, f"truncated:{mode}")
            cut = min(len(part) - 1, int(len(part) * faults.truncate_fraction))
            return await _send_cut(request, status, headers, part, cut, mode)
        self._record(request, status)
        return web.Response(status=status, body=part, headers=headers)

    def host(self, name: str, data: bytes, content_type: str) -> str:
        """Serve ``data`` at ``/media/<name>`` (replacing a file of that name); its URL."""
        self._hosted[name] = (data, content_type)
        return f"{self.base_url}/media/{quote(name, safe='')}"

    async def _serve_hosted(self, request: web.Request) -> web.StreamResponse:
        # Reference media: no signature and no fault dice (faults are for result downloads).
        found = self._hosted.get(request.match_info["name"])
        if found is None:
            return self._error(request, 404, "NoSuchKey", "The specified key does not exist.")
        body, ctype = found
        headers = {"Accept-Ranges": "bytes", "Content-Type": ctype}
        status, part = 200, body
        wanted = request.headers.get("Range")
        if wanted is not None:
            span = parse_range(wanted, len(body))
            if span == "unsatisfiable":
                return self._error(
                    request,
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    headers={"Content-Range": f"bytes */{len(body)}"},
                )
            if span != "ignore":
                first, last = span
                status, part = 206, body[first : last + 1]
                headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
        self._record(request, status)
        return web.Response(status=status, body=part, headers=headers)

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_json() for r in self.log])


_REASONS = {200: "OK", 206: "Partial Content"}


async def _send_cut(
    request: web.Request,
    status: int,
    headers: Mapping[str, str],
    part: bytes,
    cut: int,
    mode: TruncateMode,
) -> web.StreamResponse:
    """Send the first ``cut`` bytes of ``part`` and end the answer the way ``mode`` says."""
    if mode == "short":
        return web.Response(status=status, body=part[:cut], headers=headers)
    if mode == "unframed":
        # aiohttp always frames HTTP/1.1 bodies (length or chunks), so this answer is written
        # to the socket by hand; aiohttp's own write then hits a closed transport, which it
        # drops silently (see _http).
        transport = request.transport
        if transport is not None:
            lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            lines.append("Connection: close")
            transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + part[:cut])
            transport.close()  # a FIN after the buffered bytes: a clean end of file
        return web.Response(status=500)  # never reaches the client: the transport is closed
    response = web.StreamResponse(status=status, headers=headers)
    if mode == "chunked":
        response.enable_chunked_encoding()
    else:
        response.content_length = len(part)
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        if cut:
            await response.write(part[:cut])
    abort_connection(request, rst=False)
    return response
