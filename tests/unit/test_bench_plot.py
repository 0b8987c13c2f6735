"""bench.plot: the run chart from sampler timelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.plot import figure_series, plot_run, throughput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _timeline(rate_per_s: float, accounts: tuple[str, ...] = ("default",)) -> list[dict[str, Any]]:
    """20 s of samples every 0.5 s: a steady finish rate, 8 tasks in flight per account."""
    samples = []
    for i in range(41):
        t_s = i * 0.5
        figures = {
            "in_flight": 8,
            "finished": int(rate_per_s * t_s),
            "submits_accepted": int(rate_per_s * t_s) + 8,
            "throttled": 0,
        }
        samples.append({"t_s": t_s, "accounts": {name: dict(figures) for name in accounts}})
    return samples


def test_throughput_is_the_slope_over_the_window() -> None:
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    finished = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    rates = throughput(times, finished, window_s=2.0)
    assert rates[0] == 0.0
    assert rates[1:] == pytest.approx([10.0] * 6)


def test_series_sum_over_accounts() -> None:
    timeline = _timeline(4.0, accounts=("a", "b"))
    _, in_flight = figure_series(timeline, "in_flight")
    assert set(in_flight) == {16.0}
    assert figure_series(timeline, "in_flight", "a")[1][0] == 8.0


def test_plot_run_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "charts" / "run.png"
    series = {"wanqueue": _timeline(9.5, ("a", "b")), "sdk_threadpool": _timeline(6.0)}
    assert plot_run(path, "100 jobs, 10 submits/s", series, per_account=True) == path
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
