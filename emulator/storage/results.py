"""Result images: signed, expiring URLs and the PNGs behind them.

A result URL looks like the provider's OSS links::

    {public_url}/results/{task_id}/{index}.png?Expires=<unix s>&OSSAccessKeyId=...&Signature=...

The signature is an HMAC over the path and expiry with a per-process secret, so a tampered or
expired link is refused (403, OSS-style XML) like a real one. Images are rendered on first
download by emulator.storage.render.render_result in a worker thread, then cached; concurrent
downloads of the same image share one rendering.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from urllib.parse import quote

from emulator.constants import OSS_ACCESS_KEY_ID, RESULT_BUCKET, RESULTS_PREFIX
from emulator.errors import ApiError, url_expired, url_signature_mismatch, url_unsigned
from emulator.storage.bytecache import ByteCache
from emulator.storage.render import render_result
from emulator.tasks.task import Task


class ResultSigner:
    """Makes and checks signed result URLs."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._public_url = public_url.rstrip("/")

    def url(self, task: Task, index: int, ttl_s: float) -> str:
        """The signed URL of image `index` of a finished task, valid `ttl_s` after its end."""
        end_at = task.end_at
        assert end_at is not None
        expires = int(end_at + ttl_s)
        signature = quote(self._sign(task.task_id, index, expires), safe="")
        return (
            f"{self._public_url}{RESULTS_PREFIX}/{task.task_id}/{index}.png"
            f"?Expires={expires}&OSSAccessKeyId={OSS_ACCESS_KEY_ID}&Signature={signature}"
        )

    def check(
        self, task_id: str, index: int, expires: str | None, signature: str | None, now: float
    ) -> ApiError | None:
        """None when the URL parameters are valid at `now`, else the OSS error to answer."""
        if expires is None or signature is None or not expires.isdigit():
            return url_unsigned()
        expected = self._sign(task_id, index, int(expires))
        if not hmac.compare_digest(expected, signature):
            return url_signature_mismatch()
        if now > int(expires):
            return url_expired()
        return None

    def _sign(self, task_id: str, index: int, expires: int) -> str:
        canonical = f"GET\n\n\n{expires}\n/{RESULT_BUCKET}/{task_id}/{index}.png"
        digest = hmac.new(self._secret, canonical.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()


class ResultImages:
    """Renders result PNGs once per distinct rendering (input, size, seed, index, prompt) and
    keeps them in a size-bounded LRU cache.

    Also keeps, in a second one, the input images results are rendered from: the first input
    of each task, under its `Task.source_key`.
    """

    def __init__(self, max_bytes: int, sources_max_bytes: int) -> None:
        self._cache = ByteCache(max_bytes)
        self._sources = ByteCache(sources_max_bytes)
        self._rendering: dict[str, asyncio.Future[bytes]] = {}
        self.rendered = 0

    def keep_source(self, key: str, data: bytes) -> None:
        """Keep the input image `data` that results of tasks with ``source_key=key`` show."""
        self._sources.put(key, data)

    async def png(self, task: Task, index: int) -> bytes:
        """The PNG of image `index` of `task` (rendered from its first input, when kept)."""
        source = None if task.source_key is None else self._sources.get(task.source_key)
        # Rendering is deterministic in these arguments: identical requests share one render.
        prompt_digest = hashlib.sha1(task.prompt.encode()).hexdigest()
        key = f"{task.source_key}|{task.width}x{task.height}|{task.seed}|{index}|{prompt_digest}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        pending = self._rendering.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._rendering[key] = future
        try:
            data = await asyncio.to_thread(
                render_result,
                width=task.width,
                height=task.height,
                seed=task.seed,
                index=index,
                prompt=task.prompt,
                source=source,
            )
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) get it re-raised
            raise
        finally:
            del self._rendering[key]
        self.rendered += 1
        self._cache.put(key, data)
        future.set_result(data)
        return data

    def clear(self) -> None:
        """Drop every cached image."""
        self._cache.clear()
        self._sources.clear()
