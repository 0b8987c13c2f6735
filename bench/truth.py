"""Ground truth from the upstream: when did each task of an account really end?

The client's ``noticed_at`` is when it saw a task end; the emulator knows when it ended. The
gap is the poll lag a design pays. This reads the emulator's task list (``GET /api/v1/tasks``,
paged, newest first), whose ``end_time`` is epoch **milliseconds**, so no time zone is
involved.

Task bodies (``GET /tasks/{id}``) carry ``submit_time``/``end_time`` instead as local-time
strings ``"YYYY-MM-DD HH:MM:SS.mmm"`` without a zone, in the time zone of the *emulator's*
process (``time.localtime`` there; milliseconds truncated, not rounded).
:func:`parse_task_time` reads them back, which is right only when this process has the
same local time zone (``EmulatorProcess`` starts the emulator with an environment of its own,
so a ``TZ`` variable set here does not reach it) and outside the repeated hour of a DST change.
Prefer the list.

Side effect: :func:`task_end_times` turns the account's query limit off (``query_qps: 0``
through ``PATCH /admin/config``) so that listing is not throttled. Call it after the run, and
reset or reconfigure the emulator before the next one.
"""

from __future__ import annotations

import time
from typing import Any, Final

import httpx

from bench.sampler import ADMIN_TOKEN_HEADER

LIST_PATH: Final = "/api/v1/tasks"
PAGE_SIZE: Final = 100
"""The emulator's largest page."""

FINISHED_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED"})
_TASK_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_REQUEST_TIMEOUT_S: Final = 10.0


def parse_task_time(text: str) -> float:
    """Epoch seconds of a task body's ``submit_time``/``end_time`` (this process's zone).

    >>> import time
    >>> parse_task_time(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1e9)) + ".250")
    1000000000.25
    """
    whole, _, millis = text.partition(".")
    return time.mktime(time.strptime(whole, _TASK_TIME_FORMAT)) + int(millis or 0) / 1000


def _unthrottle_queries(admin: httpx.Client, api_key: str) -> None:
    """Set ``query_qps`` to 0 on the account that owns ``api_key``.

    A merge patch replaces a list as a whole, so the patch carries every account.
    """
    response = admin.get("/admin/config")
    response.raise_for_status()
    accounts: list[dict[str, Any]] = response.json()["accounts"]
    if not any(api_key in account["api_keys"] for account in accounts):
        raise ValueError("no account of the emulator has this API key")
    patched = [
        {**account, "query_qps": 0} if api_key in account["api_keys"] else account
        for account in accounts
    ]
    admin.patch("/admin/config", json={"accounts": patched}).raise_for_status()


def task_end_times(
    emulator_root: str, api_key: str, admin_token: str | None = None
) -> dict[str, float]:
    """Upstream task id -> end time (epoch seconds) of every finished task of the account.

    Finished means SUCCEEDED or FAILED. Changes the emulator's configuration (see the module
    docstring).

    Args:
        emulator_root: The emulator's root URL (``http://host:port``).
        api_key: A key of the account whose tasks are listed.
        admin_token: The emulator's admin token, if its configuration sets one.
    """
    admin_headers = {ADMIN_TOKEN_HEADER: admin_token} if admin_token else {}
    with httpx.Client(
        base_url=emulator_root, headers=admin_headers, timeout=_REQUEST_TIMEOUT_S
    ) as admin:
        _unthrottle_queries(admin, api_key)
    ends: dict[str, float] = {}
    with httpx.Client(
        base_url=emulator_root,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=_REQUEST_TIMEOUT_S,
    ) as api:
        page_no, total_pages = 1, 1
        while page_no <= total_pages:
            response = api.get(LIST_PATH, params={"page_no": page_no, "page_size": PAGE_SIZE})
            response.raise_for_status()
            page: dict[str, Any] = response.json()
            for item in page["data"]:
                if item["status"] in FINISHED_STATUSES and item.get("end_time") is not None:
                    ends[str(item["task_id"])] = int(item["end_time"]) / 1000
            total_pages = int(page["total_page"])
            page_no += 1
    return ends
