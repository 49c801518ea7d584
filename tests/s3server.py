"""A real S3-compatible HTTP server for the upload tests: moto's, on loopback, in a thread.

moto's recorder (its ``/moto-api/recorder`` endpoints) lists the requests the server
received, which is how the tests see on the wire that a re-run stores nothing again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# moto's recorder appends to ./moto_recording unless told otherwise, and reads the variable
# once, when moto is imported: it must be set before the import below.
os.environ.setdefault(
    "MOTO_RECORDER_FILEPATH", str(Path(tempfile.gettempdir()) / f"moto-recording-{os.getpid()}")
)

import aiohttp
import attrs
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "AKIDSEEDANCETESTS01"
SECRET_ACCESS_KEY = "test-secret-do-not-leak-7f3a"
REGION = "us-east-1"


@attrs.frozen
class S3Server:
    """A running moto server."""

    endpoint: str

    async def create_bucket(self, name: str) -> None:
        async with get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ) as s3:
            await s3.create_bucket(Bucket=name)

    async def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``."""
        async with get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ) as s3:
            listing = await s3.list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []) if "Key" in o)

    async def start_recording(self) -> None:
        """Forget earlier requests and record the ones from now on."""
        async with aiohttp.ClientSession() as http:
            for action in ("reset-recording", "start-recording"):
                async with http.post(f"{self.endpoint}/moto-api/recorder/{action}") as answer:
                    answer.raise_for_status()

    async def recorded(self) -> list[tuple[str, str]]:
        """(method, path) of every request since :meth:`start_recording`."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.endpoint}/moto-api/recorder/download-recording") as answer,
        ):
            text = await answer.text()
        out = []
        for line in text.splitlines():
            if line.strip():
                entry = json.loads(line)
                path = entry["url"].removeprefix(self.endpoint).split("?", 1)[0]
                out.append((entry["method"], path))
        return out


@contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 and a port of its own choosing, stopped afterwards."""
    # werkzeug logs every request at INFO to stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()
