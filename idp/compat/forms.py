"""The two form-based vendor surfaces, framework-free: what an AD FS or Shibboleth login form
posts, and the Shibboleth flow key that carries a login from one page to the next.

AD FS (``/adfs/ls/IdpInitiatedSignOn.aspx``) is posted by tools that never fetch the page
first, so its fields are read by name, whichever spelling arrives:

* aws-adfs posts ``UserName``, ``Password``, ``AuthMethod=FormsAuthentication``
  (``aws_adfs/html_roles_fetcher.py``), after a first POST of ``AuthMethod`` alone that tries
  its cookie jar (``aws_adfs/login.py``); for RSA SecurID it posts ``AuthMethod=
  SecurIDAuthentication``, ``Context`` and ``Passcode`` (``aws_adfs/_rsa_authenticator.py``);
* awsprocesscreds ``-p adfs`` posts every input of the page with the user name and password in
  ``ctl00$ContentPlaceHolder1$UsernameTextBox`` / ``…PasswordTextBox``
  (``awsprocesscreds/saml.py``, ``ADFSFormsBasedAuthenticator``);
* samlkeygen posts ``UserName``/``Password``/``AuthMethod``, then always the hidden inputs of
  ``form#passcodeForm`` plus ``Passcode`` (``samlkeygen/entry_points.py``,
  ``web_authenticate``).

Shibboleth's password flow posts ``j_username`` and ``j_password`` (Shibboleth IdP v4/v5
``views/login.vm``); the flow is named by an ``execution`` key in the URL. Here that key is a
sealed, single-use token bound to the browser session (``FlowKeys``), so it is also the form's
anti-CSRF token: the tools that post this form re-post nothing but the user name and password
(alohomora drops every other input, aws-saml-login posts a fixed dictionary).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from idp.compat.tokens import Sealer

__all__ = [
    "ADFS_FIELDS",
    "ENTER_CODE",
    "FLOW",
    "FLOW_SECONDS",
    "FORMS_AUTHENTICATION",
    "SECURID_AUTHENTICATION",
    "SHIBBOLETH_FIELDS",
    "STEP_GONE",
    "AdfsCredentials",
    "AdfsPasscode",
    "AdfsPost",
    "AdfsReauthentication",
    "Flow",
    "FlowKeys",
    "ShibbolethPost",
    "read_adfs",
    "read_shibboleth",
]

#: What both form surfaces say when a code step is over, and when a code is needed.
STEP_GONE: Final = "This sign-in step has expired or was already completed. Sign in again."
ENTER_CODE: Final = "Enter the one-time code from your authenticator app."

# --- AD FS ----------------------------------------------------------------------------------

#: ``AuthMethod`` of the forms (password) sign-in, and of the RSA SecurID step, whose shape
#: (``Context`` + ``Passcode``) is the one second factor aws-adfs and samlkeygen both speak.
FORMS_AUTHENTICATION: Final = "FormsAuthentication"
SECURID_AUTHENTICATION: Final = "SecurIDAuthentication"

_ADFS_USERNAME: Final = ("UserName", "ctl00$ContentPlaceHolder1$UsernameTextBox")
_ADFS_PASSWORD: Final = ("Password", "ctl00$ContentPlaceHolder1$PasswordTextBox")
#: Every field the AD FS surface reads (the route reads just these from the posted form).
ADFS_FIELDS: Final = (*_ADFS_USERNAME, *_ADFS_PASSWORD, "AuthMethod", "Context", "Passcode")


@dataclass(frozen=True)
class AdfsCredentials:
    """A user name and/or password was posted: a sign-in attempt."""

    username: str
    password: str
    passcode: str | None
    """A code posted with the password (one step for an MFA user), if any."""


@dataclass(frozen=True)
class AdfsPasscode:
    """The second-factor step: a code, for the pending step ``context`` names (if any)."""

    context: str | None
    passcode: str


@dataclass(frozen=True)
class AdfsReauthentication:
    """No credentials and no code: sign in with the ``MSISAuth`` cookie, or show the page."""


AdfsPost = AdfsCredentials | AdfsPasscode | AdfsReauthentication


def _first(fields: Mapping[str, str | None], names: tuple[str, ...]) -> str:
    for name in names:
        value = fields.get(name)
        if value:
            return value
    return ""


def read_adfs(fields: Mapping[str, str | None]) -> AdfsPost:
    """What an AD FS POST asks for (``fields``: the posted text fields by name).

    Credentials win: a user name or password in any of the spellings above is a sign-in
    attempt (the user name stripped, never cut: ``idp.compat.names`` refuses an overlong
    one). Otherwise a ``Context``, a ``Passcode`` (even empty) or
    ``AuthMethod=SecurIDAuthentication`` is the second-factor step; anything else (aws-adfs's
    ``AuthMethod=FormsAuthentication`` alone) is a request to re-authenticate with the cookie.
    """
    username = _first(fields, _ADFS_USERNAME).strip()
    password = _first(fields, _ADFS_PASSWORD)
    passcode = fields.get("Passcode")
    if username or password:
        return AdfsCredentials(username=username, password=password,
                               passcode=passcode.strip() if passcode else None)
    context = fields.get("Context") or None
    if (context is not None or passcode is not None
            or fields.get("AuthMethod") == SECURID_AUTHENTICATION):
        return AdfsPasscode(context=context, passcode=(passcode or "").strip())
    return AdfsReauthentication()


# --- Shibboleth -------------------------------------------------------------------------------

#: Every field the Shibboleth surface reads. ``j_otp`` is this simulator's second page (TOTP
#: users); Shibboleth's own MFA flows vary by plugin and the tools above speak none of them.
SHIBBOLETH_FIELDS: Final = ("j_username", "j_password", "j_otp")


@dataclass(frozen=True)
class ShibbolethPost:
    username: str
    password: str
    otp: str | None


def read_shibboleth(fields: Mapping[str, str | None]) -> ShibbolethPost:
    """The user name (stripped), password and code posted."""
    otp = (fields.get("j_otp") or "").strip()
    return ShibbolethPost(username=(fields.get("j_username") or "").strip(),
                          password=fields.get("j_password") or "", otp=otp or None)


#: Token purpose (``Sealer``) of a Shibboleth flow key, and how long one may wait to be posted.
FLOW: Final = "shib-flow"
FLOW_SECONDS: Final = 600


@dataclass(frozen=True)
class Flow:
    """Where a Shibboleth login stands: the password page, or (``mfa_step``: the sealed
    pending step, ``VendorSignIn.seal_step``) the one-time code page."""

    mfa_step: str | None = None


class FlowKeys:
    """Shibboleth ``execution`` keys: sealed, single-use, bound to one browser session.

    The browser session holds a random ``binding`` (``new_binding``, kept in the signed
    session cookie); each key carries a digest of it under the sealer's MAC (a key in a URL
    or a log shows nothing of the session). A key is honoured
    only with the session it was issued to (``peek``), and once (``redeem``: the nonce is
    claimed in the shared store, on every worker). So a key cannot be forged, replayed, or
    used from another browser, and a cross-site POST, which cannot read a key from the
    victim's session, never reaches the password check: the key is the form's CSRF token.
    """

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    @staticmethod
    def new_binding() -> str:
        return secrets.token_urlsafe(18)

    def issue(self, binding: str, mfa_step: str | None = None) -> str:
        """A new key for ``binding``'s session: the password page, or with ``mfa_step`` the
        code page of that pending step."""
        data: dict[str, str] = {"b": _digest(binding)}
        if mfa_step is not None:
            data["m"] = mfa_step
        return self._sealer.seal(FLOW, data, FLOW_SECONDS)

    def peek(self, key: object, binding: object) -> Flow | None:
        """The flow ``key`` names, if it is genuine, unexpired, not yet posted and issued to
        ``binding``; else ``None``. (Showing the page does not use the key up.)"""
        data = self._sealer.open(FLOW, key)
        if data is None or not _same(data.get("b"), binding) or self._sealer.used(FLOW, key):
            return None
        return _flow(data)

    def redeem(self, key: object, binding: object) -> Flow | None:
        """``peek``, once: the first POST of a key gets its flow, any later one ``None``.

        The binding is checked before the key is claimed, so posting a stolen key from
        another session does not use it up for its owner."""
        if self.peek(key, binding) is None:
            return None
        data = self._sealer.redeem(FLOW, key)
        return None if data is None else _flow(data)


def _digest(binding: str) -> str:
    return hashlib.sha256(binding.encode("utf-8")).hexdigest()


def _same(sealed: object, binding: object) -> bool:
    return (isinstance(sealed, str) and isinstance(binding, str) and bool(binding)
            and hmac.compare_digest(sealed.encode("ascii", "replace"),
                                    _digest(binding).encode("ascii")))


def _flow(data: Mapping[str, object]) -> Flow:
    step = data.get("m")
    return Flow(mfa_step=step if isinstance(step, str) else None)
