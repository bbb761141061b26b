"""Signing in through a vendor surface, and the Response it answers with.

Every surface authenticates with the directory's own login policy (``Authenticator.submit``:
password, then a one-time TOTP code for MFA users, with login throttling per user and per
address) and answers with the IdP's own signed, IdP-initiated Response for AWS
(``IdentityProvider.respond``), so a vendor login proves exactly what the simulator's own
login page proves. What a surface must carry between requests is sealed (``idp.compat.tokens``):

* a login (``Principal``): Okta's ``sid`` cookie, AD FS's ``MSISAuth`` cookie, the ECP
  session cookie; it lasts the IdP session lifetime and ends early exactly when the IdP's own
  session would (``Authenticator.current``: the user left the directory, gained MFA, signed
  out);
* a password step still owing its code (``MfaStep``): Okta's ``stateToken``, AD FS's
  ``Context``; it lasts 5 minutes and is single-use (``Authenticator.end_mfa_step``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from idp.authn.login import (
    MFA_STEP_SECONDS,
    Authenticator,
    LoginAttempt,
    LoginOutcome,
    MfaStep,
    Principal,
)
from idp.clock import Clock
from idp.compat.names import directory_name
from idp.compat.tokens import Sealer
from idp.directory.model import AWS_ENTITY_ID, Directory
from idp.saml.bindings import PostForm
from idp.sso import IdentityProvider

__all__ = ["LOGIN", "MFA_STEP", "VendorSignIn"]

#: Token purposes (``Sealer``) of a sealed login and of a pending MFA step.
LOGIN: Final = "login"
MFA_STEP: Final = "mfa-step"


@dataclass(frozen=True)
class VendorSignIn:
    """The login policy, the IdP and the sealer, as the vendor surfaces use them."""

    authenticator: Authenticator
    identity_provider: IdentityProvider
    sealer: Sealer
    clock: Clock
    session_lifetime: int
    """Seconds a sealed login lasts (the IdP session lifetime)."""

    @property
    def directory(self) -> Directory:
        return self.identity_provider.directory

    def username(self, raw: str) -> str:
        """The directory user a vendor's user name field names (``idp.compat.names``)."""
        return directory_name(self.directory, raw)

    def submit(self, raw_username: str, password: str, otp: str | None, address: str, *,
               step: MfaStep | None = None) -> LoginOutcome:
        """One login attempt, throttled: ``LoggedIn``, ``OtpNeeded``, ``Refused`` or
        ``Throttled``. With ``step`` (a pending password step) and no password, only the code
        is checked, for that step's user; success ends the step (single use)."""
        username = step.username if step is not None and not password else self.username(
            raw_username)
        return self.authenticator.submit(LoginAttempt(
            username=username, password=password, otp=(otp or "").strip() or None,
            address=address, mfa_step=step))

    # --- sealed state ----------------------------------------------------------------------

    def seal_login(self, principal: Principal) -> str:
        return self.sealer.seal(LOGIN, principal.to_json(), self.session_lifetime)

    def open_login(self, token: object) -> Principal | None:
        """The login a sealed token carries, while the IdP would still honour it."""
        data = self.sealer.open(LOGIN, token)
        return None if data is None else self.authenticator.current(data)

    def end_login(self, token: object) -> None:
        """Sign the sealed login out everywhere, whether or not it is honoured right now (as
        the IdP's own sign-out ends whatever its cookie holds)."""
        data = self.sealer.open(LOGIN, token)
        principal = Principal.from_json(data) if data is not None else None
        if principal is not None:
            self.authenticator.sign_out(principal)

    def seal_step(self, step: MfaStep) -> str:
        return self.sealer.seal(MFA_STEP, step.to_json(), MFA_STEP_SECONDS)

    def open_step(self, token: object) -> MfaStep | None:
        """The pending password step a sealed token carries, while it can still be finished."""
        data = self.sealer.open(MFA_STEP, token)
        return None if data is None else self.authenticator.pending_mfa(data)

    # --- the answer --------------------------------------------------------------------------

    def aws_response(self, principal: Principal, *, acs_url: str | None = None,
                     relay_state: str | None = None,
                     in_response_to: str | None = None) -> PostForm:
        """The signed Response for AWS (``urn:amazon:webservices``) as an auto-POST form,
        IdP-initiated unless ``in_response_to`` names the request it answers (ECP).

        ``acs_url`` defaults to the AWS SP's first ACS; an AWS sign-in URL
        (``https://signin.aws.amazon.com/saml``) is always allowed. Raises ``IdPError``
        subclasses (``NoAwsRole`` for a user without roles) for the caller to render.
        """
        idp = self.identity_provider
        pending, _sp = idp.idp_initiated(AWS_ENTITY_ID, relay_state, acs_url=acs_url)
        if in_response_to is not None:
            pending = replace(pending, request_id=in_response_to)
        return idp.respond(pending, principal)
