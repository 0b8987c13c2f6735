"""Charts of benchmark runs: throughput and tasks in flight over time, one line per design.

Each series is a :class:`bench.sampler.StatsSampler` timeline. Throughput is the slope of the
finished count over a trailing window (``SMOOTHING_WINDOW_S``), so the line reads as jobs
finished per second without the steps of a half-second sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after use(): the backend must be chosen first

SMOOTHING_WINDOW_S: Final = 2.0
FIGURE_SIZE_IN: Final = (10.0, 7.0)
DPI: Final = 110


def account_names(timeline: Sequence[dict[str, Any]]) -> list[str]:
    """Every account that appears in a timeline, sorted."""
    return sorted({name for sample in timeline for name in sample["accounts"]})


def figure_series(
    timeline: Sequence[dict[str, Any]], figure: str, account: str | None = None
) -> tuple[list[float], list[float]]:
    """Times and values of one figure (``finished``, ``in_flight``, ...) of a timeline.

    Args:
        timeline: Samples of a StatsSampler.
        figure: The per-account figure.
        account: One account (None: the sum over accounts).
    """
    times: list[float] = []
    values: list[float] = []
    for sample in timeline:
        accounts: dict[str, dict[str, int]] = sample["accounts"]
        if account is None:
            value = sum(figures.get(figure, 0) for figures in accounts.values())
        else:
            value = accounts.get(account, {}).get(figure, 0)
        times.append(float(sample["t_s"]))
        values.append(float(value))
    return times, values


def throughput(
    times: Sequence[float], finished: Sequence[float], window_s: float = SMOOTHING_WINDOW_S
) -> list[float]:
    """Jobs finished per second at each sample, over the trailing ``window_s``.

    Near the start the window is what there is; a sample with no earlier one gives 0.
    """
    rates: list[float] = []
    first = 0
    for i, now in enumerate(times):
        while first < i and times[first] < now - window_s:
            first += 1
        span = now - times[first]
        rates.append((finished[i] - finished[first]) / span if span > 0 else 0.0)
    return rates


def plot_run(
    path: Path,
    title: str,
    series: dict[str, list[dict[str, Any]]],
    *,
    per_account: bool = False,
) -> Path:
    """Write a PNG: throughput on top, tasks in flight below, sharing the time axis.

    Args:
        path: The PNG to write (its folder is created).
        title: The figure's title.
        series: Design name (``"wanqueue"``, ``"sdk_threadpool"``, ...) -> timeline.
        per_account: Also draw each account of a series with several accounts, dashed.

    Returns:
        ``path``.
    """
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=FIGURE_SIZE_IN)
    try:
        for name, timeline in series.items():
            times, finished = figure_series(timeline, "finished")
            line = top.plot(times, throughput(times, finished), label=name)[0]
            bottom.plot(times, figure_series(timeline, "in_flight")[1], color=line.get_color())
            accounts = account_names(timeline)
            if per_account and len(accounts) > 1:
                for account in accounts:
                    times, finished = figure_series(timeline, "finished", account)
                    label = f"{name} / {account}"
                    top.plot(times, throughput(times, finished), "--", lw=1, label=label)
                    in_flight = figure_series(timeline, "in_flight", account)[1]
                    bottom.plot(times, in_flight, "--", lw=1)
        top.set_title(title)
        top.set_ylabel(f"jobs finished / s ({SMOOTHING_WINDOW_S:g} s window)")
        top.grid(alpha=0.3)
        if series:
            top.legend(loc="upper right", fontsize="small")
        bottom.set_ylabel("tasks in flight upstream")
        bottom.set_xlabel("time since start (s)")
        bottom.grid(alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path
