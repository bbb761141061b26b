"""Real third-party SAML-to-AWS command-line tools, run the way their users run them.

Installing: each tool lives in its own virtualenv, ``<repo>/.tools/<tool>/`` (ignored by git),
made with ``python -m venv`` and ``pip install`` of a pinned spec from the package registry. A
marker file records the spec and interpreter it was built for; a venv whose marker matches is
reused, anything else is rebuilt from scratch. The first request for any tool builds every tool
that is not ready yet, in parallel (CI starts from a clean machine; pip mostly waits on the
network). A file lock per tool keeps two pytest processes from building the same venv at once.
An install that fails is never a skip: ``tool_bin`` fails the calling test with the tool's name,
its spec and the tail of pip's output.

Serving: ``running_tool_server`` starts ``idp serve`` as a user would, with TLS, the loopback
CONNECT proxy for ``signin.aws.amazon.com`` and the vendor-compatible surfaces (Okta, AD FS,
Shibboleth, ECP).

Running: ``ToolEnv.run`` gives the tool its own ``$HOME`` and environment, its password/TOTP on
stdin, no controlling terminal (``start_new_session=True``: getpass and ``/dev/tty`` writers
fall back to stdin/stdout), and a timeout. ``assert_identity`` checks what the tool produced
with ``GetCallerIdentity`` at the simulator's STS.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest

from tests.support.server import free_port, healthy, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_ROOT = REPO_ROOT / ".tools"
MARKER = ".idp-tool-spec.json"

#: One ``pip install`` (a venv's whole dependency tree) may take this long before it is killed.
INSTALL_TIMEOUT = 900.0
#: Parallel builds: pip mostly waits on the network; the machine has 2 cores.
BUILD_WORKERS = 5
#: How many characters of pip's output a failure shows.
FAILURE_TAIL = 4000


@dataclass(frozen=True)
class ToolSpec:
    """``requirements`` go to one ``pip install``; ``executables`` must exist afterwards."""

    name: str
    requirements: tuple[str, ...]
    executables: tuple[str, ...]


#: Pinned to the releases whose source the tests' comments cite. Extra requirements are the
#: constraints these releases need to install or run on a clean machine with Python 3.11.
TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        # aws-adfs 2.13.0 requires lxml>=4.9,<6 (its METADATA; repeated so the resolved 5.x is
        # visible here). Its requests-kerberos -> pyspnego[kerberos] -> gssapi and krb5 have no
        # Linux wheels: pip compiles them, which needs krb5-config (Debian: libkrb5-dev).
        ToolSpec("aws-adfs", ("aws-adfs==2.13.0", "lxml<6"), ("aws-adfs",)),
        ToolSpec("awsprocesscreds", ("awsprocesscreds==0.0.2",), ("awsprocesscreds-saml",)),
        ToolSpec("gimme-aws-creds", ("gimme-aws-creds==2.8.2",), ("gimme-aws-creds",)),
        ToolSpec("okta-awscli", ("okta-awscli==0.5.5",), ("okta-awscli",)),
        ToolSpec("aws-okta-processor", ("aws-okta-processor==1.10.0",),
                 ("aws-okta-processor",)),
        ToolSpec("alohomora", ("alohomora==3.2.1",), ("alohomora",)),
        # mai keeps the password in a keyring; keyrings.alt gives a file backend that needs no
        # desktop session (selected with PYTHON_KEYRING_BACKEND).
        ToolSpec("mai", ("stups-mai==1.0.10", "aws-saml-login==1.0.11", "keyrings.alt==5.0.2"),
                 ("mai",)),
        # awscli-login is an AWS CLI v1 plugin ("aws login"); its credential_process is
        # "aws-login". It needs an awscli v1 in the same venv.
        ToolSpec("awscli-login", ("awscli-login==1.0", "awscli==1.46.3"), ("aws", "aws-login")),
        ToolSpec("samlkeygen", ("samlkeygen==1.4.1",), ("samlkeygen",)),
    )
}


class ToolInstallError(Exception):
    def __init__(self, tool: str, spec: tuple[str, ...], detail: str) -> None:
        self.tool = tool
        self.spec = spec
        self.detail = detail
        super().__init__(f"{tool} ({' '.join(spec)}) could not be installed:\n{detail}")


@dataclass(frozen=True)
class Installed:
    tool: str
    venv: Path
    seconds: float  # 0 when an existing venv was reused
    reused: bool


def venv_dir(tool: str) -> Path:
    return TOOLS_ROOT / tool


def _wanted_marker(spec: ToolSpec) -> dict[str, object]:
    return {
        "tool": spec.name,
        "requirements": list(spec.requirements),
        "python": sys.version,
        "base_prefix": sys.base_prefix,
    }


def _complete(spec: ToolSpec) -> bool:
    venv = venv_dir(spec.name)
    try:
        recorded = json.loads((venv / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if recorded != _wanted_marker(spec):
        return False
    return all((venv / "bin" / exe).exists() for exe in spec.executables)


@contextlib.contextmanager
def _locked(tool: str) -> Iterator[None]:
    TOOLS_ROOT.mkdir(parents=True, exist_ok=True)
    with (TOOLS_ROOT / f".{tool}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PIP_REQUIRE"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run_bounded(argv: list[str], log: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``argv`` (output appended to ``log``); kill its whole process group on timeout."""
    with log.open("ab") as sink:
        sink.write(f"$ {' '.join(argv)}\n".encode())
        sink.flush()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, env=_install_env(),
                                   start_new_session=True, cwd=TOOLS_ROOT)
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    return code, log.read_text(encoding="utf-8", errors="replace")


