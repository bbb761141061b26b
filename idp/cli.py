"""The ``idp`` command: serve, keys, metadata, mint, token, login, config.

Every failure ends with a one-line message on stderr and a non-zero exit status, never a
traceback: 2 for bad input (flags, config, keys), 1 for anything unexpected. Flags argparse
refuses are one line too (``_Parser``), naming ``--help`` for the usage.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

from idp import __version__
from idp.clock import SystemClock
from idp.errors import IdPError
from idp.settings import Settings

if TYPE_CHECKING:
    import uvicorn

    from idp.keys import KeyStore
    from idp.tls import TlsFiles

__all__ = ["main"]

DEFAULT_METADATA_OUT = Path("metadata/idp-metadata.xml")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        base_url=getattr(args, "base_url", None),
        config=getattr(args, "config", None),
        certs_dir=getattr(args, "certs_dir", None),
        key_size=getattr(args, "key_size", None),
        workers=getattr(args, "workers", None),
        data_dir=getattr(args, "data_dir", None),
        state=getattr(args, "state", None),
        trusted_proxies=",".join(args.trusted_proxy) if getattr(args, "trusted_proxy", None)
        else None,
        clock_offset=getattr(args, "clock_offset", None),
        frozen_clock=getattr(args, "frozen_clock", None),
        admin=getattr(args, "admin", None),
        tls=True if getattr(args, "tls", None) or getattr(args, "tls_port", None) else None,
        tls_port=getattr(args, "tls_port", None),
        connect_proxy=getattr(args, "connect_proxy", None),
        compat=getattr(args, "compat", None),
        replay_protection=getattr(args, "replay_protection", None),
    )


def _log_config(level: str) -> dict[str, object]:
    """Our log lines (every refusal and why) in the parent and in each worker process."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"()": "idp.logs.OneLineFormatter",
                                 "format": "%(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "idp": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "uvicorn.error": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
    }


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from idp.hosts import is_loopback
    from idp.web.app import create_app
    from idp.web.server import listen, uvicorn_options

    settings = _settings(args)
    app = create_app(settings)  # loads keys and the directory: fails here, before binding
    tls = _tls_files(settings)
    sockets = [listen(settings.host, settings.port)]  # a busy port fails before the banner
    with contextlib.ExitStack() as stack:
        stack.callback(sockets[0].close)
        if tls is not None:
            sockets.append(listen(settings.host, settings.tls_port))
            stack.callback(sockets[-1].close)
        proxy_sock = None
        if settings.connect_proxy is not None:
            from idp.web.connect_proxy import proxy_socket

            proxy_sock = proxy_socket("127.0.0.1", settings.connect_proxy)
            stack.callback(proxy_sock.close)
        if not is_loopback(settings.host):
            print(f"warning: binding {settings.host}, reachable from other machines; "
                  "this IdP signs test identities only", file=sys.stderr)
        common = {"log_config": _log_config(args.log_level), "host": settings.host,
                  "port": settings.port, **uvicorn_options(settings)}
        # Ctrl-C any time after the banner is a normal stop (exit 0), even before uvicorn has
        # installed its own signal handlers. (On Python 3.11 asyncio's runner can surface
        # that early Ctrl-C as the main task's CancelledError instead of KeyboardInterrupt.)
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            print(_banner(app, settings, tls), flush=True)
            if settings.workers > 1:
                # Workers rebuild the same settings from IDP_* variables; they share certs_dir
                # (keys, secrets) and data_dir (replay and one-time-code state).
                os.environ.update(settings.to_env())
                config = uvicorn.Config("idp.web.app:app_from_env", factory=True,
                                        workers=settings.workers, **common)
                Multiprocess(config, sockets=sockets).run()
            elif tls is None:
                uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=sockets)
            else:
                asyncio.run(_serve_together(app, common, sockets, tls, proxy_sock,
                                            settings.tls_port, _loopback_of(settings.host)))
    return 0


def _tls_files(settings: Settings) -> TlsFiles | None:
    """The test CA and the server certificate ``--tls`` serves with (made on first use)."""
    if not settings.tls:
        return None
    from urllib.parse import urlsplit

    from idp.hosts import is_loopback
    from idp.tls import default_names, ensure_tls

    if settings.connect_proxy is not None and not (
            is_loopback(settings.host) or settings.host in ("0.0.0.0", "::")):  # noqa: S104
        raise IdPError(f"--connect-proxy tunnels to the TLS listener on loopback, but it binds "
                       f"{settings.host}: bind 127.0.0.1 or 0.0.0.0")
    names = default_names(urlsplit(settings.url).hostname,
                          sign_in=settings.connect_proxy is not None)
    files = ensure_tls(settings.certs_dir, names)
    import ssl

    try:  # what uvicorn will do, now: a pair OpenSSL refuses fails before the banner
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            files.server_cert, files.server_key)
    except (ssl.SSLError, OSError) as exc:
        raise IdPError(f"cannot serve TLS with {files.server_cert}: {exc}") from None
    return files


def _loopback_of(host: str) -> str:
    """Where this process reaches a listener bound to ``host`` (a wildcard: its loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(  # noqa: S104
        host, host)


async def _serve_together(app: object, common: dict[str, object], sockets: list[socket.socket],
                          tls: TlsFiles, proxy_sock: socket.socket | None, tls_port: int,
                          tls_host: str) -> None:
    """The plain and the TLS listener (and the CONNECT proxy) in one process and event loop.

    uvicorn takes one TLS setting per server, so each listener is its own ``uvicorn.Server``
    over the same application; when either stops (a failed start) the other is told to stop
    too. Ctrl-C and SIGTERM are handled here, once, for both: the first asks both to finish
    what they are serving, a second Ctrl-C stops at once (uvicorn's own rule).
    """
    import asyncio
    import signal

    from idp.web.connect_proxy import ConnectProxy

    servers = [_quiet_server(app, common, None),
               _quiet_server(app, {**common, "port": tls_port}, tls)]

    def stop(sig: int) -> None:
        for server in servers:
            if server.should_exit and sig == signal.SIGINT:
                server.force_exit = True
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    proxy = None
    if proxy_sock is not None:
        proxy = ConnectProxy(upstream_port=tls_port, upstream_host=tls_host)
        await proxy.start(proxy_sock)
    tasks = [asyncio.create_task(server.serve(sockets=[sock]))
             for server, sock in zip(servers, sockets, strict=True)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for server in servers:
            server.should_exit = True
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        if proxy is not None:
            await proxy.close()
    failed = [o for o in outcomes if isinstance(o, BaseException)
              and not isinstance(o, asyncio.CancelledError | KeyboardInterrupt)]
    if failed:
        raise IdPError(f"a listener stopped: {failed[0]}")
    if not all(server.started for server in servers):
        raise IdPError("a listener did not start (the server log above says why)")


def _quiet_server(app: object, options: dict[str, object],
                  tls: TlsFiles | None) -> uvicorn.Server:
    """A ``uvicorn.Server`` that leaves signals to ``_serve_together``."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    from idp.web.server import tls_options

    extra: dict[str, object] = {} if tls is None else tls_options(tls)
    # No lifespan: the application has no start-up or shutdown hooks, and a second Ctrl-C
    # (force exit) would otherwise log the cancelled lifespan task as a traceback.
    return Server(uvicorn.Config(app, **options, **extra, lifespan="off"))  # type: ignore[arg-type]


def _banner(app: object, settings: Settings, tls: TlsFiles | None) -> str:
    url = settings.url
    source = str(settings.config) if settings.config else "built-in demo directory"
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    demo = ("  Demo users: alice, bob, carol (TOTP), dave — password '<user>-password'\n"
            if settings.config is None else "")
    lines = [
        f"IdP simulator {__version__} — {source}{workers}",
        f"  IdP metadata (upload to AWS IAM): {url}/idp/metadata",
        f"  Sign in to AWS (IdP-initiated):   {url}/idp/init",
        f"  SAML SSO endpoint:                {url}/idp/sso",
        f"  AWS console twin (ACS):           {url}/aws/saml",
        f"  AWS console session:              {url}/aws/console",
        f"  Mock STS endpoint_url:            {settings.plain_url}/aws/sts",
        f"  Mock IAM endpoint_url:            {settings.plain_url}/aws/iam",
        f"  IAM user console sign-in:         {url}/aws/signin",
        f"  OpenID Connect issuer:            {url}/oidc",
        f"  Shared state:                     {app.state.runtime.store.location}",  # type: ignore[attr-defined]
    ]
    if tls is not None:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        lines.append(f"  Listening:                        https://{host}:{settings.tls_port} "
                     f"and http://{host}:{settings.port}")
        lines.append(f"  Test CA (REQUESTS_CA_BUNDLE):     {tls.ca_cert.resolve()}")
    if settings.connect_proxy is not None:
        bypass = ",".join(dict.fromkeys(["127.0.0.1", "localhost", _loopback_of(settings.host),
                                         urlsplit(settings.url).hostname or "localhost"]))
        lines.append(f"  Sign-in proxy (HTTPS_PROXY):      http://127.0.0.1:{settings.connect_proxy}"
                     f"  with NO_PROXY={bypass} (signin.aws.amazon.com -> the console twin)")
    vendors = sorted(v.value for v in app.state.runtime.services.vendors)  # type: ignore[attr-defined]
    if vendors:
        lines.append(f"  Vendor login surfaces:            {', '.join(vendors)}")
    return ("\n".join(lines) + "\n" + demo + _iam_lines(app, settings)
            + _workload_lines(app, settings) + _admin_lines(app, settings)
            + "Press Ctrl-C to stop.")


def _workload_lines(app: object, settings: Settings) -> str:
    """Where the directory's instances and tasks get role credentials (README "Roles for
    workloads"): the environment variables an unmodified SDK needs."""
    directory = app.state.runtime.directory  # type: ignore[attr-defined]
    base = settings.plain_url
    lines = [f"  Instance {instance_id}: AWS_EC2_METADATA_SERVICE_ENDPOINT="
             f"{base}/imds/{instance_id}" for instance_id in list(directory.instances)[:5]]
    lines += [f"  Task {task_id}: AWS_CONTAINER_CREDENTIALS_FULL_URI="
              f"{base}/ecs/{task_id}/credentials" for task_id in list(directory.tasks)[:5]]
    more = len(directory.instances) + len(directory.tasks) - len(lines)
    if more > 0:
        lines.append(f"  ... and {more} more instances and tasks")
    return "".join(line + "\n" for line in lines)


def _iam_lines(app: object, settings: Settings) -> str:
    """The demo's IAM access keys (fixed test values, README "IAM users and roles"), so the
    first IAM or STS call can be made; for another directory only where to find them."""
    directory = app.state.runtime.directory  # type: ignore[attr-defined]
    users = [(account.id, user) for account in directory.accounts.values()
             for user in account.iam_users if user.access_keys]
    if not users:
        return ""
    if settings.config is not None:
        return (f"  IAM users with access keys:       {len(users)} (keys in "
                f"{settings.config})\n")
    lines = ["  Demo IAM users (console password '<user>-password'; access key / secret):"]
    lines += [f"    {account} {user.name:<8} {user.access_keys[0].id} / "
              f"{user.access_keys[0].secret}" for account, user in users]
    return "\n".join(lines) + "\n"


def _admin_lines(app: object, settings: Settings) -> str:
    if not settings.admin:
        return ""
    token = app.state.admin_token  # type: ignore[attr-defined]
    return (f"  Admin API:                        {settings.url}/api/\n"
            f"  Admin token (Authorization: Bearer): {token}\n"
            f"    (also in {settings.data_dir / 'admin-token'}, mode 0600)\n")


def _keys(args: argparse.Namespace) -> int:
    from idp.keys import KeyStore

    settings = _settings(args)
    store = KeyStore(settings.certs_dir, clock=SystemClock())
    # The install's secrets too (cookies, STS credentials), so that a certs folder made here
    # and copied to several machines makes their ``idp serve`` processes one simulator.
    store.session_secret()
    store.secret("sts")
    if args.oidc:
        return _oidc_keys(settings, rotate=args.rotate)
    oidc = _oidc_keystore(settings)
    if not oidc.exists():  # the OpenID Connect provider's pair, like the secrets above
        from idp.oidc.signing import KEY_COMMON_NAME

        made = oidc.create(KEY_COMMON_NAME, key_size=settings.key_size)
        print(f"OIDC signing key created: RSA-{made.key_size} in {settings.certs_dir}")
    if store.exists() and not args.rotate:
        pair = store.load()
        print(f"a signing key already exists in {settings.certs_dir} "
              f"(RSA-{pair.key_size}, certificate valid until "
              f"{pair.certificate.not_valid_after_utc:%Y-%m-%d}); pass --rotate to replace it")
        return 0
    pair = (store.rotate if args.rotate else store.create)(
        settings.entity_id, key_size=settings.key_size
    )
    verb = "rotated; the previous certificate stays in metadata" if args.rotate else "created"
    print(f"signing key {verb}: RSA-{pair.key_size} in {settings.certs_dir}")
    if args.rotate:
        print("re-upload the metadata to every AWS SAML provider that trusts this IdP")
    return 0


def _oidc_keystore(settings: Settings) -> KeyStore:
    from idp.keys import KeyStore
    from idp.oidc.signing import KEY_PREFIX

    return KeyStore(settings.certs_dir, clock=settings.clock(), prefix=KEY_PREFIX)


def _oidc_keys(settings: Settings, *, rotate: bool) -> int:
    """``idp keys --oidc [--rotate]``: the OpenID Connect provider's key pair
    (``certs/oidc-signing.key``); after a rotation the previous pair stays in the JWKS."""
    from idp.oidc.signing import KEY_COMMON_NAME, key_id

    store = _oidc_keystore(settings)
    if store.exists() and not rotate:
        pair = store.load()
        print(f"an OIDC signing key already exists in {settings.certs_dir} "
              f"(RSA-{pair.key_size}, kid {key_id(pair.private_key.public_key())}); "
              "pass --rotate to replace it")
        return 0
    pair = (store.rotate if rotate else store.create)(KEY_COMMON_NAME,
                                                      key_size=settings.key_size)
    kid = key_id(pair.private_key.public_key())
    if rotate:
        print(f"OIDC signing key rotated: RSA-{pair.key_size} in {settings.certs_dir} "
              f"(kid {kid}); the previous key stays in the JWK Set (BASE/oidc/jwks)")
        print("idp token signs with it now, and a running idp serve publishes it at once; "
              "the server's own ID tokens switch to it at its next start. Tokens signed "
              "before still verify")
    else:
        print(f"OIDC signing key created: RSA-{pair.key_size} in {settings.certs_dir} "
              f"(kid {kid})")
    return 0


def _token(args: argparse.Namespace) -> int:
    """``idp token``: a signed workload JWT from the install's OIDC key (no server needed).

    The issuer is ``BASE/oidc`` from the same settings as ``idp serve`` (``--base-url``, or
    ``--host``/``--port``, or ``IDP_*``), so a server started with them serves the JWKS that
    verifies it. On a terminal the token is followed by a newline; written to a pipe or a
    file (``> token.jwt``) it is exactly the token, as is ``--out FILE`` (0600, replaced
    atomically): botocore sends ``AWS_WEB_IDENTITY_TOKEN_FILE`` verbatim, and a trailing
    newline would be part of the token.
    """
    from idp.keys import atomic_write
    from idp.oidc.signing import KEY_COMMON_NAME, TokenSigner

    settings = _settings(args)
    claims = _claims(args.claim or [])
    store = _oidc_keystore(settings)
    signing = store.ensure(KEY_COMMON_NAME, key_size=settings.key_size)
    signer = TokenSigner(f"{settings.url}/oidc", store.snapshot(signing=signing),
                         settings.clock())
    try:
        token = signer.workload_token(args.sub, tuple(args.aud), ttl=args.ttl, claims=claims)
    except ValueError as exc:
        raise IdPError(str(exc)) from None
    if args.out is None:
        sys.stdout.write(token + ("\n" if sys.stdout.isatty() else ""))
        return 0
    atomic_write(args.out, token.encode("ascii"), mode=0o600)
    print(f"wrote {args.out} (iss {signer.issuer}, sub {args.sub}, expires in {args.ttl} s)")
    return 0


def _claims(items: Sequence[str]) -> dict[str, object]:
    """``--claim KEY=VALUE`` (a string) and ``--claim KEY:=JSON`` (any JSON value)."""
    import json

    claims: dict[str, object] = {}
    for item in items:
        head, equals, value = item.partition("=")
        if not equals:
            raise IdPError(f"--claim {item!r}: expected KEY=VALUE or KEY:=JSON")
        as_json = head.endswith(":")
        name = head[:-1] if as_json else head
        if not name:
            raise IdPError(f"--claim {item!r}: the claim name is empty")
        if name in claims:
            raise IdPError(f"--claim {name} is given twice")
        if as_json:
            try:
                claims[name] = json.loads(value)
            except ValueError:
                raise IdPError(f"--claim {name}:= needs a JSON value, not {value!r}") from None
        else:
            claims[name] = value
    return claims


def _metadata(args: argparse.Namespace) -> int:
    from idp.directory import load_directory
    from idp.keys import KeyStore, atomic_write
    from idp.sso import IdentityProvider

    settings = _settings(args)
    clock = SystemClock()
    store = KeyStore(settings.certs_dir, clock=clock)
    signing = store.ensure(settings.entity_id, key_size=settings.key_size)
    from idp.directory import demo_directory

    directory = (load_directory(settings.config, aws_acs=settings.console_acs_url)
                 if settings.config else demo_directory(aws_acs=settings.console_acs_url))
    keys = store.published(signing=signing)
    body = IdentityProvider(settings, directory, keys, clock).metadata()
    if str(args.out) == "-":
        sys.stdout.write(body.decode("utf-8"))
        return 0
    atomic_write(args.out, body)
    print(f"wrote {args.out} (entityID {settings.entity_id})")
    return 0


def _mint(args: argparse.Namespace) -> int:
    import base64

    from idp.directory.model import AWS_ENTITY_ID
    from idp.faults import Fault, parse_fault
    from idp.keys import KeyStore, generate_pair
    from idp.sso import IdentityProvider
    from idp.web.runtime import read_directory

    try:
        fault = parse_fault(args.fault) if args.fault else None
    except ValueError as exc:
        raise IdPError(str(exc)) from None
    if fault is Fault.REPLAY:
        raise IdPError("the replay fault re-sends a running simulator's previous Response; "
                       "use Simulator.mint or the admin API for it")
    settings = _settings(args)
    clock = settings.clock()
    store = KeyStore(settings.certs_dir, clock=clock)
    signing = store.ensure(settings.entity_id, key_size=settings.key_size)
    _, directory = read_directory(settings)
    idp = IdentityProvider(settings, directory, store.published(signing=signing), clock,
                           foreign_keys=lambda: generate_pair("not-this-idp.example", 2048, clock))
    body = idp.mint(args.user, sp=args.sp or AWS_ENTITY_ID, role=args.role, fault=fault)
    sys.stdout.write((body.decode("utf-8") if args.xml
                      else base64.b64encode(body).decode("ascii")) + "\n")
    return 0


def _login(args: argparse.Namespace) -> int:
    from idp.client import login_command

    return login_command(args)


def _config(args: argparse.Namespace) -> int:
    from idp.directory import demo_yaml, load_directory

    if args.demo:
        sys.stdout.write(demo_yaml())
        return 0
    if args.check is not None:
        settings = _settings(args)
        directory = load_directory(args.check, aws_acs=settings.console_acs_url)
        from idp.aws.iam.seed import seed_document

        seed_document(directory, dt.datetime.now(dt.UTC))  # reads provider metadata files
        accounts = directory.accounts.values()
        iam_users = [u for a in accounts for u in a.iam_users]
        policies = sum(len(r.policies) for a in accounts for r in a.roles) + sum(
            len(u.policies) for u in iam_users) + sum(
            len(g.policies) for a in accounts for g in a.iam_groups)
        print(f"{args.check}: OK ({len(directory.users)} users, {len(directory.groups)} groups, "
              f"{len(directory.accounts)} accounts, "
              f"{len(directory.service_providers)} service providers; IAM: "
              f"{sum(len(a.roles) for a in accounts)} roles, {len(iam_users)} users, "
              f"{sum(len(u.access_keys) for u in iam_users)} access keys, "
              f"{sum(u.mfa_seed is not None for u in iam_users)} MFA devices, "
              f"{policies} inline policies, "
              f"{sum(len(a.oidc_providers) for a in accounts)} OIDC providers; workloads: "
              f"{len(directory.instances)} instances, {len(directory.tasks)} tasks; "
              f"{len(directory.oidc_clients)} OIDC clients)")
        return 0
    print("idp config: pass --demo to print the demo directory, or --check FILE", file=sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    """Refused flags are one line on stderr and exit 2, like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="idp", description="SAML IdP + AWS sign-in + STS simulator (test identities only)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--certs-dir", type=Path, help="key store folder (default: ./certs)")
    common.add_argument("--base-url", help="public URL of the service (default http://HOST:PORT, "
                        "or https://HOST:TLS_PORT with --tls)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", parents=[common], help="run the simulator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  idp serve\n  idp serve --config my-directory.yaml --port 9000\n"
               "  idp serve --admin --frozen-clock 2030-01-01T00:00:00Z\n"
               "  idp serve --tls --connect-proxy 8081 --compat okta,adfs,shibboleth,ecp\n"
               "  idp serve --state redis://127.0.0.1:6379/0 --port 8001")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--config", type=Path, help="directory YAML (default: the demo)")
    serve.add_argument("--key-size", type=int, choices=(2048, 3072, 4096),
                       help="RSA size if keys must be created")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--data-dir", type=Path,
                       help="shared state folder (default ./data): one-time use, throttling")
    serve.add_argument("--state", metavar="sqlite|redis://HOST:PORT/DB",
                       help="where the workers' shared state lives: sqlite (default, in "
                       "DATA_DIR) or a Redis server shared by idp serve processes on any "
                       "machine")
    serve.add_argument("--trusted-proxy", action="append", metavar="ADDRESS[/BITS]",
                       help="a reverse proxy whose X-Forwarded-For/-Proto headers are believed "
                       "(repeatable; default: none, forwarded headers are ignored)")
    serve.add_argument("--clock-offset", type=int, metavar="SECONDS",
                       help="run the simulated clock this many seconds ahead (negative: "
                       "behind) of the real one, for the IdP and the AWS side alike")
    serve.add_argument("--frozen-clock", metavar="ISO8601",
                       help="stop the simulated clock at this instant, e.g. 2030-01-01T00:00:00Z")
    serve.add_argument("--admin", action="store_true", default=None,
                       help="serve the admin API under /api/ (a bearer token is printed and "
                       "written to DATA_DIR/admin-token, mode 0600)")
    serve.add_argument("--tls", action="store_true", default=None,
                       help="also serve HTTPS (a test CA is made in CERTS_DIR/tls-ca.pem); "
                       "without --base-url the public URL becomes https://HOST:TLS_PORT")
    serve.add_argument("--tls-port", type=int, metavar="PORT",
                       help="the HTTPS port (default 8443; implies --tls)")
    serve.add_argument("--connect-proxy", type=int, metavar="PORT",
                       help="a loopback CONNECT proxy that tunnels signin.aws.amazon.com:443 "
                       "to the console twin (HTTPS_PROXY=http://127.0.0.1:PORT; implies --tls)")
    serve.add_argument("--compat", metavar="LIST",
                       help="vendor login surfaces to serve: okta,adfs,shibboleth,ecp")
    serve.add_argument("--replay-protection", choices=("aws", "strict", "off"),
                       help="how often one assertion may be redeemed (default aws: once at "
                       "the console, again at STS while valid)")
    serve.add_argument("--log-level", default="info",
                       choices=("debug", "info", "warning", "error"),
                       help="how much the simulator logs (default info: every refusal, why)")
    serve.set_defaults(func=_serve)

    keys = sub.add_parser("keys", parents=[common], help="create or rotate the signing key pair",
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog="examples:\n  idp keys\n  idp keys --rotate --key-size 3072\n"
                                 "  idp keys --oidc --rotate")
    keys.add_argument("--rotate", action="store_true", help="replace the current key pair")
    keys.add_argument("--oidc", action="store_true",
                      help="the OpenID Connect provider's key pair (certs/oidc-signing.key) "
                      "instead of the SAML one; plain 'idp keys' creates it if missing")
    keys.add_argument("--key-size", type=int, choices=(2048, 3072, 4096), help="RSA modulus")
    keys.set_defaults(func=_keys)

    token = sub.add_parser(
        "token", parents=[common],
        help="print a signed workload JWT (OIDC, for AssumeRoleWithWebIdentity)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  idp token --sub system:serviceaccount:prod:deployer "
               "--aud sts.amazonaws.com --out token.jwt\n"
               "  idp token --sub repo:corp/app:ref:refs/heads/main --aud sts.amazonaws.com "
               "--claim repository=corp/app --claim 'amr:=[\"mfa\"]'\n\n"
               "the issuer is BASE/oidc (BASE from --base-url or --host/--port, as for idp "
               "serve);\nstdout gets a newline after the token only on a terminal; --out "
               "writes the token\nalone (no newline), mode 0600.")
    token.add_argument("--sub", required=True, help="the token's subject")
    token.add_argument("--aud", required=True, action="append",
                       help="an audience (repeatable: several make a JSON array)")
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS",
                       help="lifetime, 1-86400 seconds (default 3600)")
    token.add_argument("--out", type=Path, metavar="FILE",
                       help="write the token to FILE (0600, atomic, no trailing newline)")
    token.add_argument("--claim", action="append", metavar="KEY=VALUE",
                       help="add or override a claim: KEY=VALUE for a string, KEY:=JSON for "
                       "any JSON value (repeatable)")
    token.add_argument("--host", help="host of the base URL (default 127.0.0.1)")
    token.add_argument("--port", type=int, help="port of the base URL (default 8000)")
    token.add_argument("--clock-offset", type=int, metavar="SECONDS",
                       help="stamp iat/nbf/exp this many seconds ahead of the real clock (as "
                       "idp serve --clock-offset, so a server with a moved clock accepts it)")
    token.add_argument("--frozen-clock", metavar="ISO8601",
                       help="stamp iat/nbf/exp at this instant (as idp serve --frozen-clock)")
    token.add_argument("--key-size", type=int, choices=(2048, 3072, 4096),
                       help="RSA size if the OIDC key pair must be created")
    token.set_defaults(func=_token)

    metadata = sub.add_parser(
        "metadata", parents=[common], help="write the IdP metadata",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  idp metadata\n  idp metadata --out - --base-url "
               "https://idp.example.test")
    metadata.add_argument("--out", type=Path, default=DEFAULT_METADATA_OUT,
                          help=f"output file, or - for stdout (default {DEFAULT_METADATA_OUT})")
    metadata.add_argument("--config", type=Path, help="directory YAML (default: the demo)")
    metadata.set_defaults(func=_metadata)

    mint = sub.add_parser(
        "mint", parents=[common], help="print a signed SAMLResponse (no server needed)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  idp mint --user alice --role ReadOnly > response.b64\n"
               "  idp mint --user alice --fault expired --xml")
    mint.add_argument("--user", required=True, help="who the Response is about")
    mint.add_argument("--role", metavar="ARN|NAME",
                      help="only this role in the Role attribute (default: all the user's)")
    mint.add_argument("--sp", metavar="ENTITY",
                      help="service provider entity ID (default urn:amazon:webservices)")
    mint.add_argument("--fault", metavar="NAME",
                      help="break the Response on purpose (see the README: expired, unsigned, "
                      "xsw, ...)")
    mint.add_argument("--xml", action="store_true", help="print the XML instead of base64")
    mint.add_argument("--config", type=Path, help="directory YAML (default: the demo)")
    mint.set_defaults(func=_mint)

    login = sub.add_parser(
        "login", help="sign in to a running simulator and print credential_process JSON",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  IDP_PASSWORD=bob-password idp login --url http://127.0.0.1:8000 "
               "--user bob\n\nin ~/.aws/config:\n  [profile sim]\n  credential_process = "
               "idp login --url http://127.0.0.1:8000 --user bob --role ReadOnly\n"
               "  endpoint_url = http://127.0.0.1:8000/aws/sts")
    login.add_argument("--url", required=True, help="the simulator's base URL")
    login.add_argument("--user", required=True, help="username")
    login.add_argument("--role", metavar="NAME|ARN",
                       help="role to assume (needed when the user has more than one)")
    login.add_argument("--password",
                       help="password (default: $IDP_PASSWORD, else one line from stdin)")
    login.add_argument("--otp", metavar="CODE", help="a one-time code, for users with TOTP")
    login.add_argument("--ca-bundle", type=Path, metavar="FILE",
                       help="CA certificates to trust for an https --url (idp serve --tls: "
                       "certs/tls-ca.pem)")
    login.add_argument("--totp-secret", metavar="BASE32",
                       help="compute the one-time code from this secret instead")
    login.add_argument("--duration", type=int, metavar="SECONDS",
                       help="DurationSeconds for AssumeRoleWithSAML (default: the SAML "
                       "SessionDuration or 3600)")
    login.set_defaults(func=_login)

    config = sub.add_parser(
        "config", parents=[common], help="print or check a directory file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  idp config --demo > my-directory.yaml\n"
               "  idp config --check my-directory.yaml")
    config.add_argument("--demo", action="store_true", help="print the demo directory")
    config.add_argument("--check", type=Path, metavar="FILE", help="validate a directory file")
    config.set_defaults(func=_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except IdPError as exc:
        print(f"idp: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"idp: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line (the exit status says it is not input)
        print(f"idp: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return result
