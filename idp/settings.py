"""Runtime settings: one frozen object with secure defaults, read from the environment once.

Precedence: command-line flags > ``IDP_*`` environment variables > the defaults below.
Environment values are read strictly (see ``Settings.from_env``): a typo is an error, never a
silent fallback.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, get_type_hints
from urllib.parse import urlsplit

from idp.clock import MAX_DISTANCE, SettableClock, parse_zoned_instant
from idp.errors import ConfigError
from idp.vendors import Vendor, parse_vendors

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Everything the service needs that is not the directory itself.

    Each field can be set from an ``IDP_<FIELD>`` environment variable (``from_env``). Field types
    are limited to ``int``, ``int | None``, ``bool``, ``str``, ``str | None``, ``Path`` and
    ``Path | None``; importing this module fails with ``TypeError`` if a field has any other type.
    """

    host: str = "127.0.0.1"
    """Interface to bind. Loopback unless told otherwise."""
    port: int = 8000
    """TCP port to listen on (1..65535)."""
    base_url: str | None = None
    """Public URL of the service; defaults to ``http://HOST:PORT``. Entity IDs derive from it."""
    config: Path | None = None
    """Directory YAML; ``None`` runs the built-in demo directory."""
    certs_dir: Path = Path("certs")
    """Where this install's keys live (created 0700 / keys 0600)."""
    data_dir: Path = Path("data")
    """Where shared state lives (``state.sqlite3``: one-time-use IDs, login throttling)."""
    workers: int = 1
    """Worker processes for ``idp serve`` (they share ``certs_dir`` and ``data_dir``)."""
    state: str = "sqlite"
    """Where the state every worker shares lives (``idp.store``): ``sqlite`` (default: the
    file ``DATA_DIR/state.sqlite3``, for the processes of one machine) or a Redis server,
    ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` (``rediss://`` for TLS), so that
    ``idp serve`` processes on several machines act as one simulator."""
    key_size: int = 2048
    """RSA modulus for new keys: 2048 (as AWS's own SP certificate), 3072 or 4096."""
    clock_skew: int = 60
    """Seconds ``NotBefore`` is set in the past to absorb clock differences."""
    assertion_lifetime: int = 300
    """Seconds an assertion is valid (Conditions and SubjectConfirmationData NotOnOrAfter)."""
    sp_session_lifetime: int = 43200
    """Seconds from authentication to ``SessionNotOnOrAfter`` (caps AWS sessions)."""
    idp_session_lifetime: int = 8 * 3600
    """Seconds an IdP login session (cookie) spares a second login."""
    metadata_validity_days: int = 365
    """``validUntil`` of the published metadata, in days from when it is rendered."""
    max_request_bytes: int = 64 * 1024
    """Largest encoded SAMLRequest accepted (before decoding)."""
    replay_protection: str = "aws"
    """How often one assertion may be redeemed (``idp.aws.replay``): ``aws`` (default: once at
    the console, which never consumes it for STS; STS accepts it again while it is valid, as
    the CLI tools used against AWS need), ``strict`` (once in all, SAML Profiles §4.1.4.5) or
    ``off``. The boolean words of earlier versions keep their meaning: ``1``/``on`` (one
    redemption in all) is ``strict``, ``0``/``off`` is ``off``."""
    trusted_proxies: str | None = None
    """Comma-separated addresses or CIDR networks of the reverse proxies in front of the
    service. Only a request arriving from one of them has its ``X-Forwarded-For`` (client
    address, used by login throttling) and ``X-Forwarded-Proto`` believed. None by default:
    forwarded headers are ignored, whoever sends them."""
    header_timeout: int = 10
    """Seconds a client has to send a request's line and headers before it is cut off."""
    body_timeout: int = 20
    """Seconds a client has to send a request body the server reads (then 408)."""
    max_connections: int = 512
    """Connections plus requests in progress one worker serves at once; beyond it, 503."""
    clock_offset: int = 0
    """Seconds the simulated clock runs ahead of the real one (negative: behind). Both the
    IdP and the AWS side read it."""
    frozen_clock: str | None = None
    """An ISO 8601 instant (``2030-01-01T00:00:00Z``) the simulated clock stands still at;
    wins over ``clock_offset``."""
    admin: bool = False
    """Serve the admin API under ``/api/`` (bearer token in ``DATA_DIR/admin-token``)."""
    tls: bool = False
    """Also serve HTTPS on ``tls_port`` with a per-install test CA (``idp.tls``); without a
    ``base_url`` the public URL is then ``https://HOST:TLS_PORT``."""
    tls_port: int = 8443
    """The HTTPS port when ``tls`` is on (the plain port keeps serving everything too)."""
    connect_proxy: int | None = None
    """Port of a loopback CONNECT proxy that tunnels AWS sign-in hosts to the TLS listener
    (``idp.web.connect_proxy``); turns ``tls`` on."""
    compat: str | None = None
    """Comma-separated vendor login surfaces to serve (``idp.vendors``: okta, adfs, shibboleth,
    ecp), added to the directory's ``compat:`` list."""

    def __post_init__(self) -> None:
        word = self.replay_protection
        if isinstance(word, bool):  # the field's type before it had modes
            word = "1" if word else "0"
        mode = _REPLAY_WORDS.get(str(word).strip().lower())
        if mode is None:
            raise ConfigError(f"replay protection {self.replay_protection!r} must be aws, "
                              "strict or off (--replay-protection, IDP_REPLAY_PROTECTION)",
                              source="settings")
        object.__setattr__(self, "replay_protection", mode)  # one spelling for everyone after
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1..65535, not {self.port}", source="settings")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be 1..64, not {self.workers}", source="settings")
        if self.connect_proxy is not None and not self.tls:
            object.__setattr__(self, "tls", True)  # the proxy's only destination
        for name in ("tls_port", "connect_proxy"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 65536:
                raise ConfigError(f"{name.replace('_', ' ')} must be 1..65535, not {value}",
                                  source="settings")
        if self.tls and len({self.port, self.tls_port, self.connect_proxy} - {None}) < (
                3 if self.connect_proxy is not None else 2):
            raise ConfigError("the plain port, the TLS port and the CONNECT proxy port must "
                              "differ", source="settings")
        if self.tls and self.workers > 1:
            raise ConfigError("--tls serves HTTPS from one process: run it with one worker",
                              source="settings")
        parse_vendors(self.compat or "")  # an unknown surface fails at start-up
        if self.admin and self.workers > 1:
            raise ConfigError("the admin API changes one process's directory, keys, clock and "
                              "faults: run it with one worker", source="settings")
        from idp.store import check_location  # here: `import idp` need not load sqlite3

        try:
            object.__setattr__(self, "state", check_location(self.state))
        except ValueError as exc:
            raise ConfigError(f"{exc} (--state, IDP_STATE)", source="settings") from None
        if self.key_size not in (2048, 3072, 4096):
            raise ConfigError("key size must be 2048, 3072 or 4096", source="settings")
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    f"base URL {self.base_url!r} must be an absolute http(s) URL", source="settings"
                )
            if parts.query or parts.fragment:
                raise ConfigError("base URL must not have a query or fragment", source="settings")
            try:
                parts.port  # noqa: B018  (ValueError: not a number, or out of 0..65535)
            except ValueError:
                raise ConfigError(f"base URL {self.base_url!r} has an invalid port",
                                  source="settings") from None
        for name in ("header_timeout", "body_timeout", "max_connections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1", source="settings")
        _networks(self.trusted_proxies)  # a malformed list fails here, at start-up
        self.frozen_instant  # noqa: B018  (a malformed instant fails here too)
        if abs(self.clock_offset) > MAX_DISTANCE.total_seconds():
            raise ConfigError(f"clock offset must be within ±{int(MAX_DISTANCE.total_seconds())}"
                              " seconds (about 100 years)", source="settings")
        for name in ("clock_skew", "assertion_lifetime", "sp_session_lifetime",
                     "idp_session_lifetime", "metadata_validity_days", "max_request_bytes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative", source="settings")

    @property
    def url(self) -> str:
        """The base URL without a trailing slash."""
        if self.base_url is not None:
            return self.base_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.tls:
            return f"https://{host}:{self.tls_port}"
        return f"http://{host}:{self.port}"

    @property
    def plain_url(self) -> str:
        """Where the plain-HTTP listener answers (the STS endpoint for clients when TLS is on;
        the same as ``url`` without TLS or with a ``base_url``)."""
        if not self.tls or self.base_url is not None:
            return self.url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def vendors(self) -> frozenset[Vendor]:
        """``compat`` parsed."""
        return parse_vendors(self.compat or "")

    @property
    def base_path(self) -> str:
        """The base URL's path without a trailing slash (``""`` at the root): the prefix of
        every link the service builds for a browser."""
        return urlsplit(self.url).path.rstrip("/")

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``trusted_proxies`` parsed (empty: trust no forwarded header)."""
        return _networks(self.trusted_proxies)

    @property
    def frozen_instant(self) -> dt.datetime | None:
        """``frozen_clock`` parsed (``None``: the clock ticks)."""
        if self.frozen_clock is None:
            return None
        try:
            instant = parse_zoned_instant(self.frozen_clock, "frozen clock")
        except ValueError as exc:
            raise ConfigError(str(exc), source="settings") from None
        if abs(instant - dt.datetime.now(dt.UTC)) > MAX_DISTANCE:
            raise ConfigError(f"frozen clock {self.frozen_clock!r} is out of range: the "
                              "simulated time must stay within 100 years of the real time",
                              source="settings")
        return instant

    def clock(self) -> SettableClock:
        """A new simulated clock as these settings start it."""
        return SettableClock(offset=self.clock_offset, frozen_at=self.frozen_instant)

    @property
    def entity_id(self) -> str:
        return f"{self.url}/idp/metadata"

    @property
    def sso_url(self) -> str:
        return f"{self.url}/idp/sso"

    @property
    def console_acs_url(self) -> str:
        """The simulator's twin of ``https://signin.aws.amazon.com/saml``."""
        return f"{self.url}/aws/saml"

    @property
    def secure_cookies(self) -> bool:
        return self.url.startswith("https://")

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-``None`` fields replaced."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_env(self) -> dict[str, str]:
        """The ``IDP_*`` variables that make ``from_env`` rebuild these settings (for workers)."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            elif isinstance(value, Path):
                value = str(value.resolve())
            env[f"IDP_{f.name.upper()}"] = str(value)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``IDP_<FIELD>`` variables (e.g. ``IDP_BASE_URL``, ``IDP_CERTS_DIR``).

        ``environ`` defaults to ``os.environ``. Each value is read by its field's exact type:

        * ``bool``: ``1``/``0``, ``true``/``false``, ``yes``/``no`` or ``on``/``off``, in any
          case, surrounding whitespace ignored;
        * ``int``: ASCII digits with an optional leading ``-`` (no ``+``, ``_``, exponent or
          inner spaces), surrounding whitespace ignored; range checks are ``__post_init__``'s;
        * ``Path``: any text that is not blank and has no NUL character, taken as given;
        * ``str``: taken as given.

        An empty value (``IDP_PORT=``) keeps the default. Anything else that does not parse
        raises ``ConfigError`` naming the variable. ``IDP_*`` names that match no field are
        ignored.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, read in _readers(cls).items():
            variable = f"IDP_{name.upper()}"
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            values[name] = read(variable, raw)
        return cls(**values)


def _networks(listed: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if not listed or not listed.strip():
        return ()
    networks = []
    for entry in listed.split(","):
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"trusted proxy {entry.strip()!r} is not an IP address or CIDR network "
                "(for example 127.0.0.1 or 10.0.0.0/8)", source="settings") from None
    return tuple(networks)


#: ``replay_protection`` values, with the boolean words it had before it had modes.
#: Turning it "on" explicitly meant one redemption in all: that is ``strict`` now.
_REPLAY_WORDS: Final = {"aws": "aws", "strict": "strict", "off": "off",
                        "1": "strict", "true": "strict", "yes": "strict", "on": "strict",
                        "0": "off", "false": "off", "no": "off"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def _read_bool(variable: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(
        f"{variable}={raw!r} is not a boolean (use 1/0, true/false, yes/no or on/off)",
        source="environment",
    )


def _read_int(variable: str, raw: str) -> int:
    text = raw.strip()
    if _WHOLE_NUMBER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() will convert
            pass
    raise ConfigError(f"{variable}={raw!r} is not a whole number", source="environment")


def _read_path(variable: str, raw: str) -> Path:
    if not raw.strip() or "\0" in raw:
        raise ConfigError(f"{variable}={raw!r} is not a path", source="environment")
    return Path(raw)


def _read_str(variable: str, raw: str) -> str:
    return raw


def _read_optional_int(variable: str, raw: str) -> int | None:
    return _read_int(variable, raw)


_READER_BY_TYPE: dict[object, Callable[[str, str], object]] = {
    int: _read_int,
    bool: _read_bool,
    str: _read_str,
    str | None: _read_str,
    int | None: _read_optional_int,
    Path: _read_path,
    Path | None: _read_path,
}


def _readers(cls: type[Settings]) -> dict[str, Callable[[str, str], object]]:
    """Field name -> reader for its exact type; ``TypeError`` for a type no reader covers."""
    hints = get_type_hints(cls)
    readers: dict[str, Callable[[str, str], object]] = {}
    for f in fields(cls):
        hint = hints[f.name]
        read = _READER_BY_TYPE.get(hint)
        if read is None:
            raise TypeError(
                f"{cls.__name__}.{f.name} has type {hint!r}, which from_env cannot read; "
                "supported: int, int | None, bool, str, str | None, Path, Path | None"
            )
        readers[f.name] = read
    return readers


_readers(Settings)  # a field of an unsupported type fails at import, not at the first from_env
