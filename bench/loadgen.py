"""A lean HTTP/1.1 keep-alive load generator on raw asyncio streams.

httpx costs far more CPU per request than a small server spends answering it, so measuring a
server's ceiling with httpx measures httpx. This sends fixed GET requests over persistent
connections and parses only the status line and Content-Length.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """What one load process saw."""

    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str, port: int, requests: list[bytes], deadline: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            writer.write(request)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.ok += 1
            else:
                result.errors += 1
    finally:
        writer.close()


def build_get(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    """Encode one keep-alive GET request."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _run_process(
    host: str, port: int, requests: list[bytes], connections: int, duration_s: float
) -> LoadResult:
    result = LoadResult()

    async def main() -> None:
        deadline = time.perf_counter() + duration_s
        await asyncio.gather(
            *(_connection(host, port, requests, deadline, result) for _ in range(connections))
        )

    asyncio.run(main())
    return result


def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    processes: int,
    connections_per_process: int,
    duration_s: float,
) -> LoadResult:
    """Run the load from ``processes`` OS processes and merge what they saw."""
    args = [(host, port, requests, connections_per_process, duration_s)] * processes
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        parts = pool.starmap(_run_process, args)
    merged = LoadResult()
    for part in parts:
        merged.ok += part.ok
        merged.errors += part.errors
        merged.latencies_ms += part.latencies_ms
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged
