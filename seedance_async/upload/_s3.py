"""An uploader for S3 and S3-compatible stores (MinIO, R2, OSS, TOS, ...): the ``s3`` extra.

Objects are keyed by the sha256 of their bytes, so the same file is stored once however
often a batch names it or is re-run: a HEAD finds it and the PUT is skipped. Providers get
a presigned GET URL (signature v4) that outlives the task's deadline.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import anyio

from seedance_async.core._errors import ConfigurationError, UploadError
from seedance_async.core._secrets import ApiKey
from seedance_async.upload._protocol import Upload, extension_for

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["PRESIGN_MAX_SECONDS", "S3Uploader", "parse_s3_url"]

PRESIGN_MAX_SECONDS = 7 * 24 * 3600
"""The longest a signature-v4 presigned URL can be valid: S3 refuses longer expiries."""

AddressingStyle = Literal["auto", "path", "virtual"]


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as ``("bucket", "some/prefix/")``.

    Raises:
        ConfigurationError: not an ``s3://`` URL with a bucket.
    """
    if not url.startswith("s3://"):
        raise ConfigurationError(f"expected s3://BUCKET[/PREFIX], got {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigurationError(f"no bucket in {url!r}: expected s3://BUCKET[/PREFIX]")
    return bucket, _normal_prefix(prefix)


def _normal_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def _secret(value: str | ApiKey | None) -> ApiKey | None:
    if value is None or isinstance(value, ApiKey):
        return value
    return ApiKey(value)


class S3Uploader:
    """Stores media in an S3 bucket and hands out presigned GET URLs.

    Use it as ``Client(..., uploader=S3Uploader("bucket", "prefix"))``; the client closes
    it. Credentials, region and endpoint default to botocore's usual sources
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``,
    ``~/.aws``); none of them appears in a repr, a log line or an error.

    Args:
        bucket: the bucket (it must exist).
        prefix: a folder inside it for the objects (``"seedance/"``).
        endpoint_url: an S3-compatible endpoint, e.g. ``http://127.0.0.1:9000`` for MinIO.
        region: the bucket's region.
        access_key_id / secret_access_key / session_token: explicit credentials.
        expires_in: a fixed URL lifetime in seconds; by default each URL lives as long as
            its task may need (``Upload.valid_for``) plus ``margin``.
        margin: seconds added to ``Upload.valid_for`` (clock skew, a late fetch).
        addressing_style: ``path`` for stores without virtual-host buckets.

    Raises:
        ConfigurationError: the ``s3`` extra is not installed, or ``expires_in`` is beyond
            the 7 days a presigned URL can last.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | ApiKey | None = None,
        secret_access_key: str | ApiKey | None = None,
        session_token: str | ApiKey | None = None,
        expires_in: float | None = None,
        margin: float = 3600.0,
        addressing_style: AddressingStyle = "auto",
    ) -> None:
        if importlib.util.find_spec("aiobotocore") is None:
            raise ConfigurationError(
                "S3Uploader needs the s3 extra: pip install 'seedance-async[s3]'"
            )
        if not bucket:
            raise ConfigurationError("S3Uploader needs a bucket name")
        if expires_in is not None and not 0 < expires_in <= PRESIGN_MAX_SECONDS:
            raise ConfigurationError(
                f"expires_in={expires_in:g}s: a presigned S3 URL lives between 1 s and"
                f" {PRESIGN_MAX_SECONDS} s (7 days)"
            )
        if margin < 0:
            raise ConfigurationError(f"margin={margin:g}s must not be negative")
        self.bucket = bucket
        self.prefix = _normal_prefix(prefix)
        self.endpoint_url = endpoint_url
        self.region = region
        self.expires_in = expires_in
        self.margin = margin
        self.addressing_style = addressing_style
        self._access_key_id = _secret(access_key_id)
        self._secret_access_key = _secret(secret_access_key)
        self._session_token = _secret(session_token)
        self._client: S3Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._opening = anyio.Lock()
        # Keys this uploader stored or found: the same bytes again need no HEAD either.
        self._present: set[str] = set()
        self.stored = 0
        """Objects this uploader PUT (the others it found already stored)."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """An uploader for ``s3://bucket/prefix`` (the other arguments as keywords)."""
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, **options)

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Uploader(bucket={self.bucket!r}, prefix={self.prefix!r}{where})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (idempotent; the next upload opens a new one)."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with anyio.CancelScope(shield=True):
                await stack.aclose()

    async def _s3(self) -> S3Client:
        async with self._opening:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    signature_version="s3v4", s3={"addressing_style": self.addressing_style}
                )
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        aws_access_key_id=(
                            self._access_key_id.reveal() if self._access_key_id else None
                        ),
                        aws_secret_access_key=(
                            self._secret_access_key.reveal() if self._secret_access_key else None
                        ),
                        aws_session_token=(
                            self._session_token.reveal() if self._session_token else None
                        ),
                        config=config,
                    )
                )
                self._stack = stack
            return self._client

    # -- storing -------------------------------------------------------------------------------

    def key_for(self, data: bytes, upload: Upload) -> str:
        """The object key of ``data``: ``<prefix><sha256><extension>``."""
        return (
            f"{self.prefix}{Upload.digest(data)}{extension_for(upload.content_type, upload.path)}"
        )

    def expiry_for(self, upload: Upload) -> int:
        """Seconds the URL of ``upload`` is signed for.

        Raises:
            UploadError: the task needs a URL longer than ``expires_in`` or than S3 allows.
        """
        if self.expires_in is not None:
            if self.expires_in < upload.valid_for:
                raise UploadError(
                    upload.field,
                    upload.source,
                    f"the task may need its URL for {upload.valid_for:g} s, longer than the"
                    f" uploader's expires_in={self.expires_in:g} s",
                )
            return math.ceil(self.expires_in)
        wanted = math.ceil(upload.valid_for + self.margin)
        if wanted > PRESIGN_MAX_SECONDS:
            raise UploadError(
                upload.field,
                upload.source,
                f"the task may need its URL for {upload.valid_for:g} s (+{self.margin:g} s"
                f" margin); a presigned S3 URL lasts at most {PRESIGN_MAX_SECONDS} s (7 days):"
                " give the task a shorter deadline",
            )
        return wanted

    async def __call__(self, upload: Upload, /) -> str:
        """Store ``upload`` unless an object with its bytes is there already; its URL.

        Raises:
            UploadError: the file cannot be read, the store refused or could not be
                reached, or the URL cannot live long enough. It names the file, not the
                credentials.
        """
        expires = self.expiry_for(upload)
        try:
            data = await upload.read()
        except OSError as exc:
            raise UploadError(
                upload.field, upload.source, f"cannot read: {exc.strerror or exc}"
            ) from None
        key = self.key_for(data, upload)
        try:
            s3 = await self._s3()
            if key not in self._present:
                if not await self._exists(s3, key, len(data)):
                    await s3.put_object(
                        Bucket=self.bucket, Key=key, Body=data, ContentType=upload.content_type
                    )
                    self.stored += 1
                self._present.add(key)
            url: str = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
            )
        except Exception as exc:  # botocore's errors, and aiohttp's below them
            # Not chained: botocore's exceptions carry the request, and with it the signature.
            raise UploadError(upload.field, upload.source, self._describe(exc, key)) from None
        return url

    async def _exists(self, s3: S3Client, key: str, size: int) -> bool:
        from botocore.exceptions import ClientError

        try:
            head = await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise
        # The key is the content's hash, so only a different size means a different object
        # (a store that truncated it); it is written again.
        return head.get("ContentLength") == size

    def _describe(self, exc: Exception, key: str) -> str:
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        where = f"s3://{self.bucket}/{key}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.get("Code", "error")
            message = error.get("Message", "")
            text = f"{where}: the store answered {code}" + (f" (HTTP {status})" if status else "")
            return text + (f": {self._scrub(message)}" if message else "")
        if isinstance(exc, EndpointConnectionError):
            return f"{where}: cannot reach the store at {self.endpoint_url or 'its AWS endpoint'}"
        if isinstance(exc, NoCredentialsError):
            return f"{where}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        return f"{where}: {type(exc).__name__}: {self._scrub(str(exc))}"

    def _scrub(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> Iterable[str]:
        for value in (self._access_key_id, self._secret_access_key, self._session_token):
            if value is not None:
                yield value.reveal()
