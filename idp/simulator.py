"""``Simulator``: the whole service (IdP, AWS console twin, STS) in a background thread, driven
from code: the integration-test harness.

::

    from idp import Simulator

    with Simulator() as sim:                      # the demo directory, a free loopback port
        login = sim.login("bob", "bob-password")  # password (and TOTP) checked as at the form
        login.credentials.access_key_id           # from the simulator's STS, over HTTP
        sim.clock.advance(3600)                   # every time check follows this clock
        sim.mint("alice", role="ReadOnly", fault="expired")   # a broken Response, on purpose
        sim.write_token("token.jwt", "system:serviceaccount:prod:deployer",
                        "sts.amazonaws.com")      # a workload JWT from BASE/oidc

Each ``Simulator`` has its own temporary ``certs/`` and ``data/`` (removed on ``close``) unless
``certs_dir`` / ``data_dir`` are given, so simulators never share keys or state. Runtime edits
(``add_user``, ``add_role``, ``add_service_provider``, key rollover) take effect for the next
request, with no restart; ``reset()`` goes back to how it started.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from idp import client
from idp.authn.login import check_password
from idp.client import Credentials
from idp.clock import Clock, SettableClock
from idp.directory.editor import DirectoryDocument, sp_entry
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import IdPError
from idp.exchanges import Exchange
from idp.faults import Fault, parse_fault
from idp.keys import KeyPair
from idp.saml.constants import SAML
from idp.settings import Settings
from idp.xml import parse, to_bytes

if TYPE_CHECKING:
    import boto3
    import uvicorn

    from idp.web.runtime import Runtime

__all__ = ["Credentials", "Login", "Simulator", "SimulatorError"]

_START_TIMEOUT: Final = 10.0


class SimulatorError(IdPError):
    """The simulator could not do what was asked (start, sign in, get credentials)."""


@dataclass(frozen=True)
class Login:
    """A signed-in user's SAML Response and, for AWS, credentials for the chosen role."""

    user: str
    sp: str
    saml_response: str
    """The base64 SAMLResponse, as the browser would POST it."""
    response_xml: str
    assertion_xml: str
    roles: tuple[str, ...]
    """Role ARNs in AWS's Role attribute (empty for other SPs)."""
    role: str | None = None
    """The role the credentials are for."""
    _credentials: Credentials | None = field(default=None, repr=False)
    _why_none: str = field(default="", repr=False)

    @property
    def credentials(self) -> Credentials:
        """Credentials from the simulator's STS for ``role``; ``SimulatorError`` says why
        there are none (not AWS, or several roles and none chosen)."""
        if self._credentials is None:
            raise SimulatorError(self._why_none)
        return self._credentials


