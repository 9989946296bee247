"""What every benchmark plot shares: log-log axes, a grid, a legend."""

from __future__ import annotations

from typing import Any


def style_log_axes(ax: Any, title: str, ylabel: str, xlabel: str | None = None) -> None:
    """One panel of a benchmark figure (``ax``: a matplotlib Axes)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
