"""``python -m benchmarks``: the IdP simulator against baselines, interleaved A/B, one table.

Every figure is a median over ``--rounds`` rounds in which the product (A) and its baseline
(B) alternate, the side that goes first swapping each round, so the noise of a shared machine
lands on both alike (within a round too: in-process rows alternate in chunks of 10 calls, wrk
rows in 1 s bursts; the ratio column shows the spread of the per-round ratios). The ratio column is
oriented so that > 1 means the product is better (faster, more requests per second, less
memory). Rows (``--only`` names):

mint      in-process: ``IdentityProvider.respond()`` (build + sign + encode one AWS Response,
          key loaded once) vs a raw RSA-2048 PKCS#1 v1.5 SHA-256 signature of 32 bytes with
          ``cryptography``. Target ≥ 0.75x.
verify    in-process: ``idp.saml.validation.verify_response`` (the SP-side pipeline STS and
          the console run) vs signxml ``XMLVerifier().verify(bytes, x509_cert=...)`` on the
          same Response bytes. Target ≥ 4x.
sso       HTTP: ``GET /idp/init`` for a logged-in user (session cookie from a real login),
          ``idp serve`` with 1 worker, driven by wrk with keep-alive, vs
          ``benchmarks/reference_app.py`` (bare Starlette + uvicorn, builds and signs one
          assertion with signxml per GET). Target ≥ 1.0x.
sts       HTTP: ``POST /aws/sts`` AssumeRoleWithSAML with one valid assertion (the default
          replay mode ``aws`` lets STS accept it again while valid) vs the reference app's
          signxml verification. Report only.
console   HTTP: ``POST /aws/saml`` (303 to the console) on a server started with
          ``--replay-protection off``, so one assertion can be posted repeatedly, vs the
          reference app's signxml verification. Report only.
workers   HTTP: the sso row at ``--workers 2`` vs ``--workers 1``. Report only.
startup   process start to first ``GET /healthz`` 200 (idp serve vs the reference app; keys
          already in each fresh --certs-dir), target ≤ 0.5 s; and ``import idp.web.app`` vs
          ``import signxml, lxml.etree, starlette.applications`` in fresh interpreters,
          target product ≤ 1.2x baseline time (ratio ≥ 0.83x).
rss       VmRSS of the idle worker (vs the reference app's), and across ``--logins`` full
          browser logins over HTTP: start / peak / end; target ≤ 60 MiB and flat.
state     SSO + STS mix at ``--workers 2``: ``--state redis://...`` (a throw-away
          redis-server) vs the default SQLite state. Report only; "n/a" without --state.

Exit status 1 only when something broke (a server that did not start, an unexpected answer,
an exception), never because of a figure. ``--smoke`` runs every row once with tiny counts.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence

from benchmarks.processes import BenchmarkError
from benchmarks.rows import GROUPS, Context, Options
from benchmarks.table import RATIO_NOTE, Kind, Row, machine, render


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="rows: " + ", ".join(GROUPS))
    parser.add_argument("--rounds", type=int, default=None, help="A/B rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="wrk seconds per measurement (default 3)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="in-process calls per round (default 500)")
    parser.add_argument("--logins", type=int, default=None,
                        help="logins for the RSS row (default 10000)")
    parser.add_argument("--connections", type=int, default=8,
                        help="wrk connections (default 8)")
    parser.add_argument("--only", default="", help="comma-separated rows: " + ",".join(GROUPS))
    parser.add_argument("--smoke", action="store_true",
                        help="one round with tiny counts: every row end to end, quickly")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if args.rounds is not None and not 1 <= args.rounds <= 100:
        parser.error("--rounds must be in 1..100")
    if args.seconds is not None and not 1 <= args.seconds <= 600:
        parser.error("--seconds must be in 1..600")
    if args.logins is not None and not 1 <= args.logins <= 1_000_000:
        parser.error("--logins must be in 1..1000000")
    if args.iterations is not None and not 1 <= args.iterations <= 100_000:
        parser.error("--iterations must be in 1..100000")
    if not 1 <= args.connections <= 256:
        parser.error("--connections must be in 1..256")
    unknown = [name for name in args.only.split(",") if name and name not in GROUPS]
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)} (rows: {', '.join(GROUPS)})")
    return args


def options(args: argparse.Namespace) -> Options:
    smoke = bool(args.smoke)
    return Options(
        rounds=args.rounds or (1 if smoke else 5),
        seconds=args.seconds or (1.0 if smoke else 3.0),
        iterations=args.iterations or (20 if smoke else 500),
        logins=args.logins or (50 if smoke else 10_000),
        warmup=not smoke,
        connections=args.connections,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    opts = options(args)
    chosen = [name for name in args.only.split(",") if name] or list(GROUPS)
    print(machine())
    print(f"run: {opts.rounds} rounds, A/B interleaved (order alternates each round); "
          f"wrk {opts.seconds:g} s x {opts.connections} connections; {opts.iterations} "
          f"in-process calls per round; {opts.logins} logins{' (smoke)' if args.smoke else ''}",
          flush=True)
    began = time.monotonic()
    rows: list[Row] = []
    ctx = Context(opts)
    try:
        run(ctx, chosen, rows)
    except KeyboardInterrupt:
        print("\ninterrupted: the servers are stopped", file=sys.stderr, flush=True)
        return 130
    finally:
        ctx.close()
    for problem in ctx.problems:
        print(f"\nSERVER PROBLEM: {problem}", file=sys.stderr)
    broken = bool(ctx.problems) or any(row.error is not None for row in rows)
    print(f"\nTotal {time.monotonic() - began:.0f} s. Ratios: {RATIO_NOTE}; medians over "
          f"{opts.rounds} round(s).\n")
    print(render(rows, markdown=args.markdown))
    if ctx.problems:
        print(f"\n{len(ctx.problems)} server(s) did not stop cleanly (details on stderr)")
    return 1 if broken else 0


def run(ctx: Context, chosen: Sequence[str], rows: list[Row]) -> None:
    """Each chosen group in table order; a group that fails becomes an ERROR row."""
    for name in GROUPS:
        if name not in chosen:
            continue
        started = time.monotonic()
        print(f"... {name}", end="", flush=True)
        try:
            found = GROUPS[name](ctx)
        except (BenchmarkError, Exception) as exc:
            detail = "".join(traceback.format_exception_only(exc)).strip()
            print(f" ERROR\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            found = [Row(name, f"{name}: (failed)", Kind.SECONDS,
                         error=detail.replace("\n", " "))]
        rows.extend(found)
        print(f" {time.monotonic() - started:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
