"""Load driver: start ``idp serve`` on loopback, drive mixed traffic for a while, print figures.

Run from the repository root:

    .venv/bin/python benchmarks/load.py --seconds 180 --concurrency 8 [--workers 2]

It starts its own server (fresh keys and state in a temporary folder, 127.0.0.1 only), runs a
short warm-up, then ``--concurrency`` threads for ``--seconds``. Each thread is one simulated
user (alice or bob, correct passwords only, so login throttling never triggers) repeating:

    login    a full browser login: GET /idp/init -> 303 -> login page, POST /idp/login (with
             csrf_token) -> 303 -> the auto-POST page with a signed SAML Response (4 requests)
    sso      GET /idp/init with the IdP session cookie -> auto-POST page (signs a Response)
    assume   POST /aws/sts AssumeRoleWithSAML with a fresh assertion from ``sso``
    console  POST /aws/saml with a fresh assertion and roleIndex -> 303 to /aws/console
    caller   POST /aws/sts GetCallerIdentity, SigV4-signed with the latest credentials

Printed: operations per kind (ok / failed / per second), p50 and p95 latency per kind (ms, for
whole operations), HTTP requests by status, errors by kind and cause, and the server's RSS
(supervisor plus workers, from /proc) after the warm-up, every sample during the run, and at
the end. Clients keep connections alive (like browsers and boto3) unless
``--fresh-connections`` is given. Exit status 1 if any 5xx or unexpected answer was seen.

Everything is bounded: the run stops by itself after ``--seconds`` (at most 3600), every
request has a timeout, and the server is stopped with Ctrl-C (SIGINT) at the end.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

# Imported by name: the driver lives with the tests (httpx2, botocore), which are typed less
# strictly than ``mypy --strict benchmarks`` checks this package.
_faults = importlib.import_module("tests.support.faults")
LoadStats: Any = _faults.LoadStats
report: Any = _faults.report
rss_bytes: Any = _faults.rss_bytes
run_load: Any = _faults.run_load
serve: Any = _faults.serve
shutdown: Any = _faults.shutdown
tree_pids: Any = _faults.tree_pids
utc_now: Any = _faults.utc_now

MB = 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured run (default 60)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="idp serve --workers (default 1)")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds (default 5)")
    parser.add_argument("--sample-every", type=float, default=15.0,
                        help="RSS sample interval in seconds (default 15)")
    parser.add_argument("--fresh-connections", action="store_true",
                        help="open a new connection for every request (no keep-alive)")
    args = parser.parse_args()
    if not 0 < args.seconds <= 3600 or not 1 <= args.concurrency <= 64:
        parser.error("--seconds must be in (0, 3600] and --concurrency in 1..64")
    keepalive = not args.fresh_connections

    with tempfile.TemporaryDirectory(prefix="idp-load-") as tmp:
        workdir = Path(tmp)
        server = serve(workdir, workdir / "certs", workdir / "data", workers=args.workers)
        try:
            pids = tree_pids(server.process.pid)
            print(f"{utc_now()}  idp serve --workers {args.workers} at {server.url} "
                  f"(pids {pids}); {args.concurrency} threads, "
                  f"{'keep-alive' if keepalive else 'fresh connections'}", flush=True)
            warm = run_load(server.url, seconds=args.warmup, concurrency=args.concurrency,
                            keepalive=keepalive)
            rss_start = rss_bytes(pids)
            print(f"warm-up {args.warmup:.0f} s: {sum(warm.statuses.values())} requests, "
                  f"{warm.server_errors} 5xx; RSS {rss_start / MB:.1f} MiB", flush=True)

            result: dict[str, LoadStats] = {}

            def drive() -> None:
                result["stats"] = run_load(server.url, seconds=args.seconds,
                                           concurrency=args.concurrency, keepalive=keepalive)

            started = time.monotonic()
            thread = threading.Thread(target=drive, name="load", daemon=True)
            thread.start()
            samples = []
            limit = started + args.seconds + 120  # run_load itself ends by seconds + one op
            while thread.is_alive() and time.monotonic() < limit:
                thread.join(timeout=args.sample_every)
                samples.append(rss_bytes(pids))
            elapsed = time.monotonic() - started
            rss_end = rss_bytes(pids)
            stats = result.get("stats")
            if stats is None:
                print("the load thread did not finish in time", file=sys.stderr)
                return 1
            print(f"\nmeasured run: {elapsed:.1f} s\n{report(stats, elapsed)}")
            for sample in stats.samples:
                print(f"  e.g. {sample}")
            print(f"RSS (all server processes): start {rss_start / MB:.1f} MiB, "
                  f"end {rss_end / MB:.1f} MiB, samples "
                  + ", ".join(f"{s / MB:.1f}" for s in samples))
            alive = tree_pids(server.process.pid) == pids
            print(f"server processes unchanged: {alive}")
        finally:
            code = shutdown(server)
            print(f"idp serve exit status after Ctrl-C: {code}")
            log = server.output()
            if "Traceback" in log:
                print("server log has a traceback:\n" + log[-4000:], file=sys.stderr)
    ok = (stats.server_errors == 0 and not stats.errors and not warm.errors and alive
          and code == 0 and "Traceback" not in log)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
