"""API keys wrapped so they cannot leak through repr, str, logs or serialisation."""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

__all__ = ["ApiKey"]


class ApiKey:
    """A secret API key. ``repr``/``str`` show a masked form; :meth:`reveal` gives the key.

    It refuses pickling and JSON-ish dumping by design: a key is read from the environment
    (or passed in code) in each process, never written to journals or queues.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("an API key must be a non-empty string")
        self._value = value.strip()

    def reveal(self) -> str:
        """The key itself; call this only where it goes into a request header."""
        return self._value

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible id of the key (to tell keys apart in logs and budgets)."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"ApiKey(fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("ApiKey cannot be pickled: read keys from the environment in each process")

    def __getstate__(self) -> Any:
        raise TypeError("ApiKey cannot be serialised")
