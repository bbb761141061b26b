"""The rows: each runs interleaved A/B rounds (A = the product, B = its baseline) and fills
``Row`` samples. Which side goes first alternates round by round, so drift and noise from the
shared machine hit both alike.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks.processes import (
    REPO,
    BenchmarkError,
    Browser,
    Process,
    WrkRequest,
    idp_command,
    rss_mib,
    start_idp,
    start_redis,
    start_reference,
    worker_pids,
    wrk,
)
from benchmarks.reference_app import ensure_keys
from benchmarks.table import Kind, Row

#: The demo user every HTTP row signs in as, and the role AWS's attribute gives him.
USER: Final = "bob"
PASSWORD: Final = "bob-password"
ROLE: Final = "arn:aws:iam::111122223333:role/ReadOnly"
PROVIDER: Final = "arn:aws:iam::111122223333:saml-provider/CorpIdP"
SSO_NEEDLE: Final = 'name="SAMLResponse"'
STS_NEEDLE: Final = "AssumeRoleWithSAMLResult"
RSS_GROWTH_MAX: Final = 5.0  # MiB: what "flat" allows between the start and end of the logins


@dataclass
class Options:
    rounds: int
    seconds: float  # each wrk measurement
    iterations: int  # in-process calls per round
    logins: int
    warmup: bool
    connections: int = 8


def ordered(round_no: int) -> tuple[bool, bool]:
    """(A first?, ...) — A first on even rounds, B first on odd ones."""
    return (True, False) if round_no % 2 == 0 else (False, True)


@dataclass
class Context:
    """Servers shared by rows (started on first use, all stopped by ``close``)."""

    options: Options
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    servers: dict[str, Process] = field(default_factory=dict)
    browsers: dict[str, Browser] = field(default_factory=dict)
    startup: dict[str, list[float]] | None = None
    #: What broke in servers when they were stopped (bad exit status, a traceback).
    problems: list[str] = field(default_factory=list)
    _templates: Path | None = None

    def close(self) -> None:
        for browser in self.browsers.values():
            browser.close()
        self.stack.close()

    def stop(self, server: Process) -> None:
        """Stop ``server``, noting it if it did not stop cleanly."""
        problem = server.problem(server.stop())
        if problem is not None:
            self.problems.append(problem)

    def templates(self) -> Path:
        """A folder with keys made once (``idp`` certs, ``reference`` certs) to copy from."""
        if self._templates is None:
            folder = Path(tempfile.mkdtemp(prefix="bench-templates-"))
            self.stack.callback(lambda: shutil.rmtree(folder, ignore_errors=True))
            ensure_keys(folder / "reference")
            first = start_idp(name="idp-keys")
            try:
                shutil.copytree(first.folder / "certs", folder / "idp")
            finally:
                self.stop(first)
            self._templates = folder
        return self._templates

    def server(self, key: str) -> Process:
        """``idp1``, ``idp2``, ``idp-replay-off``, ``idp2-redis``, ``reference``."""
        if key not in self.servers:
            certs = self.templates()
            if key == "reference":
                server = start_reference(certs_from=certs / "reference")
            elif key == "idp2-redis":
                redis = start_redis()
                self.stack.callback(self.stop, redis)
                server = start_idp(workers=2, certs_from=certs / "idp", name=key, extra=(
                    "--state", f"redis://127.0.0.1:{redis.port}/0"))
            else:
                workers = 2 if key.startswith("idp2") else 1
                extra = ("--replay-protection", "off") if key == "idp-replay-off" else ()
                server = start_idp(workers=workers, certs_from=certs / "idp", name=key,
                                   extra=extra)
            self.stack.callback(self.stop, server)
            self.servers[key] = server
        return self.servers[key]

    def browser(self, key: str) -> Browser:
        """A browser logged in as bob at server ``key`` (the IdP session cookie set)."""
        if key not in self.browsers:
            browser = Browser(self.server(key).port)
            browser.login(USER, PASSWORD)
            self.browsers[key] = browser
        return self.browsers[key]


# --- 1, 2: in-process -------------------------------------------------------------------------

def _per_call(fn: Callable[[], object], iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations


#: In-process rounds alternate A and B in chunks of this many calls, so a burst of load from
#: elsewhere on the machine lands on both sides of a round alike.
CHUNK: Final = 10


def _ab_calls(row: Row, a: Callable[[], object], b: Callable[[], object],
              options: Options) -> None:
    a(), b()  # warm up (and fail early)
    for round_no in range(options.rounds):
        spent = {True: 0.0, False: 0.0}
        calls = 0
        while calls < options.iterations:
            n = min(CHUNK, options.iterations - calls)
            for first in ordered(round_no + calls // CHUNK):
                spent[first] += _per_call(a if first else b, n) * n
            calls += n
        row.a.append(spent[True] / calls)
        row.b.append(spent[False] / calls)


@dataclass
class _InProcess:
    respond: Callable[[], str]
    raw_sign: Callable[[], bytes]
    response_xml: bytes
    verify: Callable[[bytes], object]
    signxml_verify: Callable[[bytes], object]


def _in_process(folder: Path) -> _InProcess:
    """The IdP as the SSO path uses it (key loaded once), and the SP side's verifier."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from signxml import XMLVerifier  # type: ignore[attr-defined]

    from idp.authn.login import new_principal
    from idp.clock import SystemClock
    from idp.directory import demo_directory
    from idp.keys import KeyStore
    from idp.saml.validation import TrustedIssuer, ValidationPolicy, verify_response
    from idp.settings import Settings
    from idp.sso import IdentityProvider

    clock = SystemClock()
    certs = folder / "certs"
    settings = Settings(certs_dir=certs)
    pair = KeyStore(certs).ensure(settings.entity_id)
    directory = demo_directory(aws_acs=settings.console_acs_url)
    idp = IdentityProvider(settings, directory, (pair,), clock)
    user = directory.user("alice")
    if user is None:
        raise BenchmarkError("the demo directory has no alice")
    pending, _ = idp.idp_initiated(None, None)
    principal = new_principal(user, mfa=False, clock=clock)

    def respond() -> str:
        return idp.respond(pending, principal).saml_value

    key = serialization.load_pem_private_key((certs / "signing.key").read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BenchmarkError("the signing key is not RSA")
    message = bytes(range(32))

    def raw_sign() -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    trust = TrustedIssuer(settings.entity_id, (pair.cert_pem,))
    recipients = frozenset({settings.console_acs_url})
    audiences = frozenset({"urn:amazon:webservices"})

    def verify(xml: bytes) -> object:
        policy = ValidationPolicy(now=clock.now(), accepted_recipients=recipients,
                                  accepted_audiences=audiences)
        return verify_response(xml, trust=trust, policy=policy)

    cert = x509.load_pem_x509_certificate(pair.cert_pem.encode("ascii"))

    def signxml_verify(xml: bytes) -> object:
        return XMLVerifier().verify(xml, x509_cert=cert)

    return _InProcess(respond, raw_sign, base64.b64decode(respond()), verify, signxml_verify)


def mint(ctx: Context) -> list[Row]:
    row = Row("mint", "mint: respond() vs raw RSA sign", Kind.SECONDS,
              detail="in-process build + sign + encode of one AWS SAML Response "
              "(IdentityProvider.respond, key loaded once) vs an RSA-2048 PKCS#1 v1.5 "
              "SHA-256 signature of 32 bytes with cryptography; time per call",
              target="≥ 0.75x", ratio_bounds=(0.75, float("inf")))
    with tempfile.TemporaryDirectory(prefix="bench-mint-") as tmp:
        work = _in_process(Path(tmp))
        _ab_calls(row, work.respond, work.raw_sign, ctx.options)
    return [row]


def verify(ctx: Context) -> list[Row]:
    row = Row("verify", "verify: verify_response() vs signxml", Kind.SECONDS,
              detail="in-process idp.saml.validation.verify_response (the SP-side pipeline "
              "STS and the console run) on one genuine Response vs signxml "
              "XMLVerifier().verify(bytes, x509_cert=...) on the same bytes; time per call",
              target="≥ 4x", ratio_bounds=(4.0, float("inf")))
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = _in_process(Path(tmp))
        xml = work.response_xml
        _ab_calls(row, lambda: work.verify(xml), lambda: work.signxml_verify(xml), ctx.options)
    return [row]


# --- 3, 4, 5, 6, 9: HTTP with wrk -------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """What wrk sends to one server and what every answer must be."""

    url: str
    requests: tuple[WrkRequest, ...]
    status: int = 200
    needles: tuple[str, ...] = ("",)


def _form(**values: str) -> str:
    return urllib.parse.urlencode(values)


_FORM: Final = {"Content-Type": "application/x-www-form-urlencoded"}


def _sts_body(assertion: str) -> str:
    return _form(Action="AssumeRoleWithSAML", Version="2011-06-15", RoleArn=ROLE,
                 PrincipalArn=PROVIDER, SAMLAssertion=assertion)


def sso_load(ctx: Context, key: str) -> Load:
    browser = ctx.browser(key)
    browser.sso()  # the cookie still signs in
    request = WrkRequest("GET", "/idp/init", {"Cookie": browser.cookie_header()})
    return Load(ctx.server(key).url, (request,), 200, (SSO_NEEDLE,))


def reference_sso_load(ctx: Context) -> Load:
    return Load(ctx.server("reference").url, (WrkRequest("GET", "/sso"),), 200, (SSO_NEEDLE,))


def _reference_assertion(ctx: Context) -> str:
    browser = Browser(ctx.server("reference").port)
    try:
        return browser.sso("/sso")
    finally:
        browser.close()


def sts_load(ctx: Context, key: str) -> Load:
    # A fresh assertion each round: STS accepts one only within 5 minutes of its IssueInstant.
    # In the default replay mode (aws) STS accepts the same valid assertion again
    # (idp/aws/replay.py), so one fixed body per round is what a CLI re-using it sends.
    body = _sts_body(ctx.browser(key).sso())
    return Load(ctx.server(key).url, (WrkRequest("POST", "/aws/sts", _FORM, body),), 200,
                (STS_NEEDLE,))


def reference_sts_load(ctx: Context) -> Load:
    body = _sts_body(_reference_assertion(ctx))
    return Load(ctx.server("reference").url, (WrkRequest("POST", "/sts", _FORM, body),), 200,
                (STS_NEEDLE,))


def console_load(ctx: Context) -> Load:
    # The console redeems an assertion once in the default replay mode (idp/aws/replay.py):
    # this server runs with --replay-protection off, so one body can be posted again and again.
    key = "idp-replay-off"
    body = _form(SAMLResponse=ctx.browser(key).sso(), RelayState="", roleIndex=ROLE)
    return Load(ctx.server(key).url, (WrkRequest("POST", "/aws/saml", _FORM, body),), 303)


def reference_console_load(ctx: Context) -> Load:
    body = _form(SAMLResponse=_reference_assertion(ctx), RelayState="")
    return Load(ctx.server("reference").url, (WrkRequest("POST", "/saml", _FORM, body),), 303)


def mix_load(ctx: Context, key: str) -> Load:
    sso = sso_load(ctx, key)
    body = _sts_body(ctx.browser(key).sso())
    return Load(sso.url, (*sso.requests, WrkRequest("POST", "/aws/sts", _FORM, body)), 200,
                (SSO_NEEDLE, STS_NEEDLE))


def _drive(ctx: Context, load: Load, seconds: float) -> float:
    result = wrk(load.url, load.requests, seconds=seconds, status=load.status,
                 needles=load.needles, connections=ctx.options.connections)
    return result.rate


#: Seconds of one wrk burst: a round is ``--seconds`` of each side in bursts this long, A and B
#: alternating, so a burst of load from elsewhere on the machine lands on both alike.
SLICE: Final = 1.0


def _ab_wrk(ctx: Context, row: Row, a: Callable[[], Load], b: Callable[[], Load]) -> None:
    options = ctx.options
    if options.warmup:
        _drive(ctx, a(), SLICE)
        _drive(ctx, b(), SLICE)
    slices = max(1, round(options.seconds / SLICE))
    for round_no in range(options.rounds):
        rates: dict[bool, list[float]] = {True: [], False: []}
        for part in range(slices):
            for first in ordered(round_no + part):
                load = a() if first else b()
                rates[first].append(_drive(ctx, load, options.seconds / slices))
        row.a.append(statistics.fmean(rates[True]))
        row.b.append(statistics.fmean(rates[False]))


def _wrk_note(ctx: Context) -> str:
    return (f"wrk -t1 -c{ctx.options.connections}, keep-alive, {ctx.options.seconds:g} s per "
            f"side per round in alternating {SLICE:g} s bursts")


def sso(ctx: Context) -> list[Row]:
    row = Row("sso", "sso: GET /idp/init, 1 worker vs reference", Kind.RATE,
              detail="HTTP IdP-initiated SSO for a logged-in user (session cookie from a real "
              "login), idp serve --workers 1, vs benchmarks/reference_app.py GET /sso "
              "(build + signxml-sign one assertion per request, auto-POST page)",
              target="≥ 1.0x", ratio_bounds=(1.0, float("inf")), note=_wrk_note(ctx))
    _ab_wrk(ctx, row, lambda: sso_load(ctx, "idp1"), lambda: reference_sso_load(ctx))
    return [row]


def sts(ctx: Context) -> list[Row]:
    row = Row("sts", "sts: AssumeRoleWithSAML vs reference", Kind.RATE,
              detail="POST /aws/sts AssumeRoleWithSAML, 1 worker, one valid assertion per "
              "round (the default replay mode aws lets STS accept it again while valid) vs "
              "the reference app's POST /sts (signxml verify + an STS-shaped XML answer)",
              note=_wrk_note(ctx))
    _ab_wrk(ctx, row, lambda: sts_load(ctx, "idp1"), lambda: reference_sts_load(ctx))
    return [row]


#: The demo's web identity role (its trust names this subject and audience) and the answer.
WEB_ROLE: Final = "arn:aws:iam::444455556666:role/CiDeploy"
WEB_SUBJECT: Final = "system:serviceaccount:prod:deployer"
WEB_NEEDLE: Final = "AssumeRoleWithWebIdentityResult"
_web_bodies: dict[str, str] = {}


def web_identity_load(ctx: Context, key: str) -> Load:
    """``AssumeRoleWithWebIdentity`` with one token of a day, made by ``idp token`` with the
    server's own certs and base URL (what a CI job's token file holds)."""
    server = ctx.server(key)
    if server.url not in _web_bodies:
        made = subprocess.run(
            idp_command("token", "--sub", WEB_SUBJECT, "--aud", "sts.amazonaws.com",
                        "--ttl", "86400", "--certs-dir", str(server.folder / "certs"),
                        "--base-url", server.url),
            capture_output=True, text=True, timeout=60, check=False)
        if made.returncode != 0:
            raise BenchmarkError(f"idp token failed: {made.stderr.strip()}")
        _web_bodies[server.url] = _form(
            Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleArn=WEB_ROLE,
            RoleSessionName="bench", WebIdentityToken=made.stdout.strip())
    return Load(server.url, (WrkRequest("POST", "/aws/sts", _FORM, _web_bodies[server.url]),),
                200, (WEB_NEEDLE,))


def web_identity(ctx: Context) -> list[Row]:
    row = Row("web-identity", "web-identity: AssumeRoleWithWebIdentity vs WithSAML",
              Kind.RATE,
              detail="POST /aws/sts AssumeRoleWithWebIdentity (an RS256 token of the "
              "simulator's own issuer: JWS checks, IAM OIDC provider, trust policy, "
              "credentials) vs AssumeRoleWithSAML on the same server, 1 worker",
              note=_wrk_note(ctx))
    _ab_wrk(ctx, row, lambda: web_identity_load(ctx, "idp1"), lambda: sts_load(ctx, "idp1"))
    return [row]


def console(ctx: Context) -> list[Row]:
    row = Row("console", "console: POST /aws/saml vs reference", Kind.RATE,
              detail="POST /aws/saml -> 303 to the console, 1 worker, on idp serve "
              "--replay-protection off so one assertion can be posted again and again, vs "
              "the reference app's POST /saml (signxml verify -> 303)", note=_wrk_note(ctx))
    _ab_wrk(ctx, row, lambda: console_load(ctx), lambda: reference_console_load(ctx))
    return [row]


def workers(ctx: Context) -> list[Row]:
    row = Row("workers", "workers: sso at 2 workers vs 1", Kind.RATE,
              detail="the sso row at idp serve --workers 2 (product column) vs --workers 1 "
              "(baseline column), same wrk settings", note=_wrk_note(ctx))
    _ab_wrk(ctx, row, lambda: sso_load(ctx, "idp2"), lambda: sso_load(ctx, "idp1"))
    return [row]


def state_flag_available() -> bool:
    try:
        done = subprocess.run(idp_command("serve", "--help"), capture_output=True, text=True,
                              timeout=60, check=False, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--state" in done.stdout


def state(ctx: Context) -> list[Row]:
    row = Row("state", "state: Redis vs SQLite, 2 workers", Kind.RATE,
              detail="SSO + STS requests alternating, idp serve --workers 2 --state "
              "redis://127.0.0.1:PORT/0 on a throw-away redis-server (product column) vs "
              "the default SQLite state (baseline column)", note=_wrk_note(ctx))
    if not state_flag_available():
        row.unavailable = "n/a: --state not available"
        return [row]
    _ab_wrk(ctx, row, lambda: mix_load(ctx, "idp2-redis"), lambda: mix_load(ctx, "idp2"))
    return [row]


# --- 7: start-up and import -------------------------------------------------------------------

_IMPORT: Final = ("import time; t = time.perf_counter(); import {modules}; "
                  "print(time.perf_counter() - t)")


def _import_seconds(modules: str) -> float:
    done = subprocess.run([sys.executable, "-c", _IMPORT.format(modules=modules)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    if done.returncode != 0:
        raise BenchmarkError(f"import {modules} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _settled_rss(pid: int) -> float:
    time.sleep(0.3)
    return rss_mib(pid)


def startup_rounds(ctx: Context) -> dict[str, list[float]]:
    """Fresh processes, round by round: idp serve and the reference app, each from spawn to
    its first ``GET /healthz`` 200, then the idle worker's RSS; keys are copied into each fresh
    ``--certs-dir`` (as on any start after the first), the data folder is new."""
    if ctx.startup is None:
        certs = ctx.templates()
        found: dict[str, list[float]] = {"idp": [], "reference": [], "idp_rss": [],
                                         "reference_rss": []}
        for round_no in range(ctx.options.rounds):
            for first in ordered(round_no):
                if first:
                    server = start_idp(certs_from=certs / "idp", name="idp-start")
                    key = "idp"
                else:
                    server = start_reference(certs_from=certs / "reference")
                    key = "reference"
                try:
                    found[key].append(server.ready_after)
                    found[f"{key}_rss"].append(_settled_rss(server.pid))
                finally:
                    ctx.stop(server)
        ctx.startup = found
    return ctx.startup


def startup(ctx: Context) -> list[Row]:
    found = startup_rounds(ctx)
    start = Row("startup", "startup: spawn to /healthz 200 vs reference", Kind.SECONDS,
                detail="process start to the first GET /healthz 200, idp serve vs the "
                "reference app on uvicorn; fresh --certs-dir/--data-dir each round, keys "
                "copied in (as on any start after the first)",
                target="product ≤ 0.50 s", product_max=0.5,
                a=found["idp"], b=found["reference"])
    imports = Row("import", "import: idp.web.app vs libraries", Kind.SECONDS,
                  detail="import idp.web.app vs import signxml, lxml.etree, "
                  "starlette.applications, each timed inside a fresh interpreter",
                  target="≥ 0.83x (product time ≤ 1.2x baseline)",
                  ratio_bounds=(1 / 1.2, float("inf")))
    for round_no in range(ctx.options.rounds):
        for first in ordered(round_no):
            if first:
                imports.a.append(_import_seconds("idp.web.app"))
            else:
                imports.b.append(_import_seconds("signxml, lxml.etree, starlette.applications"))
    return [start, imports]


# --- 8: memory --------------------------------------------------------------------------------

def _logins(port: int, count: int, threads: int = 2) -> None:
    """``count`` full browser logins (fresh cookies each, keep-alive connection per thread)."""
    errors: list[BaseException] = []
    share = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def run(n: int) -> None:
        browser = Browser(port)
        try:
            for _ in range(n):
                if errors:
                    return
                browser.cookies.clear()
                browser.login(USER, PASSWORD)
        except BaseException as exc:
            errors.append(exc)
        finally:
            browser.close()

    pool = [threading.Thread(target=run, args=(n,), daemon=True) for n in share]
    for thread in pool:
        thread.start()
    deadline = time.monotonic() + 60 + count * 0.5
    for thread in pool:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in pool):
        errors.append(BenchmarkError("the logins did not finish in time"))
        raise errors[0]
    if errors:
        raise errors[0]


def rss(ctx: Context) -> list[Row]:
    found = startup_rounds(ctx)
    idle = Row("rss-idle", "rss-idle: idle worker VmRSS vs reference", Kind.MIB,
               detail="VmRSS of the one worker of idp serve right after start-up (its first "
               "/healthz) vs the reference app's, from the startup rounds",
               target="product ≤ 60 MiB", product_max=60.0,
               a=found["idp_rss"], b=found["reference_rss"])
    count = ctx.options.logins
    logins = Row("rss-logins", f"rss-logins: VmRSS across {count} logins", Kind.MIB,
                 detail=f"VmRSS of the worker of idp serve --workers 1 across {count} full "
                 "browser logins over HTTP (GET /idp/init, login page, POST /idp/login, "
                 "auto-POST page; fresh cookies, 2 clients with keep-alive), sampled every "
                 "0.1 s; baseline: the reference app idle",
                 target=f"peak ≤ 60 MiB, end - start ≤ {RSS_GROWTH_MAX:g} MiB",
                 product_max=60.0, b=found["reference_rss"])
    server = start_idp(certs_from=ctx.templates() / "idp", name="idp-rss")
    try:
        pid = server.pid
        start = _settled_rss(pid)
        samples = [start]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                samples.append(rss_mib(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.perf_counter()
        first = min(100, max(1, count // 10))
        try:
            _logins(server.port, first)
            warm = rss_mib(pid)
            if count > first:
                _logins(server.port, count - first)
        finally:
            stop.set()
            sampler.join(timeout=5)
        elapsed = time.perf_counter() - began
        end = _settled_rss(pid)
        samples.append(end)
        if worker_pids(pid):
            raise BenchmarkError("idp serve --workers 1 has worker processes?")
    finally:
        ctx.stop(server)
    peak = max(samples)
    logins.a = [peak]
    logins.extra_met = end - start <= RSS_GROWTH_MAX
    logins.cells = {
        "product": f"peak {peak:.1f} MiB",
        "ranges": f"start {start:.1f}, after {first} logins {warm:.1f}, peak {peak:.1f}, "
                  f"end {end:.1f} MiB (end - start {end - start:+.1f}); "
                  f"{count / elapsed:.0f} logins/s",
    }
    median_ref = statistics.median(found["reference_rss"]) if found["reference_rss"] else None
    if median_ref:
        logins.cells["ratio"] = f"{median_ref / peak:.2f}x"
    return [idle, logins]


#: Row groups in table order: ``--only`` takes these names.
GROUPS: Final[dict[str, Callable[[Context], list[Row]]]] = {
    "mint": mint,
    "verify": verify,
    "sso": sso,
    "sts": sts,
    "web-identity": web_identity,
    "console": console,
    "workers": workers,
    "startup": startup,
    "rss": rss,
    "state": state,
}
#: The names rows print under (a group may print more than one).
ROW_NAMES: Final = ("mint", "verify", "sso", "sts", "web-identity", "console", "workers",
                    "startup", "import", "rss-idle", "rss-logins", "state")