class Simulator:
    """The IdP, the console twin and the STS on a free loopback port, in this process.

    ``config``: a directory YAML path, or the directory as a mapping (the YAML's shape);
    default: the demo directory. ``clock``: a ``SettableClock``, or a datetime to freeze at;
    default: real time (``sim.clock`` can still move). ``base_url``: the public URL (entity
    IDs and endpoints derive from it); with a loopback host it must name a port, which the
    server listens on; with any other host (a proxy in front) the server listens on a free
    loopback port, which ``sts_endpoint`` and the harness's own calls use.

    For testing real CLI tools: ``compat`` enables vendor login surfaces (``"okta,adfs"``,
    see ``idp.vendors``); ``tls=True`` also serves HTTPS, which becomes ``base_url``, with a
    test CA at ``ca_bundle`` (the STS stays on plain HTTP at ``sts_endpoint``);
    ``connect_proxy=True`` (implies ``tls``) adds a loopback CONNECT proxy at ``proxy_url``
    that tunnels ``signin.aws.amazon.com`` to the console twin.
    """

    def __init__(self, config: str | Path | Mapping[str, Any] | None = None, *,
                 clock: SettableClock | dt.datetime | None = None, base_url: str | None = None,
                 certs_dir: str | Path | None = None, data_dir: str | Path | None = None,
                 settings: Settings | None = None, compat: str | Iterable[str] | None = None,
                 tls: bool = False, connect_proxy: bool = False) -> None:
        self._config = config
        self._clock_arg = clock
        self._base_url = base_url
        self._settings_arg = settings or Settings()
        if compat is not None:
            if not isinstance(compat, str) and not (
                    isinstance(compat, Iterable) and all(isinstance(c, str) for c in compat)):
                raise SimulatorError("compat must be a comma-separated string or a list of "
                                     f"surface names, not {compat!r}")
            names = compat if isinstance(compat, str) else ",".join(compat)
            try:
                self._settings_arg = self._settings_arg.with_overrides(compat=names)
            except IdPError as exc:
                raise SimulatorError(str(exc)) from None
        # Settings may ask for them too: the Simulator serves what the settings advertise.
        self._proxy_wanted = connect_proxy or self._settings_arg.connect_proxy is not None
        self._tls = tls or self._proxy_wanted or self._settings_arg.tls
        if self._tls and base_url is not None:
            raise SimulatorError("with tls the public URL is https://127.0.0.1:<its TLS port>; "
                                 "leave base_url out")
        self._tls_server: uvicorn.Server | None = None
        self._tls_thread: threading.Thread | None = None
        self._tls_socket: socket.socket | None = None
        self._proxy: _ProxyThread | None = None
        self._proxy_socket: socket.socket | None = None
        self._ca: Path | None = None
        self._dirs = (certs_dir, data_dir)
        self._tmp: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._runtime: Runtime | None = None
        self._socket: socket.socket | None = None
        self._internal_url = ""

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Start serving (``with Simulator() as sim`` calls this); returns ``self``."""
        if self._server is not None:
            return self
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        import uvicorn

        from idp.web.app import create_app
        from idp.web.server import tls_options, uvicorn_options

        certs_dir, data_dir = self._dirs
        if certs_dir is None or data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="idp-simulator-")
        root = Path(self._tmp) if self._tmp else None
        sock, port = _bind(self._base_url)
        self._socket = sock
        self._internal_url = f"http://127.0.0.1:{port}"
        tls_port = proxy_port = None
        if self._tls:
            self._tls_socket, tls_port = _bind(None)
        proxy_sock = None
        if self._proxy_wanted:
            from idp.web.connect_proxy import proxy_socket

            proxy_sock = self._proxy_socket = proxy_socket("127.0.0.1", 0)
            proxy_port = int(proxy_sock.getsockname()[1])
        # Its own ports, always: what the settings named is not what this process listens on.
        given = self._settings_arg
        settings = replace(
            given, port=port, tls=self._tls, tls_port=tls_port or given.tls_port,
            connect_proxy=proxy_port,
            base_url=self._base_url if self._base_url is not None else given.base_url,
            certs_dir=Path(certs_dir) if certs_dir is not None
            else root / "certs" if root else given.certs_dir,
            data_dir=Path(data_dir) if data_dir is not None
            else root / "data" if root else given.data_dir)
        clock = self._make_clock(settings)
        document = None
        if isinstance(self._config, Mapping):
            # Relative paths in it (provider_metadata, certificates) are resolved now.
            document, _ = DirectoryDocument.from_data(self._config,
                                                      aws_acs=settings.console_acs_url,
                                                      base=Path.cwd())
        elif isinstance(self._config, str | Path):
            settings = settings.with_overrides(config=Path(self._config).resolve())
        elif self._config is not None:
            raise SimulatorError("config must be a directory YAML path or a mapping shaped "
                                 f"like one, not {type(self._config).__name__}")
        app = create_app(settings, clock=clock, document=document)
        runtime: Runtime = app.state.runtime
        self._runtime = runtime
        config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning",
                                lifespan="off", **uvicorn_options(settings))
        server = uvicorn.Server(config)
        self._server = server
        self._thread = _serve_in_thread(server, sock, f"idp-simulator-{port}")
        if self._tls_socket is not None and tls_port is not None:
            from idp.tls import default_names, ensure_tls

            files = ensure_tls(settings.certs_dir, default_names(
                "127.0.0.1", sign_in=proxy_sock is not None))
            self._ca = files.ca_cert
            tls_config = uvicorn.Config(app, log_config=None, access_log=False,
                                        log_level="warning", lifespan="off",
                                        **tls_options(files), **uvicorn_options(settings))
            self._tls_server = uvicorn.Server(tls_config)
            self._tls_thread = _serve_in_thread(self._tls_server, self._tls_socket,
                                                f"idp-simulator-tls-{tls_port}")
            if proxy_sock is not None:
                self._proxy = _ProxyThread(proxy_sock, tls_port)
                self._proxy_socket = None  # the proxy owns it now

    def _make_clock(self, settings: Settings) -> Clock:
        if isinstance(self._clock_arg, dt.datetime):
            return SettableClock(frozen_at=self._clock_arg)
        if isinstance(self._clock_arg, SettableClock):
            return self._clock_arg
        if self._clock_arg is not None:
            raise SimulatorError("clock must be a SettableClock or a timezone-aware datetime "
                                 f"to freeze at, not {self._clock_arg!r}")
        return settings.clock()

    def close(self) -> None:
        """Stop serving and remove the temporary folders."""
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        if self._proxy_socket is not None:  # a start that failed before the proxy ran
            self._proxy_socket.close()
            self._proxy_socket = None
        servers = [(self._server, self._thread, self._socket),
                   (self._tls_server, self._tls_thread, self._tls_socket)]
        self._server = self._thread = self._socket = None
        self._tls_server = self._tls_thread = self._tls_socket = None
        for server, _thread, _sock in servers:
            if server is not None:
                server.should_exit = True
        for _server, thread, sock in servers:
            if thread is not None:
                thread.join(timeout=10)
            if sock is not None:  # uvicorn closed it if it served; not if the start failed
                sock.close()
        self._ca = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Simulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await asyncio.to_thread(self.close)

    @property
    def running(self) -> bool:
        """Whether it is serving (between ``start`` and ``close``)."""
        return self._server is not None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise SimulatorError("the simulator is not running; use 'with Simulator() as sim'")
        return self._runtime

    # --- where it is ------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def base_url(self) -> str:
        return self.settings.url

    @property
    def ca_bundle(self) -> Path:
        """The test CA the HTTPS listener's certificate chains to (``tls=True``): what
        ``REQUESTS_CA_BUNDLE`` must name for a client to trust ``base_url``."""
        self.runtime  # noqa: B018  (not running: SimulatorError)
        if self._ca is None:
            raise SimulatorError("this simulator serves no HTTPS: start it with tls=True")
        return self._ca

    @property
    def proxy_url(self) -> str:
        """``HTTPS_PROXY`` for clients that post to ``https://signin.aws.amazon.com/saml``
        (``connect_proxy=True``): a loopback CONNECT proxy to the console twin."""
        self.runtime  # noqa: B018  (not running: SimulatorError)
        if self._proxy is None:
            raise SimulatorError("this simulator has no CONNECT proxy: start it with "
                                 "connect_proxy=True")
        return f"http://127.0.0.1:{self._proxy.port}"

    @property
    def sts_endpoint(self) -> str:
        """``endpoint_url`` for boto3's STS client and ``aws sts --endpoint-url``: where this
        process reaches the STS (loopback, even when ``base_url`` names a public host)."""
        self.runtime  # noqa: B018  (not running: SimulatorError)
        return f"{self._internal_url}/aws/sts"

    @property
    def iam_endpoint(self) -> str:
        """``endpoint_url`` for boto3's IAM client and ``aws iam --endpoint-url``."""
        self.runtime  # noqa: B018  (not running: SimulatorError)
        return f"{self._internal_url}/aws/iam"

    @property
    def entity_id(self) -> str:
        return self.settings.entity_id

    @property
    def metadata_xml(self) -> bytes:
        """The IdP metadata AWS IAM imports (lists every published signing certificate)."""
        return self.runtime.services.identity_provider.metadata()

    @property
    def clock(self) -> SettableClock:
        """``now()``, ``freeze(at=None)``, ``advance(seconds)``, ``resume()``."""
        clock = self.runtime.clock
        if not isinstance(clock, SettableClock):
            raise SimulatorError("this simulator runs on a clock it cannot move")
        return clock

    # --- the directory, at runtime ----------------------------------------------------------

    def add_user(self, name: str, password: str | None = None, *, email: str | None = None,
                 roles: Iterable[str] = (), totp_secret: str | None = None,
                 attributes: Mapping[str, str | Iterable[str]] | None = None,
                 groups: Iterable[str] = (), display_name: str | None = None,
                 principal_tags: Mapping[str, str] | None = None) -> None:
        """Add a user (password default ``NAME-password``, as the demo's); ``roles`` are role
        ARNs or unique role names. ``DirectoryEditError`` if refused (nothing changes)."""
        roles, groups = _items(roles, "roles"), _items(groups, "groups")
        _strings(name=name, password=password, email=email, totp_secret=totp_secret,
                 display_name=display_name)
        for key, value in (attributes or {}).items():
            _items(value, f"attribute {key}")
        self.runtime.edit(lambda doc, directory: doc.with_user(
            name, password=password if password is not None else f"{name}-password",
            email=email, display_name=display_name, roles=roles, groups=groups,
            totp_secret=totp_secret, attributes=attributes, principal_tags=principal_tags,
            directory=directory))

    def remove_user(self, name: str) -> None:
        self.runtime.edit(lambda doc, _directory: doc.without_user(name))

    def grant_role(self, user: str, role: str) -> None:
        """Grant ``user`` a role (ARN or unique name) directly."""
        _strings(user=user, role=role)
        self.runtime.edit(lambda doc, directory: doc.with_grant(user, role, directory))

    def revoke_role(self, user: str, role: str) -> None:
        """Take back a role granted to ``user`` directly (group grants stay)."""
        _strings(user=user, role=role)
        self.runtime.edit(lambda doc, directory: doc.without_grant(user, role, directory))

    def add_role(self, name: str, *, account: str | None = None,
                 max_session_duration: int = 3600, trust_policy: Mapping[str, Any] | None = None,
                 path: str = "/", users: Iterable[str] = ()) -> str:
        """Add an IAM role (default account: the directory's first; default trust policy:
        that account's SAML provider); ``users`` are granted it. Returns its ARN."""
        users = _items(users, "users")
        _strings(name=name, account=account, path=path)
        if trust_policy is not None and not isinstance(trust_policy, Mapping):
            raise SimulatorError("trust_policy must be a mapping (the policy document's JSON "
                                 f"object), not {type(trust_policy).__name__}")
        account = account if account is not None else self.runtime.document.default_account()
        self.runtime.edit(lambda doc, _directory: doc.with_role(
            name, account=account, max_session_duration=max_session_duration,
            trust_policy=trust_policy, path=path, users=users))
        return f"arn:aws:iam::{account}:role{path}{name}"

    def add_service_provider(self, metadata_xml: bytes | str | None = None, *,
                             entity_id: str | None = None, acs_urls: Iterable[str] = (),
                             **options: Any) -> str:
        """Register an SP from its metadata, or from ``entity_id`` and ``acs_urls``; other
        keywords are the directory's SP keys (``name_id_format``, ``release``,
        ``sign_response``...). Replaces an SP with the same entity ID. Returns the ID."""
        if metadata_xml is not None and not isinstance(metadata_xml, bytes | str):
            raise SimulatorError("metadata_xml must be the SP's metadata as bytes or str, not "
                                 f"{type(metadata_xml).__name__}")
        raw = metadata_xml.encode("utf-8") if isinstance(metadata_xml, str) else metadata_xml
        entry = sp_entry(metadata_xml=raw, options={
            "entity_id": entity_id, "acs_urls": list(_items(acs_urls, "acs_urls")) or None,
            **options})
        self.runtime.edit(lambda doc, _d: doc.with_service_provider(entry, replace=True))
        return str(entry["entity_id"])

    # --- keys -------------------------------------------------------------------------------

    def add_key(self) -> KeyPair:
        """Key rollover 1: a new signing key, published in metadata, not yet signing."""
        return self.runtime.stage_key()

    def promote_key(self) -> KeyPair:
        """Key rollover 2: the new key signs; the old one stays in metadata."""
        return self.runtime.promote_key()

    def retire_key(self) -> KeyPair:
        """Key rollover 3: the old key leaves metadata; what it signed is refused."""
        return self.runtime.retire_key()

    # --- OpenID Connect ---------------------------------------------------------------------

    @property
    def oidc_issuer(self) -> str:
        """The OpenID Connect issuer, ``BASE/oidc`` (discovery at
        ``ISSUER/.well-known/openid-configuration``, keys at ``ISSUER/jwks``)."""
        return self.runtime.services.oidc.issuer

    def token(self, sub: str, aud: str | Iterable[str], ttl: int = 3600,
              claims: Mapping[str, Any] | None = None) -> str:
        """A workload JWT signed by the simulator's OIDC issuer, what ``idp token`` prints:
        ``iss`` (``oidc_issuer``), ``sub``, ``aud`` (several: a JSON array), ``iat``, ``nbf``,
        ``exp`` (``ttl`` seconds, 1-86400, on the simulator's clock) and ``jti``; ``claims``
        add to or override them. ``SimulatorError`` for bad arguments."""
        _strings(sub=sub)
        if claims is not None and not isinstance(claims, Mapping):
            raise SimulatorError(f"claims must be a mapping, not {type(claims).__name__}")
        audiences = _items(aud, "aud")
        try:
            return self.runtime.services.oidc.workload_token(sub, audiences, ttl=ttl,
                                                             claims=claims)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from None

    def write_token(self, path: str | Path, sub: str, aud: str | Iterable[str],
                    ttl: int = 3600, claims: Mapping[str, Any] | None = None) -> Path:
        """``token`` written to ``path`` (mode 0600, replaced atomically, no trailing newline:
        botocore sends ``AWS_WEB_IDENTITY_TOKEN_FILE`` as it is). Returns the path."""
        from idp.keys import atomic_write

        token = self.token(sub, aud, ttl=ttl, claims=claims)
        target = Path(path)
        atomic_write(target, token.encode("ascii"), mode=0o600)
        return target

    def rotate_oidc_key(self) -> KeyPair:
        """A new OpenID Connect signing key pair (``idp keys --oidc --rotate`` while serving);
        the previous one stays in ``/oidc/jwks``, so tokens it signed keep verifying."""
        return self.runtime.rotate_oidc_key()

    def workload_env(self, workload_id: str) -> dict[str, str]:
        """Environment variables that give an unmodified AWS SDK the role credentials of the
        directory's instance or task ``workload_id``, with STS calls sent here:
        ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (an instance) or
        ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` (a
        task), and ``AWS_ENDPOINT_URL_STS``. Other credential sources the SDK finds first
        (``AWS_ACCESS_KEY_ID``, a profile) still win, as in the SDK's chain."""
        directory, base = self.runtime.directory, self._internal_url
        env = {"AWS_ENDPOINT_URL_STS": f"{base}/aws/sts"}
        if workload_id in directory.instances:
            env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"{base}/imds/{workload_id}"
        elif workload_id in directory.tasks:
            env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"{base}/ecs/{workload_id}/credentials"
            token = directory.tasks[workload_id].authorization_token
            if token is not None:
                env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
        else:
            raise SimulatorError(f"no instance or task {workload_id!r} in the directory")
        return env

    # --- faults -----------------------------------------------------------------------------

    def inject_fault(self, fault: str | Fault, *, sp: str | None = None,
                     count: int | None = 1) -> None:
        """Break the next ``count`` Responses (to ``sp``, or any SP); ``count=None``: every
        Response to ``sp`` until ``clear_faults``."""
        if sp is not None and self.runtime.directory.service_provider(sp) is None:
            raise SimulatorError(f"service provider {sp} is not registered")
        try:
            self.runtime.faults.add(_fault(fault), sp=sp, count=count)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from None

    def clear_faults(self, sp: str | None = None) -> None:
        self.runtime.faults.clear(sp)

    # --- signing in -------------------------------------------------------------------------

    def mint(self, user: str, *, role: str | None = None, sp: str = AWS_ENTITY_ID,
             fault: str | Fault | None = None) -> str:
        """A signed base64 SAMLResponse for ``user``, straight from the IdP (no HTTP)."""
        body = self.runtime.services.identity_provider.mint(
            user, sp=sp, role=role, fault=_fault(fault) if fault is not None else None)
        return base64.b64encode(body).decode("ascii")

    def login(self, user: str, password: str | None = None, *, role: str | None = None,
              otp: str | None = None, sp: str | None = None) -> Login:
        """Sign ``user`` in and return the Response the IdP sends ``sp`` (default AWS) and,
        for AWS, credentials from the STS for ``role`` (needed if the user has several).

        With a ``password`` the login is checked as the login form checks it; ``AuthnFailed``
        if it is refused. Without one the harness vouches for the user. A TOTP user's code is
        checked (and used up) only when ``otp`` is given; otherwise the harness vouches for
        the second factor too.
        """
        services = self.runtime.services
        _strings(user=user, password=password, otp=otp, role=role, sp=sp)
        if otp is not None and password is None:
            raise SimulatorError("otp= is checked after the password, as at the login form: "
                                 "pass the password too")
        if password is not None and otp is not None:
            services.authenticator.authenticate(user, password, otp)  # one-time use applies
        elif password is not None:
            check_password(services.identity_provider.directory, user, password)
        target = sp or AWS_ENTITY_ID
        body = services.identity_provider.mint(user, sp=target)
        encoded = base64.b64encode(body).decode("ascii")
        root = parse(body)
        assertion = root.find(f"{SAML}Assertion")
        grants = client.roles_in_document(root)
        login = Login(user=user, sp=target, saml_response=encoded,
                      response_xml=body.decode("utf-8"),
                      assertion_xml=to_bytes(assertion).decode("utf-8")
                      if assertion is not None else "",
                      roles=tuple(g.role_arn for g in grants))
        if target != AWS_ENTITY_ID:
            return replace(login, _why_none=f"{target} is not AWS: no credentials")
        if role is None and len(grants) > 1:
            return replace(login, _why_none=f"{user} has {len(grants)} roles "
                           f"({', '.join(login.roles)}): pass role= to login")
        try:
            grant = client.choose_role(grants, role)
            http = client.UrllibHttp(self._internal_url)
            credentials = client.assume_role_with_saml(http, self._internal_url, grant, encoded)
        except IdPError as exc:
            raise SimulatorError(str(exc)) from None
        return replace(login, role=grant.role_arn, _credentials=credentials)

    def boto3_session(self, user: str, *, role: str | None = None, password: str | None = None,
                      region: str = "us-east-1") -> boto3.Session:
        """A boto3 Session holding ``user``'s credentials for ``role``, whose STS and IAM
        clients use the simulator's endpoints."""
        credentials = self.login(user, password, role=role).credentials
        return self._boto3_session(credentials.access_key_id, credentials.secret_access_key,
                                   credentials.session_token, region)

    def iam_session(self, user: str, *, account: str | None = None,
                    region: str = "us-east-1") -> boto3.Session:
        """A boto3 Session signing as IAM user ``user`` with the user's first active access
        key (from the directory file or made through the IAM API), whose STS and IAM clients
        use the simulator's endpoints. ``account`` picks among users of the same name."""
        state = self.runtime.services.federation.iam.state()
        found = [(a.id, u) for a in state.accounts.values() for u in a.users.values()
                 if u.name.lower() == user.lower() and account in (None, a.id)]
        if not found:
            raise SimulatorError(f"no IAM user {user!r}" + (f" in {account}" if account else ""))
        if len(found) > 1:
            raise SimulatorError(f"IAM user {user!r} exists in accounts "
                                 f"{', '.join(a for a, _ in found)}: pass account=")
        keys = [k for k in found[0][1].access_keys if k.active]
        if not keys:
            raise SimulatorError(f"IAM user {user!r} has no active access key")
        return self._boto3_session(keys[0].id, keys[0].secret, None, region)

    def _boto3_session(self, key_id: str, secret: str, token: str | None,
                       region: str) -> boto3.Session:
        try:
            import boto3
        except ImportError:  # pragma: no cover - boto3 is the user's own dependency
            raise SimulatorError("boto3 sessions need boto3: pip install boto3") from None
        endpoints = {"sts": self.sts_endpoint, "iam": self.iam_endpoint}

        class _SimulatorSession(boto3.Session):  # type: ignore[misc]
            def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
                if service_name in endpoints and len(args) < 5:  # endpoint_url not positional
                    kwargs.setdefault("endpoint_url", endpoints[service_name])
                return super().client(service_name, *args, **kwargs)

        import botocore.session  # type: ignore[import-untyped]

        # Only these credentials: an ambient AWS_PROFILE (even one naming no profile) must
        # not reach this session, so no profile is read from the environment.
        ambient_free = botocore.session.Session(session_vars={"profile": (None, None, None,
                                                                          None)})
        return _SimulatorSession(
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
            region_name=region, botocore_session=ambient_free)

    # --- observing and resetting ------------------------------------------------------------

    def exchanges(self, user: str | None = None, kind: str | None = None) -> list[Exchange]:
        """Every SAML message received and sent and every console/STS decision, oldest
        first, with the checks behind it (``kind``: ``authn-request``, ``response``,
        ``console``, ``sts``, ``assume-role``)."""
        return self.runtime.exchanges.entries(user=user, kind=kind)

    def reset(self) -> None:
        """Back to the configured directory, keys and clock, with empty state."""
        self.runtime.reset()


