"""The README's "Several processes and machines" example runs as written: its commands
(``readme-test: deploy-commands``: Redis, ``idp keys``, two ``idp serve`` processes, nginx) and
its ``nginx.conf`` (``readme-test: deploy-nginx``), with free ports in place of 6379, 8001,
8002 and 8080. A browser login, the console and STS then work through the proxy, with the
requests spread over both processes."""

from __future__ import annotations

import contextlib
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo import BOB_EMAIL, PROD_PROVIDER, READ_ONLY
from tests.support.faults import connections_by_worker, fresh_client, shutdown
from tests.support.http import auto_post, login
from tests.support.nginx import running_nginx
from tests.support.projects import readme_blocks
from tests.support.server import LiveServer, child_env, free_port, healthy, idp_command
from tests.support.sts import clean_aws_environment, session_client, sts_client

pytestmark = pytest.mark.live

def block(name: str) -> str:
    found = readme_blocks(name)
    assert len(found) == 1, f"README has {len(found)} {name} blocks"
    return found[0]


def commands(text: str) -> list[str]:
    """Shell lines with their backslash continuations joined."""
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


@contextlib.contextmanager
def redis_daemon(argv: list[str], port: int, workdir: Path) -> Iterator[None]:
    """The README's ``redis-server ... --daemonize yes`` line, shut down afterwards."""
    subprocess.run(argv, cwd=workdir, check=True, timeout=30, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], timeout=30,
                       capture_output=True, check=False)


def start_idp(argv: list[str], workdir: Path, port: int) -> LiveServer:
    log = workdir / f"idp-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(idp_command(*argv[1:]), cwd=workdir, env=child_env(),
                                   stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT)
    return LiveServer(url=f"http://127.0.0.1:{port}", port=port, certs_dir=workdir / "certs",
                      log=log, process=process)


def test_two_processes_behind_nginx_on_one_redis(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    clean_aws_environment(monkeypatch, tmp_path)
    ports = {old: free_port() for old in ("6379", "8001", "8002", "8080")}

    def ported(text: str) -> str:
        return re.sub(r"\b(6379|8001|8002|8080)\b", lambda m: str(ports[m[1]]), text)

    lines = commands(ported(block("deploy-commands")))
    assert [line.split()[0:2] for line in lines] == [
        ["redis-server", "--port"], ["idp", "keys"], ["idp", "serve"], ["idp", "serve"],
        ["nginx", "-p"]]
    assert lines[4] == 'nginx -p "$PWD" -c "$PWD/nginx.conf"'
    workdir = tmp_path / "deploy"
    workdir.mkdir()
    proxy = f"http://127.0.0.1:{ports['8080']}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(redis_daemon(shlex.split(lines[0]), ports["6379"], workdir))
        subprocess.run(idp_command(*shlex.split(lines[1])[1:]), cwd=workdir, env=child_env(),
                       check=True, timeout=60, capture_output=True)
        servers = []
        for line, backend in zip(lines[2:4], ("8001", "8002"), strict=True):
            argv = shlex.split(line.removesuffix("&").strip())
            server = start_idp(argv, workdir, ports[backend])
            stack.callback(shutdown, server)
            servers.append(server)
        for server in servers:
            deadline = time.monotonic() + 30
            while not healthy(server.url) and server.process.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            assert healthy(server.url), server.output()
        # nginx -p "$PWD" -c "$PWD/nginx.conf", in the foreground so the test can stop it.
        stack.enter_context(running_nginx(workdir, ported(block("deploy-nginx")),
                                          ports["8080"]))

        with fresh_client(proxy) as browser:
            page = login(browser, "/idp/init", "bob", "bob-password")
            assert page.status_code == 200, page.text[:800]
            form = auto_post(page.text)
            assert form.action == f"{proxy}/aws/saml"
            signed = browser.post("/aws/saml", data={"SAMLResponse": form.saml_response,
                                                     "RelayState": ""})
            assert signed.status_code == 303, signed.text[:800]
            console = browser.get(signed.headers["location"])
            assert console.status_code == 200 and BOB_EMAIL in console.text
            again = browser.get("/idp/init", follow_redirects=True)
            assertion = auto_post(again.text).saml_response
        result = sts_client(f"{proxy}/aws/sts").assume_role_with_saml(
            RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER, SAMLAssertion=assertion)
        identity = session_client(f"{proxy}/aws/sts", result["Credentials"])
        for _ in range(4):
            assert identity.get_caller_identity()["Arn"].endswith(f"/ReadOnly/{BOB_EMAIL}")
        # Round robin: nginx holds kept-alive connections to both processes now.
        held = {server.port: connections_by_worker([server.process.pid], server.port)
                for server in servers}
        assert all(sum(counts.values()) >= 1 for counts in held.values()), held
        for server in servers:
            assert "Traceback" not in server.output(), server.output()
