"""Runtime settings: one frozen object with secure defaults, read from the environment once.

Precedence: command-line flags > ``IDP_*`` environment variables > the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idp.errors import ConfigError

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Everything the service needs that is not the directory itself."""

    host: str = "127.0.0.1"
    """Interface to bind. Loopback unless told otherwise."""
    port: int = 8000
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
    replay_protection: bool = True
    """Refuse an assertion already redeemed at the console or STS (SAML Profiles §4.1.4.5).
    AWS does not document whether it does; ``IDP_REPLAY_PROTECTION=0`` turns it off."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1..65535, not {self.port}", source="settings")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be 1..64, not {self.workers}", source="settings")
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
        return f"http://{host}:{self.port}"

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
        """Read ``IDP_<FIELD>`` variables (e.g. ``IDP_BASE_URL``, ``IDP_CERTS_DIR``)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"IDP_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = str(f.type)
            try:
                if kind == "bool":
                    values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
                elif "int" in kind:
                    values[f.name] = int(raw)
                elif "Path" in kind:
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise ConfigError(
                    f"IDP_{f.name.upper()}={raw!r} is not a whole number", source="environment"
                ) from None
        return cls(**values)
