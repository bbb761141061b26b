"""Rows of the result table, their statistics and how they print (plain text or Markdown)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

RATIO_NOTE = "ratio > 1 means the product is better (faster, more throughput, less memory)"


class Kind(Enum):
    """What a sample is, which says which way is better and how it prints."""

    SECONDS = "s"  # lower is better
    RATE = "req/s"  # higher is better
    MIB = "MiB"  # lower is better


@dataclass
class Row:
    """One line of the table: samples of the product (A) and of its baseline (B), per round."""

    name: str
    label: str
    kind: Kind
    target: str = "report"
    #: The longer description printed under the table.
    detail: str = ""
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    #: (minimum, maximum) the oriented ratio must fall in for the target to be met.
    ratio_bounds: tuple[float, float] | None = None
    #: A bound on the product's median itself (seconds or MiB), for absolute targets.
    product_max: float | None = None
    note: str = ""
    error: str | None = None
    #: Text shown instead of figures (a row that could not run, for a stated reason).
    unavailable: str | None = None
    #: Overrides of the product / baseline / range cells (rows that are not A/B medians).
    cells: dict[str, str] = field(default_factory=dict)
    extra_met: bool | None = None

    @property
    def a_median(self) -> float | None:
        return statistics.median(self.a) if self.a else None

    @property
    def b_median(self) -> float | None:
        return statistics.median(self.b) if self.b else None

    @property
    def ratio(self) -> float | None:
        a, b = self.a_median, self.b_median
        if a is None or b is None or a == 0 or b == 0:
            return None
        return a / b if self.kind is Kind.RATE else b / a

    def round_ratios(self) -> list[float]:
        """The oriented ratio of each round (A and B of one round ran back to back)."""
        pairs = [(a, b) for a, b in zip(self.a, self.b, strict=False) if a and b]
        return [a / b if self.kind is Kind.RATE else b / a for a, b in pairs]

    def met(self) -> bool | None:
        """Whether the target is met (None: nothing to check)."""
        checks: list[bool] = []
        ratio = self.ratio
        if self.ratio_bounds is not None and ratio is not None:
            checks.append(self.ratio_bounds[0] <= ratio <= self.ratio_bounds[1])
        if self.product_max is not None and self.a_median is not None:
            checks.append(self.a_median <= self.product_max)
        if self.extra_met is not None:
            checks.append(self.extra_met)
        return all(checks) if checks else None


def _sig(value: float) -> str:
    """Three significant figures (``544``, ``54.4``, ``5.44``)."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def fmt(value: float | None, kind: Kind) -> str:
    if value is None:
        return "-"
    if kind is Kind.SECONDS:
        if value < 1e-3:
            return f"{_sig(value * 1e6)} µs"
        if value < 1.0:
            return f"{_sig(value * 1e3)} ms"
        return f"{value:.2f} s"
    if kind is Kind.RATE:
        return f"{value:.0f} req/s"
    return f"{value:.1f} MiB"


def span(values: Sequence[float], kind: Kind) -> str:
    if not values:
        return "-"
    return f"{fmt(min(values), kind)} to {fmt(max(values), kind)}"


HEADER = ("measure", "product median", "baseline median", "ranges min to max (product; baseline)",
          "ratio (>1: product better)", "target")


def cells(row: Row) -> tuple[str, ...]:
    if row.error is not None:
        return (row.label, "ERROR", "-", row.error[:160], "-", row.target)
    if row.unavailable is not None:
        return (row.label, row.unavailable, "-", "-", "-", row.target)
    ratio = row.ratio
    verdict = row.met()
    target = row.target if verdict is None else f"{row.target} ({'met' if verdict else 'MISSED'})"
    product = row.cells.get("product", fmt(row.a_median, row.kind))
    baseline = row.cells.get("baseline", fmt(row.b_median, row.kind))
    ranges = row.cells.get("ranges", f"{span(row.a, row.kind)}; {span(row.b, row.kind)}")
    shown = "-" if ratio is None else f"{ratio:.2f}x"
    per_round = row.round_ratios()
    if ratio is not None and len(per_round) > 1:
        shown += f" (rounds {min(per_round):.2f} to {max(per_round):.2f})"
    return (row.label, product, baseline, ranges, row.cells.get("ratio", shown), target)


def legend(rows: Sequence[Row], *, markdown: bool) -> list[str]:
    lines = []
    for row in rows:
        text = row.detail + (f" ({row.note})" if row.note else "")
        if text:
            lines.append(f"{'- ' if markdown else '  '}{row.name}: {text}")
    return lines


def render(rows: Sequence[Row], *, markdown: bool) -> str:
    table = [HEADER, *(cells(row) for row in rows)]
    if markdown:
        def line(items: Sequence[str]) -> str:
            return "| " + " | ".join(item.replace("|", "\\|") for item in items) + " |"
        return "\n".join([line(HEADER), line(["---"] * len(HEADER)),
                          *(line(c) for c in table[1:]), "", *legend(rows, markdown=True)])
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]

    def text(items: Sequence[str]) -> str:
        return "  ".join(item.ljust(width) for item, width in
                         zip(items, widths, strict=True)).rstrip()
    rule = "  ".join("-" * width for width in widths)
    return "\n".join([text(HEADER), rule, *(text(c) for c in table[1:]), "",
                      *legend(rows, markdown=False)])


# --- the machine -------------------------------------------------------------------------------

def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def machine() -> str:
    """CPU, cores, load, Python and the versions of the libraries the figures depend on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    packages = ", ".join(f"{name} {_version(name)}" for name in
                         ("lxml", "signxml", "cryptography", "starlette", "uvicorn", "h11",
                          "redis"))
    return "\n".join([
        f"machine: {model}; {os.cpu_count()} cores ({usable} usable); load average {load}",
        f"python:  {platform.python_implementation()} {sys.version.split()[0]} "
        f"({platform.platform()})",
        f"packages: {packages}",
        f"tools:   {_tool_version(['wrk', '--version'])}; "
        f"{_tool_version(['redis-server', '--version'])}",
    ])