#: Build failures whose cure is a Debian package (the tools' sdists that compile C code).
_DEBIAN_HINTS = {
    "krb5-config": "libkrb5-dev (gssapi/krb5, needed by aws-adfs's requests-kerberos)",
}


def _tail(text: str) -> str:
    tail = text if len(text) <= FAILURE_TAIL else "…" + text[-FAILURE_TAIL:]
    hints = [package for needle, package in _DEBIAN_HINTS.items() if needle in text]
    return tail + "".join(f"\nhint: apt-get install {package}" for package in hints)


def build(spec: ToolSpec, timeout: float = INSTALL_TIMEOUT) -> Installed:
    """Make ``.tools/<tool>`` match ``spec`` (reuse it if it already does)."""
    venv = venv_dir(spec.name)
    with _locked(spec.name):
        if _complete(spec):
            return Installed(spec.name, venv, 0.0, reused=True)
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        log = TOOLS_ROOT / f"{spec.name}.install.log"
        log.unlink(missing_ok=True)
        code, output = _run_bounded([sys.executable, "-m", "venv", str(venv)], log, 120.0)
        if code != 0:
            raise ToolInstallError(spec.name, spec.requirements,
                                   f"python -m venv exited {code}:\n{_tail(output)}")
        remaining = max(30.0, timeout - (time.monotonic() - started))
        code, output = _run_bounded(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
             *spec.requirements], log, remaining)
        if code is None:
            raise ToolInstallError(spec.name, spec.requirements,
                                   f"pip install timed out after {timeout:.0f} s:\n"
                                   f"{_tail(output)}")
        if code != 0:
            raise ToolInstallError(spec.name, spec.requirements,
                                   f"pip install exited {code}:\n{_tail(output)}")
        missing = [exe for exe in spec.executables if not (venv / "bin" / exe).exists()]
        if missing:
            raise ToolInstallError(spec.name, spec.requirements,
                                   f"installed, but {missing} not in {venv / 'bin'}")
        (venv / MARKER).write_text(json.dumps(_wanted_marker(spec), indent=1),
                                   encoding="utf-8")
        return Installed(spec.name, venv, time.monotonic() - started, reused=False)


_results: dict[str, Installed | ToolInstallError] = {}
_results_lock = threading.Lock()


def _build_safely(spec: ToolSpec) -> Installed | ToolInstallError:
    try:
        return build(spec)
    except ToolInstallError as error:
        return error
    except Exception as error:  # reported as this tool's install failure
        return ToolInstallError(spec.name, spec.requirements, f"{type(error).__name__}: {error}")


def ensure_all(tools: Mapping[str, ToolSpec] = TOOLS) -> dict[str, Installed | ToolInstallError]:
    """Build (in parallel) every tool not built yet in this process; the outcome of each."""
    with _results_lock:
        pending = [spec for name, spec in tools.items() if name not in _results]
        if pending:
            with ThreadPoolExecutor(max_workers=BUILD_WORKERS,
                                    thread_name_prefix="tool-venv") as pool:
                for spec, outcome in zip(pending, pool.map(_build_safely, pending),
                                         strict=True):
                    _results[spec.name] = outcome
        return {name: _results[name] for name in tools}


