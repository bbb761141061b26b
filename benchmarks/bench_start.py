"""How long a test suite waits for a Simulator, against a bare server measured in the same run.

Run: .venv/bin/python benchmarks/bench_start.py [--rounds N]

Each round is a fresh Python process (nothing cached between rounds). Prints medians (ms):

- import:   ``from idp import Simulator`` (once per process; a test run pays it at the first
            fixture that needs a simulator);
- first:    ``Simulator().start()`` then the first ``GET /healthz`` answered, right after the
            import (what the plugin's session-wide ``saml_idp`` waits for, once);
- next:     another ``Simulator`` in the same process (what every ``saml_idp_factory`` call
            or marked test waits for);
- baseline: a bare Starlette app on uvicorn in a background thread, imported, started and
            answering its first request the same way (the floor for "a server in a thread").

and each against the baseline (import + start + first request).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_TIMED = r"""
import json, time, urllib.request
t0 = time.perf_counter()
{imports}
ti = time.perf_counter()
{setup}
t1 = time.perf_counter()
urllib.request.urlopen(url + "/healthz", timeout=10).read()
t2 = time.perf_counter()
{second}
print(json.dumps({{"import": ti - t0, "start": t1 - ti, "first": t2 - t1, "warm": warm}}))
{stop}
"""

SIMULATOR = _TIMED.format(
    imports="from idp import Simulator\nimport idp.simulator",
    setup="sim = Simulator().start()\nurl = sim.base_url",
    second=("t3 = time.perf_counter()\nother = Simulator().start()\n"
            "urllib.request.urlopen(other.base_url + '/healthz', timeout=10).read()\n"
            "warm = time.perf_counter() - t3\nother.close()"),
    stop="sim.close()",
)

BASELINE = _TIMED.format(
    imports="""
import socket, threading
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route""",
    setup="""
async def ok(request):
    return PlainTextResponse("ok")
app = Starlette(routes=[Route("/healthz", ok)])
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(128)
server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
while not server.started:
    time.sleep(0.002)
url = "http://127.0.0.1:%d" % sock.getsockname()[1]""",
    second="warm = 0.0",
    stop="server.should_exit = True",
)


def measure(code: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    values: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    sim, base = [], []
    for _ in range(rounds):  # interleaved, so machine noise hits both alike
        sim.append(measure(SIMULATOR))
        base.append(measure(BASELINE))

    def med(samples: list[dict[str, float]], *keys: str) -> float:
        return statistics.median(sum(s[k] for k in keys) for s in samples) * 1000

    imported, first, warm = med(sim, "import"), med(sim, "start", "first"), med(sim, "warm")
    floor = med(base, "import", "start", "first")
    print(f"rounds: {rounds}")
    for label, value in (("import", imported), ("first start + first request", first),
                         ("next start + first request", warm),
                         ("cold total (import + first)", imported + first)):
        print(f"{label:30s} {value:6.1f} ms  {value / floor:4.2f}x baseline")
    print(f"{'baseline (bare server thread)':30s} {floor:6.1f} ms")


if __name__ == "__main__":
    main()
