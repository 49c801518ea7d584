"""The simulated result host: signed, expiring links to each task's MP4 and PNG.

Real results are signed TOS (object storage) URLs valid for 24 h, on a host that
is not the API's. The CDN runs as its own aiohttp app on its own port, so a test can prove a
client never sends its API key there: every request it serves is recorded with its headers.

URLs look like ``http://127.0.0.1:P/tos/<provider>/<task id>/video.mp4?expires=<unix>&sig=<hmac>``.
The signature is an HMAC-SHA256 of path and expiry under a secret derived from the seed. A
wrong signature answers 403 ``SignatureDoesNotMatch`` and an expired link 403
``AccessDenied`` "Request has expired", both as S3/TOS-style XML.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
from aiohttp import web

from seedance_async.simulator._media import mp4_bytes, png_for_task

__all__ = ["Cdn", "CdnRequest", "MediaSpec"]


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
        status: the status answered.
    """

    time: float
    method: str
    path: str
    headers: Mapping[str, str]
    status: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the CDN's ``/_sim/requests`` format)."""
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "status": self.status,
        }


_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>{rid}</RequestId></Error>'


class Cdn:
    """Mints signed result URLs and serves them.

    Args:
        clock: Unix-seconds clock shared with the providers.
        secret: HMAC key for the signatures.
        url_ttl: seconds a minted URL stays valid.
    """

    def __init__(self, *, clock: Callable[[], float], secret: bytes, url_ttl: float) -> None:
        self.clock = clock
        self.secret = secret
        self.url_ttl = url_ttl
        self.base_url = ""
        self.log: list[CdnRequest] = []
        self._media: dict[tuple[str, str], MediaSpec] = {}
        self.app = web.Application()
        self.app.router.add_get("/tos/{provider}/{task_id}/{name}", self._serve)
        self.app.router.add_get("/_sim/requests", self._admin_requests)

    def _sign(self, path: str, expires: int) -> str:
        return hmac.new(self.secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def mint(self, provider: str, spec: MediaSpec, name: str) -> str:
        """A fresh signed URL for ``video.mp4`` or ``last_frame.png`` of a task."""
        self._media[(provider, spec.task_id)] = spec
        path = f"/tos/{provider}/{quote(spec.task_id, safe='')}/{name}"
        expires = int(self.clock() + self.url_ttl)
        return f"{self.base_url}{path}?expires={expires}&sig={self._sign(path, expires)}"

    def _record(self, request: web.Request, status: int) -> None:
        self.log.append(
            CdnRequest(
                time=self.clock(),
                method=request.method,
                path=request.path_qs,
                headers=dict(request.headers),
                status=status,
            )
        )

    def _error(
        self, request: web.Request, status: int, code: str, message: str, extra: str = ""
    ) -> web.Response:
        self._record(request, status)
        rid = hashlib.sha256(f"{request.path_qs}{self.clock()}".encode()).hexdigest()[:24].upper()
        body = _XML.format(code=code, message=message, extra=extra, rid=rid)
        return web.Response(status=status, text=body, content_type="application/xml")

    async def _serve(self, request: web.Request) -> web.Response:
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
        self._record(request, 200)
        return web.Response(
            body=body,
            content_type=ctype,
            headers={"ETag": f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'},
        )

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_json() for r in self.log])
