"""A short bounded load run against ``idp serve --workers 2`` (about 17 s of traffic).

Threads drive full logins, SSO for signed-in browsers, STS AssumeRoleWithSAML with fresh
assertions, console sign-ins with a role choice, and GetCallerIdentity. Nothing may answer
5xx or anything else unexpected, and the server's memory must stay roughly flat after a
warm-up. ``benchmarks/load.py`` runs the same driver for longer and prints the figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import (
    KINDS,
    FaultServer,
    report,
    rss_bytes,
    run_load,
    serving,
    tree_pids,
)

pytestmark = pytest.mark.live

WARMUP_SECONDS = 4.0
LOAD_SECONDS = 13.0
CONCURRENCY = 6
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    workdir = tmp_path_factory.mktemp("load")
    with serving(workdir, workdir / "certs", workdir / "data", workers=2) as live:
        yield live


def test_bounded_load_has_no_errors_and_flat_memory(server: FaultServer, tmp_path: Path
                                                    ) -> None:
    """Under concurrent mixed traffic: no 5xx, no unexpected answer, RSS roughly flat."""
    pids = tree_pids(server.process.pid)
    assert len(pids) == 3  # supervisor + 2 workers
    warmup = run_load(server.url, seconds=WARMUP_SECONDS, concurrency=CONCURRENCY)
    rss_start = rss_bytes(pids)
    stats = run_load(server.url, seconds=LOAD_SECONDS, concurrency=CONCURRENCY)
    rss_end = rss_bytes(pids)

    figures = (f"{report(stats, LOAD_SECONDS)}\n"
               f"RSS start {rss_start / MB:.1f} MiB, end {rss_end / MB:.1f} MiB")
    (tmp_path / "load-figures.txt").write_text(figures)
    for run in (warmup, stats):
        assert run.server_errors == 0, figures
        assert not run.errors, f"{figures}\n{run.samples}"
    assert set(stats.statuses) <= {200, 303}, figures
    for kind in KINDS:
        assert len(stats.latencies[kind]) >= 5, f"too little {kind} traffic:\n{figures}"
    assert tree_pids(server.process.pid) == pids, "a worker died or was replaced"
    assert rss_end < rss_start * 1.5 + 30 * MB, figures
    output = server.output()
    assert "Traceback" not in output and "ERROR" not in output, output[-3000:]
