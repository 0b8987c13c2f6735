"""Helpers for tests that drive a real emulator subprocess.

`RunningEmulator` extends devstack.emulator.EmulatorProcess with the admin calls tests need
(configuration at run time, outages) and small conveniences (auth headers, an API client).
`wait_for` polls a condition with a deadline, so no test sleeps a fixed time to wait for work.
"""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from PIL import Image

from devstack.emulator import EmulatorProcess

T = TypeVar("T")

DEFAULT_POLL_INTERVAL_S = 0.05
DEFAULT_WAIT_S = 15.0

# Fast task latency for tests: about 0.3 s from submit to the end.
FAST_MODELS: dict[str, Any] = {
    "*": {
        "pending": {"kind": "fixed", "median_s": 0.05},
        "running": {"kind": "lognormal", "median_s": 0.25, "sigma": 0.2, "max_s": 0.5},
    }
}
FAST_CONFIG: dict[str, Any] = {"models": FAST_MODELS}

MESSAGES_PATH = "/services/aigc/image-generation/generation"
I2I_PATH = "/services/aigc/image2image/image-synthesis"
SYNC_PATH = "/services/aigc/multimodal-generation/generation"
ASYNC_HEADERS = {"X-DashScope-Async": "enable"}


def wait_for(
    condition: Callable[[], T | bool | None],
    *,
    timeout_s: float = DEFAULT_WAIT_S,
    interval_s: float = DEFAULT_POLL_INTERVAL_S,
    what: str = "condition",
) -> T:
    """Poll `condition` until it returns a truthy value; return that value.

    Raises:
        AssertionError: The deadline passed first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class RunningEmulator(EmulatorProcess):
    """An emulator subprocess plus the admin helpers the tests use.

    Attributes:
        admin_url: ``http://host:port/admin``.
        api: An httpx client on `base_url` authenticated with `api_key`.
    """

    def __init__(self, config: dict[str, Any] | None, *, log_path: Path) -> None:
        super().__init__(config, log_path=log_path)
        self.admin_url = f"{self.root_url}/admin"
        self.log_path = log_path
        self.api = httpx.Client(base_url=self.base_url, headers=self.auth(), timeout=15.0)

    def auth(self, key: str | None = None) -> dict[str, str]:
        """``Authorization`` header for `key` (default: the default account's key)."""
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def get_config(self) -> dict[str, Any]:
        """``GET /admin/config``."""
        response = self.admin.get("/admin/config")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def set_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """``PUT /admin/config``: replace the configuration."""
        response = self.admin.put("/admin/config", json=config)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def patch_config(self, patch: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /admin/config``: merge `patch` into the configuration."""
        response = self.admin.patch("/admin/config", json=patch)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def outage(self, duration_s: float, groups: list[str] | None = None) -> None:
        """``POST /admin/outage`` starting now."""
        body: dict[str, Any] = {"duration_s": duration_s}
        if groups is not None:
            body["groups"] = groups
        self.admin.post("/admin/outage", json=body).raise_for_status()

    def model_stats(self, model: str, account: str = "default") -> dict[str, Any]:
        """The stats entry of `account` and `model`."""
        result: dict[str, Any] = self.stats()["accounts"][account]["models"][model]
        return result

    def submit(
        self, body: dict[str, Any], *, path: str = MESSAGES_PATH, key: str | None = None
    ) -> httpx.Response:
        """POST an async submit (with ``X-DashScope-Async: enable``)."""
        return self.api.post(path, json=body, headers={**ASYNC_HEADERS, **self.auth(key)})

    def submit_ok(self, body: dict[str, Any], *, path: str = MESSAGES_PATH) -> str:
        """Submit and return the new task id (asserting success)."""
        response = self.submit(body, path=path)
        assert response.status_code == 200, response.text
        task_id: str = response.json()["output"]["task_id"]
        return task_id

    def task(self, task_id: str, key: str | None = None) -> dict[str, Any]:
        """``GET /tasks/{id}`` body (asserting HTTP 200)."""
        response = self.api.get(f"/tasks/{task_id}", headers=self.auth(key))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait_status(
        self, task_id: str, *statuses: str, timeout_s: float = DEFAULT_WAIT_S
    ) -> dict[str, Any]:
        """Poll the task until its status is one of `statuses`; return that body."""

        def reached() -> dict[str, Any] | None:
            body = self.task(task_id)
            return body if body["output"]["task_status"] in statuses else None

        return wait_for(reached, timeout_s=timeout_s, what=f"{task_id} in {statuses}")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process and close the clients."""
        self.api.close()
        super().stop()


StartEmulator = Callable[[dict[str, Any] | None], RunningEmulator]
"""Starts an emulator with a configuration (None: its defaults); the ``start_emulator`` fixture."""


def start_process(config: dict[str, Any] | None, log_path: Path) -> RunningEmulator:
    """Start an emulator subprocess; retries once on a lost race for the free port."""
    last: Exception | None = None
    for _ in range(2):
        emulator = RunningEmulator(config, log_path=log_path)
        try:
            emulator.start()
        except RuntimeError as exc:
            last = exc
            emulator.stop()
            continue
        return emulator
    raise RuntimeError(f"emulator did not start: {last}\n{log_path.read_text()[-4000:]}")


# ------------------------------------------------------------------------------ images


def png_bytes(width: int, height: int, colour: tuple[int, int, int] = (180, 40, 40)) -> bytes:
    """A solid-colour RGB PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int, height: int, colour: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    """A solid-colour JPEG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG")
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, checking that it is one."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


@contextmanager
def image_server(files: dict[str, bytes]) -> Iterator[str]:
    """Serve `files` (path -> bytes) over HTTP on loopback; yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------ bodies


def first_image_url(body: dict[str, Any]) -> str:
    """The first image URL of a SUCCEEDED messages-protocol task body."""
    url: str = body["output"]["choices"][0]["message"]["content"][0]["image"]
    return url


def messages_body(
    text: str = "Make the car red",
    images: list[str] | None = None,
    *,
    model: str = "wan2.7-image-pro",
    **parameters: Any,
) -> dict[str, Any]:
    """A messages-protocol body (wan2.7 / wan2.6); `n` defaults to 1."""
    parameters.setdefault("n", 1)
    content: list[dict[str, str]] = [{"text": text}]
    content += [{"image": url} for url in images or []]
    return {
        "model": model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": parameters,
    }


def i2i_body(prompt: str, images: list[str], **parameters: Any) -> dict[str, Any]:
    """A wan2.5-i2i-preview body; `n` defaults to 1."""
    parameters.setdefault("n", 1)
    return {
        "model": "wan2.5-i2i-preview",
        "input": {"prompt": prompt, "images": images},
        "parameters": parameters,
    }