def installed(tool: str) -> Installed:
    """The tool's venv, built if needed; fails the calling test if it cannot be installed."""
    if tool not in TOOLS:
        raise KeyError(f"unknown tool {tool!r}; known: {sorted(TOOLS)}")
    outcome = ensure_all()[tool]
    if isinstance(outcome, ToolInstallError):
        pytest.fail(f"{outcome.tool} cannot be installed on this machine "
                    f"(pip install {' '.join(outcome.spec)}):\n{outcome.detail}",
                    pytrace=False)
    return outcome


def tool_bin(tool: str, executable: str) -> Path:
    """Path of ``executable`` in ``tool``'s venv (built first if needed)."""
    path = installed(tool).venv / "bin" / executable
    if not path.exists():
        pytest.fail(f"{tool}: {path} does not exist after install", pytrace=False)
    return path


# --- the demo directory (idp/directory/demo.yaml) --------------------------------------------

PROD = "111122223333"
DEV = "444455556666"
ADMIN = f"arn:aws:iam::{PROD}:role/Admin"
READONLY = f"arn:aws:iam::{PROD}:role/ReadOnly"
DEVELOPER = f"arn:aws:iam::{DEV}:role/Developer"
PROD_PROVIDER = f"arn:aws:iam::{PROD}:saml-provider/CorpIdP"
DEV_PROVIDER = f"arn:aws:iam::{DEV}:saml-provider/CorpIdP"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
CAROL_TOTP_SECRET = "MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB"
AWS_SP = "urn:amazon:webservices"
#: The app link of the Okta-compatible surface (Okta's "AWS Account Federation" app).
OKTA_APP_PATH = "/home/amazon_aws/0oaidpsimulatoraws01/272"
ADFS_PATH = f"/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp={AWS_SP}"
SHIBBOLETH_PATH = f"/idp/profile/SAML2/Unsolicited/SSO?providerId={AWS_SP}"
ECP_PATH = "/idp/profile/SAML2/SOAP/ECP"


def assumed_role_arn(role_arn: str, user: str) -> str:
    """GetCallerIdentity's Arn for ``user`` in ``role_arn`` (RoleSessionName is the email)."""
    account = role_arn.split(":")[4]
    role = role_arn.split(":role/")[1]
    return f"arn:aws:sts::{account}:assumed-role/{role}/{user}@corp.example"


def totp_now() -> str:
    """carol's current code (RFC 6238, what her authenticator app shows)."""
    return str(pyotp.TOTP(CAROL_TOTP_SECRET).now())


def totp_wrong() -> str:
    """A six-digit code that is not carol's for any step near now (server skew windows too)."""
    totp = pyotp.TOTP(CAROL_TOTP_SECRET)
    now = time.time()
    near = {totp.at(now + 30 * k) for k in range(-3, 4)}
    return next(code for code in ("000000", "111111", "123456", "999999", "424242")
                if code not in near)


# --- the server --------------------------------------------------------------------------------

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0


