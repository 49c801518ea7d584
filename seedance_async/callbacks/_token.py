"""The per-task callback token: the only thing that makes a callback URL hard to forge.

Providers sign nothing they post to ``callback_url``, so the URL itself is the secret: each
task gets ``{public_url}/{token}`` with 32 random bytes from :mod:`secrets`. Anyone who can
post to a token's URL learned it from the provider or from the path in between, which is
why a body is still only a hint (see :mod:`seedance_async.callbacks`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import NoReturn

__all__ = ["CallbackToken", "token_digest"]

_TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; restored tokens may come from an older or newer
# version with another length, but never shorter than 128 bits nor absurdly long.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22,128}")


def token_digest(text: str) -> bytes | None:
    """The registry key of a token's text, or None when the text cannot be a token.

    The registry is keyed by the SHA-256 of the token, not the token: a dictionary lookup's
    timing then says nothing about how close a guess came, and a dump of the registry holds
    no usable token.
    """
    if not _TOKEN_SHAPE.fullmatch(text):
        return None
    return hashlib.sha256(text.encode("ascii")).digest()


class CallbackToken:
    """A random per-task token that goes into the task's callback URL.

    ``repr``/``str`` are masked; :meth:`reveal` gives the text, for the callback URL and the
    journal only. It refuses pickling, as :class:`~seedance_async.ApiKey` does.

    Raises:
        ValueError: (constructor) ``value`` is not 22-128 URL-safe base64 characters. The
            message never repeats the value.
    """

    __slots__ = ("_digest", "_value")

    def __init__(self, value: str) -> None:
        digest = token_digest(value) if isinstance(value, str) else None
        if digest is None:
            raise ValueError("a callback token is 22-128 characters of [A-Za-z0-9_-]")
        self._value = value
        self._digest = digest

    @classmethod
    def new(cls) -> CallbackToken:
        """A fresh token of 256 random bits."""
        return cls(secrets.token_urlsafe(_TOKEN_BYTES))

    def reveal(self) -> str:
        """The token's text: call this only to build the callback URL or to journal it."""
        return self._value

    @property
    def digest(self) -> bytes:
        """SHA-256 of the token (what the registry is keyed by)."""
        return self._digest

    def __repr__(self) -> str:
        return "CallbackToken(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallbackToken) and secrets.compare_digest(
            other._digest, self._digest
        )

    def __hash__(self) -> int:
        return hash(("CallbackToken", self._digest))

    def __reduce__(self) -> NoReturn:
        raise TypeError("CallbackToken cannot be pickled: journal reveal() where it must persist")
