"""The running simulator's state, and the one place it changes while serving.

``Runtime`` loads what lasts (keys, the state store, secrets, the clock, the exchange log, the
fault plan) once, and builds the framework-free core (``Services``) from the directory and the
published keys. A change to either (a runtime directory edit, a key rollover, ``reset``) builds
a complete new ``Services`` first and then swaps it in with one assignment, under a lock: a
request sees the old core or the new one, never a mix, and an edit that fails validation
changes nothing.

Per process: with ``idp serve --workers N`` each worker has its own ``Runtime``, so runtime
changes need one worker (the admin API refuses to start with more).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from idp.authn.login import Authenticator
from idp.authn.throttle import LoginThrottle
from idp.authn.totp import TotpGuard
from idp.aws.assume_role import RoleAssumption
from idp.aws.callers import Callers
from idp.aws.console_session import ConsoleSessions
from idp.aws.credentials import CredentialIssuer
from idp.aws.federation import AwsFederation
from idp.aws.iam import Iam
from idp.aws.iam.api import IamApi
from idp.aws.mfa import MfaCodes
from idp.aws.oidc_keys import IssuerKeys
from idp.aws.replay import ReplayMode
from idp.aws.sts import Sts
from idp.aws.web_identity import WebIdentity
from idp.aws.workloads import Workloads
from idp.clock import Clock, SettableClock
from idp.compat.signin import VendorSignIn
from idp.compat.tokens import Sealer
from idp.directory import Directory, demo_yaml
from idp.directory.editor import DirectoryDocument
from idp.directory.loader import read_directory_file
from idp.errors import DirectoryEditError
from idp.exchanges import ExchangeLog
from idp.fault_plan import FaultPlan
from idp.keys import KeyPair, KeyStore, generate_pair, published_pairs
from idp.oidc.issuer import OidcIssuer
from idp.oidc.signing import KEY_COMMON_NAME as OIDC_COMMON_NAME
from idp.oidc.signing import KEY_PREFIX as OIDC_PREFIX
from idp.settings import Settings
from idp.sso import IdentityProvider
from idp.store import open_store
from idp.web.state import Services

__all__ = ["Runtime", "read_directory"]

log = logging.getLogger("idp.state")


def read_directory(settings: Settings) -> tuple[DirectoryDocument, Directory]:
    """The configured directory (``settings.config``, else the demo) as data and as a value."""
    aws_acs = settings.console_acs_url
    if settings.config is None:
        return DirectoryDocument.read(demo_yaml(), aws_acs=aws_acs, source="<demo>")
    path = settings.config
    # Relative paths inside it are resolved once, against the folder it is in now: a later
    # edit or reset must not depend on the process's working directory then.
    return DirectoryDocument.read(read_directory_file(path), aws_acs=aws_acs, source=str(path),
                                  base=path.resolve().parent)


def _fingerprints(pairs: dict[str, KeyPair]) -> dict[str, str]:
    return {slot: pair.cert_b64 for slot, pair in pairs.items()}


class Runtime:
    """Everything one process serves with; ``services`` is the current core."""

    def __init__(self, settings: Settings, *, directory: Directory | None = None,
                 document: DirectoryDocument | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock if clock is not None else settings.clock()
        self.keystore = KeyStore(settings.certs_dir, clock=self.clock)
        #: The OpenID Connect provider's keys (``certs/oidc-*.key``), rotated on their own.
        self.oidc_keystore = KeyStore(settings.certs_dir, clock=self.clock, prefix=OIDC_PREFIX)
        # The first start makes an RSA key while the directory's passwords are hashed: both
        # release the GIL, so on two cores a cold start is ~40 ms shorter.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="idp-keys") as pool:
            made = pool.submit(self.keystore.ensure, settings.entity_id,
                               key_size=settings.key_size)
            try:
                self.store = open_store(settings.state, settings.data_dir, self.clock)
                warning = self.store.persistence_warning()
                if warning is not None:
                    log.warning("%s", warning)
                if document is not None:
                    directory = document.build()
                elif directory is None:
                    document, directory = read_directory(settings)
            finally:
                signing = made.result()  # waits; raises the key store's error if any
        self._initial = (document, directory, self.keystore.snapshot(signing=signing))
        self._oidc_keys = self.oidc_keystore.snapshot(
            signing=self.oidc_keystore.ensure(OIDC_COMMON_NAME, key_size=settings.key_size))
        self._initial_oidc_keys = dict(self._oidc_keys)
        self._document, self._directory, self._keys = self._initial
        self.exchanges = ExchangeLog(self.clock)
        self.faults = FaultPlan()
        self.session_secret = self.keystore.session_secret()
        self.credentials = CredentialIssuer(self.keystore.secret("sts").encode("ascii"),
                                            self.clock)
        self.console_sessions = ConsoleSessions(self.session_secret, store=self.store,
                                                credentials=self.credentials, clock=self.clock)
        self._lock = threading.RLock()
        #: Mixed into the vendor tokens' key; empty until a ``reset`` (the same on every
        #: worker: each derives the key from the shared session secret alone).
        self._token_epoch = b""
        self._foreign: KeyPair | None = None
        self.services = self._build(self._directory, self._keys)

    # --- building -------------------------------------------------------------------------

    def _build(self, directory: Directory, keys: dict[str, KeyPair], *,
               edited: bool = False, resetting: bool = False) -> Services:
        """The core for ``directory`` and ``keys`` (``edited``: a runtime directory edit,
        which adds to the IAM state and never sets aside changes made through the IAM API;
        ``resetting``: the state store is cleared next, so IAM starts over on its next read)."""
        settings, clock, store = self.settings, self.clock, self.store
        published = published_pairs(keys)
        iam = Iam(directory, settings.entity_id, published, store=store, clock=clock,
                  edited=edited, later=resetting)
        mfa = MfaCodes(clock, store)
        callers = Callers(iam, self.credentials, clock)
        roles = RoleAssumption(iam, self.credentials, mfa, clock)
        federation = AwsFederation(
            iam=iam,
            credentials=self.credentials,
            clock=clock,
            console_url=settings.console_acs_url,
            skew=settings.clock_skew,
            replay=store,
            replay_mode=ReplayMode(settings.replay_protection),
        )
        identity_provider = IdentityProvider(settings, directory, published, clock,
                                             faults=self.faults, exchanges=self.exchanges,
                                             foreign_keys=self.foreign_keys)
        authenticator = Authenticator(directory, TotpGuard(clock, store), clock,
                                      throttle=LoginThrottle(store),
                                      session_lifetime=settings.idp_session_lifetime,
                                      store=store)
        # The token epoch: codes issued before a reset stop opening (the store that
        # remembered their one use is cleared by it).
        oidc = OidcIssuer(settings, directory, self._oidc_keys, clock, store,
                          self.session_secret.encode("utf-8") + self._token_epoch,
                          keys_dir=self.oidc_keystore.directory)
        web_identity = WebIdentity(iam, self.credentials, clock,
                                   IssuerKeys(clock, {oidc.issuer: oidc.jwks}))
        workloads = Workloads(directory, iam, self.credentials, clock,
                              self.session_secret.encode("utf-8"))
        return Services(
            settings=settings,
            clock=clock,
            store=store,
            identity_provider=identity_provider,
            authenticator=authenticator,
            federation=federation,
            sts=Sts(federation, callers=callers, roles=roles, web_identity=web_identity),
            console_sessions=self.console_sessions,
            session_secret=self.session_secret,
            exchanges=self.exchanges,
            faults=self.faults,
            vendors=settings.vendors | directory.compat,
            vendor_sign_in=VendorSignIn(
                authenticator=authenticator, identity_provider=identity_provider,
                sealer=Sealer(self.session_secret.encode("utf-8") + self._token_epoch, clock,
                              store),
                clock=clock,
                session_lifetime=settings.idp_session_lifetime),
            callers=callers,
            roles=roles,
            iam_api=IamApi(iam, clock, mfa),
            mfa=mfa,
            oidc=oidc,
            web_identity=web_identity,
            workloads=workloads,
        )

    def foreign_keys(self) -> KeyPair:
        """A key pair that is not in this IdP's metadata (the ``unknown-key`` fault), made
        once per process: RSA generation is slow."""
        with self._lock:
            if self._foreign is None:
                self._foreign = generate_pair("not-this-idp.example", 2048, self.clock)
            return self._foreign

    # --- reading --------------------------------------------------------------------------

    @property
    def directory(self) -> Directory:
        return self._directory

    @property
    def document(self) -> DirectoryDocument:
        if self._document is None:
            raise DirectoryEditError("this simulator was given a Directory object, which "
                                     "cannot be edited; start it from YAML to edit it")
        return self._document

    @property
    def keys(self) -> dict[str, KeyPair]:
        """The key pairs by slot: ``signing``, and ``next`` / ``previous`` when present."""
        return dict(self._keys)

    # --- changing -------------------------------------------------------------------------

    def edit(self, change: Callable[[DirectoryDocument, Directory], DirectoryDocument]) -> None:
        """Apply a directory edit: validated as a whole, then swapped in; or nothing."""
        with self._lock:
            document = change(self.document, self._directory)
            directory = document.build()
            services = self._build(directory, self._keys, edited=True)
            self._document, self._directory, self.services = document, directory, services

    def _rekey(self, step: Callable[[], KeyPair]) -> KeyPair:
        """A key step on disk, then the core rebuilt; if the rebuild fails, the key files are
        put back as they were (nothing half-done). Returns the pair the step names."""
        with self._lock:
            before = dict(self._keys)
            pair = step()
            try:
                keys = self.keystore.snapshot()
                services = self._build(self._directory, keys)
            except BaseException:
                self.keystore.restore(before)
                raise
            self.services, self._keys = services, keys
            return pair

    def stage_key(self) -> KeyPair:
        """Rollover step 1: a new key pair, published in metadata, not signing yet."""
        return self._rekey(lambda: self.keystore.stage(self.settings.entity_id,
                                                       key_size=self.settings.key_size))

    def promote_key(self) -> KeyPair:
        """Rollover step 2: the staged pair signs; the old one stays published."""
        return self._rekey(self.keystore.promote)

    def retire_key(self) -> KeyPair:
        """Rollover step 3: the previous pair leaves metadata (and the AWS side's trust)."""
        return self._rekey(self.keystore.retire)

    def rotate_oidc_key(self) -> KeyPair:
        """A new OpenID Connect signing pair; the previous one stays in the JWK Set, so tokens
        it signed keep verifying. If the rebuild fails, the key files are put back."""
        with self._lock:
            before = dict(self._oidc_keys)
            pair = self.oidc_keystore.rotate(OIDC_COMMON_NAME, key_size=self.settings.key_size)
            try:
                self._oidc_keys = self.oidc_keystore.snapshot(signing=pair)
                self.services = self._build(self._directory, self._keys)
            except BaseException:
                self._oidc_keys = before
                self.oidc_keystore.restore(before)
                raise
            return pair

    def reset(self) -> None:
        """Back to the configured directory, keys and clock, with no state: no redeemed
        assertions, used codes, throttling, sign-outs, faults or exchanges."""
        with self._lock:
            document, directory, keys = self._initial
            # Sealed vendor tokens made before (Okta sid, MSISAuth, ...) stop opening: the
            # store that remembered their sign-outs and one-time uses is cleared below.
            epoch, self._token_epoch = self._token_epoch, secrets.token_bytes(16)
            oidc_keys, self._oidc_keys = self._oidc_keys, dict(self._initial_oidc_keys)
            try:
                # first: if it fails, nothing changed
                services = self._build(directory, keys, resetting=True)
            except BaseException:
                self._token_epoch, self._oidc_keys = epoch, oidc_keys
                raise
            if _fingerprints(keys) != _fingerprints(self._keys):
                self.keystore.restore(keys)
            if _fingerprints(self._oidc_keys) != _fingerprints(oidc_keys):
                self.oidc_keystore.restore(self._oidc_keys)
            self.store.clear()
            if isinstance(self.clock, SettableClock):
                self.clock.reset()
            self.faults.clear()
            self.exchanges.clear()
            self.services = services
            self._document, self._directory, self._keys = document, directory, keys

    def close(self) -> None:
        self.store.close()