@dataclass(frozen=True)
class ToolServer:
    http_port: int
    tls_port: int
    proxy_port: int
    certs_dir: Path
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def tls_host(self) -> str:
        """``host:port`` of the TLS listener (what tools call the IdP "host")."""
        return f"127.0.0.1:{self.tls_port}"

    @property
    def https_url(self) -> str:
        return f"https://{self.tls_host}"

    @property
    def sts_url(self) -> str:
        return f"{self.http_url}/aws/sts"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def ca_file(self) -> Path:
        return self.certs_dir / "tls-ca.pem"

    @property
    def okta_app_url(self) -> str:
        return f"{self.https_url}{OKTA_APP_PATH}"

    @property
    def adfs_url(self) -> str:
        return f"{self.https_url}{ADFS_PATH}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _accepts(port: int) -> bool:
    """Something listens on ``127.0.0.1:port`` (the TLS listener and the proxy start beside
    the plain-HTTP one; a tool must not race them)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def demo_config_with_provider_first(path: Path) -> Path:
    """The demo directory, with the AWS SP sending Role values as ``provider-arn,role-arn``
    (the order aws-okta-processor and samlkeygen parse)."""
    demo = subprocess.run([sys.executable, "-m", "idp", "config", "--demo"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert "\nservice_providers: []" in demo, demo
    path.write_text(demo.replace(
        "\nservice_providers: []",
        "\nservice_providers:\n"
        f"  - entity_id: {AWS_SP}\n"
        "    role_value_order: provider,role\n"), encoding="utf-8")
    return path


@contextlib.contextmanager
def running_tool_server(workdir: Path, config: Path | None = None) -> Iterator[ToolServer]:
    """``idp serve`` the way a user starts it for these tools (free loopback ports, fresh certs
    and data in ``workdir``): plain HTTP (``/healthz``, STS), HTTPS with its own test CA, the
    CONNECT proxy for AWS sign-in, and the Okta/AD FS/Shibboleth/ECP surfaces. Ready once all
    three ports answer; stopped with SIGINT and required to exit 0."""
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, tls_port, proxy_port = free_port(), free_port(), free_port()
    while len({http_port, tls_port, proxy_port}) < 3:
        tls_port, proxy_port = free_port(), free_port()
    certs, data = workdir / "certs", workdir / "data"
    log = workdir / "server.log"
    argv = [sys.executable, "-m", "idp", "serve", "--host", "127.0.0.1",
            "--port", str(http_port), "--tls", "--tls-port", str(tls_port),
            "--connect-proxy", str(proxy_port), "--compat", "okta,adfs,shibboleth,ecp",
            "--certs-dir", str(certs), "--data-dir", str(data)]
    if config is not None:
        argv += ["--config", str(config)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, env=_server_env(), cwd=workdir)
    server = ToolServer(http_port, tls_port, proxy_port, certs, data, log, process)
    deadline = time.monotonic() + STARTUP_TIMEOUT

    def ready() -> bool:
        return (healthy(server.http_url) and server.ca_file.is_file()
                and _accepts(server.tls_port) and _accepts(server.proxy_port))

    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            code = stop_process(process)
            pytest.fail(f"idp serve did not come up (exit {code}): {' '.join(argv)}\n"
                        f"{server.output()}", pytrace=False)
        time.sleep(0.05)
    try:
        yield server
    finally:
        code = stop_process(process)
        # Shown by pytest only when the test fails.
        print(f"--- idp serve log ({' '.join(argv)}) ---\n{server.output()}")
    assert code == 0, f"idp serve did not exit 0 after SIGINT (got {code}):\n{server.output()}"


# --- credentials ------------------------------------------------------------------------------

ACCESS_KEY = re.compile(r"\bASIA[A-Z2-7]{16}\b")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def __repr__(self) -> str:  # never print the secret parts
        return f"Credentials({self.access_key_id!r}, …)"


def credentials_from_profile(path: Path, profile: str) -> Credentials:
    """The profile a tool wrote into an AWS shared-credentials file."""
    assert path.exists(), f"no credentials file at {path}"
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    assert parser.has_section(profile), (
        f"{path} has no [{profile}] profile; it has {parser.sections()}:\n"
        f"{path.read_text(encoding='utf-8')}")
    section = parser[profile]
    return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"],
                       section["aws_session_token"])


def credentials_from_process_json(stdout: str) -> Credentials:
    """The ``credential_process`` JSON (``{"Version": 1, "AccessKeyId": …}``) in ``stdout``."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", stdout):
        try:
            document, _ = decoder.raw_decode(stdout, match.start())
        except ValueError:
            continue
        if isinstance(document, dict) and "AccessKeyId" in document:
            assert document.get("Version") == 1, document
            return Credentials(document["AccessKeyId"], document["SecretAccessKey"],
                               document["SessionToken"])
    raise AssertionError(f"no credential_process JSON in the tool's output:\n{stdout}")


def credentials_from_exports(text: str) -> Credentials:
    """``export AWS_ACCESS_KEY_ID=…`` lines (what ``eval $(tool …)`` would run)."""
    values = dict(re.findall(r"^(?:export\s+)?(AWS_[A-Z_]+)=[\"']?([^\"'\s]+)", text, re.M))
    try:
        return Credentials(values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"],
                           values["AWS_SESSION_TOKEN"])
    except KeyError as missing:
        raise AssertionError(f"no {missing} export in the tool's output:\n{text}") from None


def caller_arn(server: ToolServer, credentials: Credentials) -> str:
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "sts", endpoint_url=server.sts_url, region_name="us-east-1",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=30))
    return str(client.get_caller_identity()["Arn"])


