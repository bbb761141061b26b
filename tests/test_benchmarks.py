"""``python -m benchmarks --smoke`` runs every row end to end and prints a figure for each.

Timings are never asserted (the machine is shared and noisy): only that nothing broke — every
server started, every answer was the expected one — and that the table has every row.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The row names ``python -m benchmarks`` prints (benchmarks.rows.ROW_NAMES).
ROWS = ("mint", "verify", "sso", "sts", "web-identity", "console", "workers", "startup",
        "import", "rss-idle", "rss-logins", "state")


@pytest.mark.live
def test_smoke_run_prints_every_row() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: the HTTP rows need it (Debian: apt-get install wrk)")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: the state row needs it "
                    "(Debian: apt-get install redis-server)")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    table = done.stdout.split("\n\nTotal ", 1)[-1]
    for name in ROWS:
        line = re.search(rf"^{re.escape(name)}: [^\n]*$", table, re.MULTILINE)
        assert line is not None, f"row {name} missing:\n{table}"
        # Every row has a figure: a number in a cell after the label.
        cells = re.split(r"\s{2,}", line[0])[1:]
        assert any(re.search(r"\d", cell) for cell in cells), f"no figure for {name}: {line[0]}"
