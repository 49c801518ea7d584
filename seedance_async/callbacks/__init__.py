"""Provider callbacks (``callback_url``) as a fast, untrusted hint to confirm a task now.

Ark, BytePlus ModelArk and the gateways that pass Ark's body through POST the task object
to a task's ``callback_url`` when its status changes. Nothing in such a request is signed,
notices may be lost, repeated, late or out of order, and a final one is re-sent only a few
times. So this package treats them as hints:

* each task gets its own URL, ``{public_url}/{token}``, with 256 random bits
  (:class:`CallbackToken`); a request for any other token is answered 404 and changes
  nothing, and guessing is throttled per source address;
* a request is acknowledged (200) as soon as its size, content type and token are checked;
  its body is read later, off the request path;
* a body can only produce a :class:`CallbackHint` — "confirm task *key* now" — and only
  when it claims a state further along than anything a GET has shown and than any claim
  still being confirmed (stale and duplicate notices change nothing). Nothing else of the
  body is used: not its status to finish a task, not its video URL to download anything;
* whoever consumes the hints (the Tracker) GETs the task from the provider and reports what
  it saw with :meth:`CallbackReceiver.observe`, which counts the claim confirmed or
  contradicted.

Three ways to expose a :class:`CallbackReceiver`: mounted into your aiohttp app
(:func:`callback_app`, :func:`callback_routes`), mounted into an ASGI app
(:class:`CallbackAsgiApp`), or on its own port (:class:`CallbackServer`). Counters for run
summaries and metrics are plain attributes of :attr:`CallbackReceiver.stats`. Several hosts
behind one public URL pass each other the callbacks of tasks they do not follow through a
:class:`CallbackRelay` (the Redis workers do).
"""

from __future__ import annotations

from seedance_async.callbacks._aiohttp import (
    RedactingAccessLogger,
    callback_app,
    callback_routes,
    redact_path,
)
from seedance_async.callbacks._asgi import CallbackAsgiApp
from seedance_async.callbacks._receiver import CallbackReceiver, CallbackRelay, ReceiverLimits
from seedance_async.callbacks._registry import (
    CallbackHint,
    CallbackStats,
    RejectReason,
    TokenRegistry,
)
from seedance_async.callbacks._server import CallbackServer, CallbackServerError, parse_listen
from seedance_async.callbacks._token import CallbackToken

__all__ = [
    "CallbackAsgiApp",
    "CallbackHint",
    "CallbackReceiver",
    "CallbackRelay",
    "CallbackServer",
    "CallbackServerError",
    "CallbackStats",
    "CallbackToken",
    "ReceiverLimits",
    "RedactingAccessLogger",
    "RejectReason",
    "TokenRegistry",
    "callback_app",
    "callback_routes",
    "parse_listen",
    "redact_path",
]