def assert_identity(server: ToolServer, credentials: Credentials, role_arn: str,
                    user: str) -> None:
    """The credentials a tool produced are live at the simulator's STS, for this role/user."""
    assert caller_arn(server, credentials) == assumed_role_arn(role_arn, user)


# --- running a tool -------------------------------------------------------------------------

TOOL_TIMEOUT = 90.0

#: The only variables of the machine a tool sees. Everything else (the machine's CA bundles and
#: proxies, a developer's own AWS/Okta/keyring settings) would change where a tool connects or
#: what it trusts; ``tool_env_for`` sets what the tools need instead.
_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def run_detached(argv: Sequence[str], *, stdin: str | None, env: Mapping[str, str],
                 cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run ``argv`` in a session of its own (no controlling terminal: getpass reads stdin),
    bounded in time; whatever it started is killed when it ends. A timeout fails the test
    with what it printed."""
    process = subprocess.Popen(list(argv), stdin=subprocess.PIPE if stdin is not None
                               else subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(env), cwd=cwd,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{argv[0]} did not finish within {timeout:.0f} s:\n{' '.join(argv)}\n"
                    f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", pytrace=False)
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing it started may outlive it
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stdout, stderr


@dataclass(frozen=True)
class ToolRun:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}"

    def __str__(self) -> str:
        return (f"$ {' '.join(self.argv)}\n[exit {self.returncode}]\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")


@dataclass
class ToolEnv:
    """One tool's world: its own ``$HOME`` and environment, pointed at ``server``."""

    server: ToolServer
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def aws_credentials(self) -> Path:
        return self.home / ".aws" / "credentials"

    @property
    def aws_config(self) -> Path:
        return self.home / ".aws" / "config"

    def write(self, relative: str, text: str) -> Path:
        """A config file in ``$HOME`` (dedented by the caller)."""
        path = self.home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, argv: Sequence[str | os.PathLike[str]], *, stdin: str = "",
            env: Mapping[str, str] | None = None, proxy: bool = True,
            timeout: float = TOOL_TIMEOUT) -> ToolRun:
        """Run the tool with ``stdin`` as its input, no controlling terminal, bounded time.

        ``proxy``: send HTTPS through the simulator's CONNECT proxy (``HTTPS_PROXY``), which
        tunnels only ``signin.aws.amazon.com:443`` (to the simulator's console twin) and refuses
        every other host: a tool's request to AWS's sign-in page reaches the simulator, and
        nothing else leaves the machine. Loopback (the IdP, STS) bypasses it (``NO_PROXY``).
        """
        full_env = dict(self.env)
        bin_dir = Path(argv[0]).parent
        full_env["PATH"] = f"{bin_dir}{os.pathsep}{full_env.get('PATH', os.defpath)}"
        if proxy:
            full_env["HTTPS_PROXY"] = full_env["https_proxy"] = self.server.proxy_url
        full_env.update(env or {})
        args = tuple(str(a) for a in argv)
        code, stdout, stderr = run_detached(args, stdin=stdin, env=full_env, cwd=self.home,
                                            timeout=timeout)
        return ToolRun(args, code, stdout, stderr)

    def assert_nothing_issued(self, run: ToolRun) -> None:
        """A failed run printed no access key and left none anywhere in ``$HOME`` (credentials
        files, the tools' own caches)."""
        assert not ACCESS_KEY.search(run.output), f"credentials were printed:\n{run}"
        assert "AccessKeyId" not in run.stdout, str(run)
        for path in self.home.rglob("*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                assert not ACCESS_KEY.search(text), f"credentials were written to {path}:\n{run}"


def tool_env_for(server: ToolServer, home: Path) -> ToolEnv:
    """A clean environment for one tool run: its own ``$HOME`` with the AWS files in it, the
    simulator's STS and test CA, and nothing of the machine's CA, proxy or AWS settings (the
    machine exports REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, AWS_CA_BUNDLE and SSL_CERT_FILE; for
    requests the variable beats a ``verify=`` argument)."""
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in _KEPT if k in os.environ}
    env.update({
        "HOME": str(home),
        "USER": "tester",
        "LOGNAME": "tester",
        "PYTHONUNBUFFERED": "1",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ENDPOINT_URL_STS": server.sts_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "REQUESTS_CA_BUNDLE": str(server.ca_file),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return ToolEnv(server=server, home=home, env=env)
