"""The S3 endpoint to use: the configured one, or moto's server on a free loopback port.

With ``WANQ_S3__ENDPOINT_URL`` set, :func:`ensure_s3` uses that endpoint as it is (MinIO, R2,
AWS itself through an explicit URL) and creates nothing there. Without it, it starts
``python -m moto.server`` (moto's ``[server]`` extra) as a subprocess it owns, waits until it
answers, creates the configured bucket, and hands back the endpoint with fixed fake
credentials: an in-memory S3 spoken to over real HTTP, gone when stopped.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from adapters.s3 import s3_client
from config import S3Settings, Settings
from devstack.constants import (
    LOOPBACK,
    PORT_ATTEMPTS,
    PROBE_TIMEOUT_S,
    S3_CLIENT_MAX_ATTEMPTS,
    S3_LOCAL_ACCESS_KEY_ID,
    S3_LOCAL_SECRET_ACCESS_KEY,
    S3_START_TIMEOUT_S,
    S3_STOP_TIMEOUT_S,
)
from devstack.env import PYTHON_CHILD_ENV
from devstack.procs import StartupError, Stoppable, free_port, stop_process, wait_until

# AWS's own default region takes no location constraint when a bucket is created.
_NO_LOCATION_CONSTRAINT = "us-east-1"


@dataclass
class S3Handle(Stoppable):
    """An S3 endpoint and the credentials for it.

    Use as a context manager; on exit a started server is stopped.

    Attributes:
        endpoint_url: The endpoint (None: AWS's own, from the region).
        region: Signing region.
        bucket: The bucket results go to.
        access_key_id: Access key id (None: boto3's default credential chain).
        secret_access_key: Secret key.
    """

    endpoint_url: str | None
    region: str
    bucket: str
    access_key_id: SecretStr | None
    secret_access_key: SecretStr | None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owned_log: Path | None = field(default=None, repr=False)

    @property
    def started(self) -> bool:
        """Whether this handle started (and so owns) the server."""
        return self._proc is not None

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with its S3 section pointed at this endpoint."""
        s3 = settings.s3.model_copy(
            update={
                "endpoint_url": self.endpoint_url,
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
            }
        )
        return settings.model_copy(update={"s3": s3})

    def s3_settings(self) -> S3Settings:
        """S3 settings for this endpoint (path-style addressing)."""
        return S3Settings(
            endpoint_url=self.endpoint_url,
            region=self.region,
            bucket=self.bucket,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint (for tests and the demo's checks)."""
        return s3_client(self.s3_settings(), max_attempts=S3_CLIENT_MAX_ATTEMPTS)

    def stop(self) -> None:
        """Stop the server if this handle started it; idempotent.

        A log file :func:`ensure_s3` created for it (no ``log_path`` given) is removed.
        """
        if self._proc is not None:
            stop_process(self._proc, S3_STOP_TIMEOUT_S)
            self._proc = None
        if self._owned_log is not None:
            self._owned_log.unlink(missing_ok=True)
            self._owned_log = None


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/moto-api/", timeout=PROBE_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


def _start_moto(log_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    error: StartupError | None = None
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(PYTHON_CHILD_ENV),
            )
        try:
            wait_until(
                functools.partial(_answers, url),
                what=f"moto server on port {port}",
                timeout_s=S3_START_TIMEOUT_S,
                proc=proc,
                log_path=log_path,
            )
        except StartupError as exc:
            stop_process(proc, S3_STOP_TIMEOUT_S)
            error = exc
            continue
        return url, proc
    raise StartupError(f"could not start moto's server: {error}")


def create_bucket(handle: S3Handle) -> None:
    """Create the handle's bucket in its region."""
    client = handle.client()
    kwargs: dict[str, Any] = {"Bucket": handle.bucket}
    if handle.region != _NO_LOCATION_CONSTRAINT:
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": handle.region}
    try:
        client.create_bucket(**kwargs)
    finally:
        client.close()


def ensure_s3(settings: Settings, *, log_path: Path | None = None) -> S3Handle:
    """The S3 endpoint to use: the configured one, else a fresh moto server with the bucket.

    Args:
        settings: ``settings.s3`` names the endpoint (if any), region and bucket.
        log_path: Where a started server logs (a temporary file if None).

    Raises:
        StartupError: moto's server did not start.
    """
    s3 = settings.s3
    if s3.endpoint_url:
        return S3Handle(
            s3.endpoint_url, s3.region, s3.bucket, s3.access_key_id, s3.secret_access_key
        )
    owned_log: Path | None = None
    if log_path is None:
        # The server's log is opened by path: close mkstemp's descriptor at once, and remove
        # the file when the server stops (or fails to start: its tail is in the error).
        fd, name = tempfile.mkstemp(prefix="wanq-moto-", suffix=".log")
        os.close(fd)
        log_path = owned_log = Path(name)
    try:
        url, proc = _start_moto(log_path)
    except StartupError:
        if owned_log is not None:
            owned_log.unlink(missing_ok=True)
        raise
    handle = S3Handle(
        url,
        s3.region,
        s3.bucket,
        SecretStr(S3_LOCAL_ACCESS_KEY_ID),
        SecretStr(S3_LOCAL_SECRET_ACCESS_KEY),
        _proc=proc,
        _owned_log=owned_log,
    )
    try:
        create_bucket(handle)
    except Exception:
        handle.stop()
        raise
    return handle