def _strings(**values: object) -> None:
    """``SimulatorError`` naming the first argument that is given and not a string."""
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise SimulatorError(f"{name} must be a string, not {value!r}")


def _items(value: str | Iterable[str], name: str) -> tuple[str, ...]:
    """A list argument; one string is one item (``roles="ReadOnly"``), not its letters."""
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise SimulatorError(f"{name} must be a string or a list of strings, not "
                             f"{value!r}") from None
    if not all(isinstance(item, str) for item in items):
        raise SimulatorError(f"{name} must be strings, not {items!r}")
    return items


def _fault(fault: str | Fault) -> Fault:
    if isinstance(fault, Fault):
        return fault
    if not isinstance(fault, str):
        raise SimulatorError(f"a fault is a name such as 'expired', not {fault!r}")
    try:
        return parse_fault(fault)
    except ValueError as exc:
        raise SimulatorError(str(exc)) from None


def _serve_in_thread(server: uvicorn.Server, sock: socket.socket, name: str) -> threading.Thread:
    """Run ``server`` on ``sock`` in a daemon thread; return once it serves."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name,
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    if not server.started:
        raise SimulatorError("the simulator's server did not start")
    return thread


class _ProxyThread:
    """The CONNECT proxy (``idp.web.connect_proxy``) on its own event loop thread."""

    def __init__(self, sock: socket.socket, tls_port: int) -> None:
        from idp.web.connect_proxy import ConnectProxy

        self.port = int(sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"idp-simulator-proxy-{self.port}")
        self._thread.start()
        self._proxy = ConnectProxy(upstream_port=tls_port)
        asyncio.run_coroutine_threadsafe(self._proxy.start(sock), self._loop).result(
            _START_TIMEOUT)

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._proxy.close(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


def _bind(base_url: str | None) -> tuple[socket.socket, int]:
    from idp.hosts import is_loopback
    from idp.web.server import listen

    """A listening loopback socket: on ``base_url``'s host and port when it names a loopback
    host, else on a free port of 127.0.0.1 (``base_url`` is then a public name, for example
    a proxy's, that SAML messages carry)."""
    host, port = "127.0.0.1", 0
    if base_url is not None:
        if not isinstance(base_url, str):
            raise SimulatorError(f"base_url must be a URL string, not {base_url!r}")
        parts = urllib.parse.urlsplit(base_url)
        if parts.path.strip("/"):
            raise SimulatorError(f"base_url {base_url} has a path: the Simulator serves at the "
                                 "root (a path prefix needs a reverse proxy and idp serve)")
        try:
            named_port = parts.port
        except ValueError:
            raise SimulatorError(f"base_url {base_url} has an invalid port") from None
        if is_loopback(parts.hostname):
            # The simulator is reached at exactly this URL: it must be one it can listen on.
            if not named_port:
                raise SimulatorError(f"base_url {base_url} names a loopback host: give its "
                                     "port too (or leave base_url out for a free one)")
            if ":" in (parts.hostname or ""):
                raise SimulatorError(f"base_url {base_url}: the Simulator listens on IPv4 "
                                     "loopback; use 127.0.0.1")
            host = "127.0.0.1" if parts.hostname == "localhost" else str(parts.hostname)
            port = named_port
    sock = listen(host, port)
    return sock, int(sock.getsockname()[1])

