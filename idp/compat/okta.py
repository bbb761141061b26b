"""Okta's classic authentication API, framework-free: what Okta clients post and what they read.

The tools that get AWS credentials from Okta (gimme-aws-creds, okta-awscli, aws-okta-processor,
aws-okta-keyman, awsprocesscreds ``-p okta``, saml2aws) all speak Okta's *classic* pipeline:

1. ``POST /api/v1/authn`` with ``{"username", "password"}`` (Okta Authentication API,
   https://developer.okta.com/docs/reference/api/authn/#primary-authentication). The answer is
   a transaction: ``SUCCESS`` with a one-time ``sessionToken``, or ``MFA_REQUIRED`` with a
   ``stateToken`` and the user's ``factors``; each factor's ``_links.verify.href`` is where the
   code goes (``#verify-totp-factor``). gimme reads ``_embedded.user.profile.login``
   (``gimme_aws_creds/okta_classic.py:204``); aws-okta-processor keys factors by
   ``factorType:provider`` (``aws_okta_processor/core/okta.py:438-460``).
2. ``POST /api/v1/authn/factors/{id}/verify`` with ``{"stateToken", "passCode"}`` (gimme,
   aws-okta-processor, aws-okta-keyman, saml2aws) or ``{"stateToken", "answer"}`` (okta-awscli,
   ``oktaawscli/okta_auth_mfa_base.py:90-96``). saml2aws posts it once *without* a code
   (``pkg/provider/okta/okta.go``, ``verifyMfa``) and needs a 2xx then: ``MFA_CHALLENGE``.
   ``MFA_CHALLENGE`` is never the answer to a post that carried a code: okta-awscli would take
   it for a push and poll forever.
3. The ``sessionToken`` becomes a session: ``POST /api/v1/sessions`` (okta-awscli,
   aws-okta-processor: ``id`` is the ``sid`` cookie, ``expiresAt`` is cached; Sessions API,
   https://developer.okta.com/docs/reference/api/sessions/#create-session-with-session-token),
   or ``GET /login/sessionCookieRedirect?token=…&redirectUrl=…`` (gimme, saml2aws), which sets
   the ``sid`` and ``DT`` cookies, or the app link itself with ``?sessionToken=`` (awsprocesscreds).
   A ``sessionToken`` works once, like Okta's.
4. The app link (``/home/amazon_aws/<app id>/<n>``, listed by ``GET /api/v1/users/me/appLinks``)
   answers the auto-POST page whose first form posts ``SAMLResponse`` to
   ``https://signin.aws.amazon.com/saml`` (saml2aws accepts exactly that action; gimme derives
   the partition from it, ``gimme_aws_creds/main.py:164-185``).

What a client carries between steps is sealed (``idp.compat.tokens``): ``stateToken`` is the
pending password step (``VendorSignIn.seal_step``), ``sessionToken`` a principal redeemable
once within ``SESSION_TOKEN_SECONDS``, ``sid`` a sealed login (``VendorSignIn.seal_login``).

Errors are Okta's error objects (``errorCode``, ``errorSummary``, ``errorLink``, ``errorId``,
``errorCauses``) with the codes and statuses of Okta's list,
https://developer.okta.com/docs/reference/error-codes/. Throttled sign-ins answer Okta's rate
limit error, ``429 E0000047``, with ``X-Rate-Limit-Remaining``/``X-Rate-Limit-Reset`` (Okta,
"Rate limits", https://developer.okta.com/docs/reference/rl-best-practices/) and
``Retry-After``: the wait is temporary, which Okta's ``LOCKED_OUT`` (an administrator unlock)
is not.

Every absolute URL (verify links, app links) is built from the public base URL the simulator is
configured with, never from the request.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from idp.authn.login import (
    MFA_STEP_SECONDS,
    STEP_ALREADY_USED,
    LoggedIn,
    MfaStep,
    OtpNeeded,
    Principal,
    Refused,
    Throttled,
)
from idp.clock import format_instant
from idp.compat.signin import VendorSignIn
from idp.directory.model import User
from idp.saml.bindings import PostForm
from idp.text import has_lone_surrogate

__all__ = [
    "APP_ID",
    "APP_INSTANCE",
    "APP_PATH",
    "AWS_SIGN_IN",
    "DEVICE_COOKIE",
    "MAX_BODY_BYTES",
    "ORG_ID",
    "SESSION_COOKIE",
    "SESSION_TOKEN",
    "SESSION_TOKEN_SECONDS",
    "JsonObject",
    "OktaApi",
    "Reply",
    "body_too_large",
    "body_too_slow",
    "device_token",
    "error",
    "method_not_allowed",
    "organization",
    "parse_json",
    "surface_disabled",
]

#: The one app this organization has: Okta's "AWS Account Federation" (``amazon_aws``).
APP_ID: Final = "0oaidpsimulatoraws01"
APP_INSTANCE: Final = "272"
APP_PATH: Final = f"/home/amazon_aws/{APP_ID}/{APP_INSTANCE}"
#: Where the app's form posts: the AWS sign-in URL every Okta tool expects.
AWS_SIGN_IN: Final = "https://signin.aws.amazon.com/saml"
ORG_ID: Final = "00oidpsimulator00001"
APP_LABEL: Final = "AWS corp"

#: ``Sealer`` purpose and lifetime of a ``sessionToken`` (one use; Okta's last 5 minutes).
SESSION_TOKEN: Final = "okta-session-token"  # noqa: S105 - a token purpose, not a secret
SESSION_TOKEN_SECONDS: Final = 300
#: Cookie names Okta sets at ``sessionCookieRedirect`` (gimme reads both).
SESSION_COOKIE: Final = "sid"
DEVICE_COOKIE: Final = "DT"
#: Largest JSON body read (credentials and tokens are well under 5 KiB).
MAX_BODY_BYTES: Final = 16 * 1024

_TOTP_FACTOR: Final = "token:software:totp"
_TOTP_PROVIDER: Final = "GOOGLE"
_DEVICE_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")

JsonObject = dict[str, Any]


# --- replies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One JSON answer: status, body (``None``: no content) and extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def error(status: int, code: str, summary: str, causes: Iterable[str] = (),
          headers: Mapping[str, str] | None = None) -> Reply:
    """Okta's error object (``errorId`` is the request's id, also in ``X-Okta-Request-Id``)."""
    error_id = "oae" + secrets.token_urlsafe(16)
    body = {"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": error_id,
            "errorCauses": [{"errorSummary": cause} for cause in causes]}
    return Reply(status, body, {"X-Okta-Request-Id": error_id, **(headers or {})})


def _malformed(cause: str) -> Reply:
    return error(400, "E0000003", "The request body was not well-formed.", [cause])


def body_too_large(limit: int) -> Reply:
    return _malformed(f"The request body is larger than {limit} bytes.")


def body_too_slow(reason: str) -> Reply:
    """The body did not arrive in time (408, in Okta's error shape)."""
    return error(408, "E0000003", "The request body was not well-formed.", [reason],
                 {"Connection": "close"})


def surface_disabled(reason: str) -> Reply:
    """The Okta surface is off: the resource does not exist (``E0000007``, 404)."""
    return error(404, "E0000007", "Not found: Resource not found: okta (Surface)", [reason])


def method_not_allowed(allowed: Iterable[str]) -> Reply:
    return error(405, "E0000022", "The endpoint does not support the provided HTTP method",
                 headers={"Allow": ", ".join(allowed)})


def _authentication_failed() -> Reply:
    # Okta says nothing more: a failure never tells which part was wrong or who exists.
    return error(401, "E0000004", "Authentication failed")


def _invalid_token(cause: str) -> Reply:
    return error(401, "E0000011", "Invalid token provided", [cause])


def _invalid_session() -> Reply:
    return error(403, "E0000005", "Invalid session",
                 ["No valid sid cookie: sign in and create a session first."])


def _no_session() -> Reply:
    return error(404, "E0000007", "Not found: Resource not found: me (Session)")


def _throttled(retry_after: int, now: dt.datetime) -> Reply:
    reset = int(now.timestamp()) + retry_after
    return error(429, "E0000047", "API call exceeded rate limit due to too many requests.",
                 [f"Too many failed sign-in attempts. Try again in {retry_after} seconds."],
                 {"Retry-After": str(retry_after), "X-Rate-Limit-Remaining": "0",
                  "X-Rate-Limit-Reset": str(reset)})


def _refused_code(outcome: Refused) -> Reply:
    """A code the authenticator refused: wrong (``E0000068``) or used before (``E0000082``)."""
    if outcome.message == STEP_ALREADY_USED:
        return _invalid_token("This sign-in step was already completed. Sign in again.")
    if "already used" in outcome.message:
        return error(403, "E0000082", "Each code can only be used once. Please wait for a new "
                     "code and try again.", [outcome.message])
    return error(403, "E0000068", "Invalid Passcode/Answer",
                 ["Your passcode doesn't match our records. Please try again."])


# --- parsing -----------------------------------------------------------------------------------


def parse_json(raw: bytes, content_type: str | None) -> JsonObject | Reply:
    """The request's JSON object, or ``E0000003`` (Okta takes ``application/json`` only)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return _malformed("Send the body as JSON with Content-Type: application/json.")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8 / not JSON / nested too deeply
        return _malformed("The request body is not valid JSON.")
    if not isinstance(value, dict):
        return _malformed("The request body must be a JSON object.")
    if has_lone_surrogate(value):
        return _malformed("The request body is not valid JSON text (a lone surrogate).")
    return value


def _fields(body: JsonObject, *names: str) -> tuple[str, ...] | Reply:
    """String fields ('' when absent or null), or ``E0000003`` when one is a number, an
    object or a list (Okta's JSON binding cannot read those as strings either)."""
    values: list[str] = []
    for name in names:
        value = body.get(name)
        if value is None:
            values.append("")
        elif isinstance(value, str):
            values.append(value)
        else:
            return _malformed(f"{name} must be a string.")
    return tuple(values)


def device_token(current: str | None) -> str:
    """The ``DT`` cookie to set: the device's existing token if well-formed, else a new one."""
    if current is not None and _DEVICE_TOKEN_RE.fullmatch(current):
        return current
    return secrets.token_urlsafe(24)


def organization(base_url: str) -> Reply:
    """``GET /.well-known/okta-organization``: ``pipeline: v1`` is the classic engine, which
    gimme-aws-creds then speaks (``gimme_aws_creds/main.py:510-541``)."""
    return Reply(200, {"id": ORG_ID, "pipeline": "v1",
                       "_links": {"organization": {"href": base_url}},
                       "settings": {"analyticsCollectionEnabled": False,
                                    "bugReportingEnabled": False, "omEnabled": False}})


def _okta_id(prefix: str, *parts: str) -> str:
    """A stable 20-character Okta-style id (``00u…`` user, ``uft…`` factor)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return prefix + base64.b32encode(digest).decode("ascii").lower()[:17]


# --- the API -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OktaApi:
    """The Okta endpoints for one install: its sign-in policy and its public base URL."""

    sign_in: VendorSignIn
    base_url: str
    """The public base URL (``Settings.url``), without a trailing slash."""

    # --- links and ids -------------------------------------------------------------------------

    @property
    def app_link(self) -> str:
        return self.base_url + APP_PATH

    def _verify_link(self, user: User) -> str:
        return f"{self.base_url}/api/v1/authn/factors/{self.factor_id(user)}/verify"

    @staticmethod
    def user_id(user: User) -> str:
        return _okta_id("00u", "user", user.username)

    @staticmethod
    def factor_id(user: User) -> str:
        return _okta_id("uft", "totp", user.username)

    @staticmethod
    def _login(user: User) -> str:
        """Okta logins are email addresses; the directory name when there is none."""
        return user.email or user.username

    def _user(self, user: User) -> JsonObject:
        first, _, last = user.display_name.partition(" ")
        return {"id": self.user_id(user),
                "profile": {"login": self._login(user), "firstName": first or user.username,
                            "lastName": last, "locale": "en_US", "timeZone": "UTC"}}

    def _factor(self, user: User, *, links: bool = True) -> JsonObject:
        factor: JsonObject = {"id": self.factor_id(user), "factorType": _TOTP_FACTOR,
                              "provider": _TOTP_PROVIDER, "vendorName": _TOTP_PROVIDER,
                              "profile": {"credentialId": self._login(user)}}
        if links:
            factor["_links"] = {"verify": {"href": self._verify_link(user),
                                           "hints": {"allow": ["POST"]}}}
        return factor

    def _directory_user(self, username: str) -> User | None:
        return self.sign_in.directory.user(username)

    # --- transactions --------------------------------------------------------------------------

    def _success(self, principal: Principal) -> Reply:
        user = self._directory_user(principal.username)
        if user is None:  # left the directory between two lines: as any failure
            return _authentication_failed()
        token = self.sign_in.sealer.seal(SESSION_TOKEN, principal.to_json(),
                                         SESSION_TOKEN_SECONDS)
        expires = self.sign_in.clock.now() + dt.timedelta(seconds=SESSION_TOKEN_SECONDS)
        return Reply(200, {"expiresAt": format_instant(expires), "status": "SUCCESS",
                           "sessionToken": token, "_embedded": {"user": self._user(user)}})

    def _mfa_state(self, step: MfaStep, state_token: str, status: str) -> Reply:
        user = self._directory_user(step.username)
        if user is None or not user.has_mfa:
            return _invalid_token("This sign-in step can no longer be finished. Sign in again.")
        expires = step.started + dt.timedelta(seconds=MFA_STEP_SECONDS)
        body: JsonObject = {"stateToken": state_token, "expiresAt": format_instant(expires),
                            "status": status}
        if status == "MFA_REQUIRED":
            body["_embedded"] = {
                "user": self._user(user), "factors": [self._factor(user)],
                "policy": {"allowRememberDevice": False, "rememberDeviceLifetimeInMinutes": 0,
                           "rememberDeviceByDefault": False, "factorsPolicyInfo": {}}}
        else:  # MFA_CHALLENGE: the code is still owed; post it to the same link
            body["factorResult"] = "CHALLENGE"
            body["_embedded"] = {"user": self._user(user),
                                 "factor": self._factor(user, links=False)}
            body["_links"] = {"next": {"name": "verify", "href": self._verify_link(user),
                                       "hints": {"allow": ["POST"]}}}
        return Reply(200, body)

    def authn(self, body: JsonObject, address: str) -> Reply:
        """``POST /api/v1/authn``: password, then ``MFA_REQUIRED`` for users with TOTP.

        A body with a ``stateToken`` and no password asks for the state of that transaction
        (saml2aws does, after an app page that needed step-up).
        """
        fields = _fields(body, "username", "password", "stateToken")
        if isinstance(fields, Reply):
            return fields
        username, password, state_token = fields
        if state_token and not password:
            step = self.sign_in.open_step(state_token)
            if step is None:
                return _invalid_token("The stateToken is invalid, expired or already used.")
            return self._mfa_state(step, state_token, "MFA_REQUIRED")
        outcome = self.sign_in.submit(username, password, None, address)
        if isinstance(outcome, Throttled):
            return _throttled(outcome.retry_after, self.sign_in.clock.now())
        if isinstance(outcome, Refused):
            return _authentication_failed()
        if isinstance(outcome, OtpNeeded):
            return self._mfa_state(outcome.step, self.sign_in.seal_step(outcome.step),
                                   "MFA_REQUIRED")
        return self._success(outcome.principal)

    def verify(self, factor_id: str, body: JsonObject, address: str) -> Reply:
        """``POST /api/v1/authn/factors/{factor_id}/verify``: the TOTP code for a pending step.

        The code is ``passCode`` (Okta's documented field) or ``answer`` (okta-awscli). No code:
        ``MFA_CHALLENGE`` with the same ``stateToken``. A wrong code keeps the step (the right
        code still works); a right one ends it (single use).
        """
        fields = _fields(body, "stateToken", "passCode", "answer")
        if isinstance(fields, Reply):
            return fields
        state_token, pass_code, answer = fields
        code = (pass_code or answer).strip()
        step = self.sign_in.open_step(state_token) if state_token else None
        if step is None:
            return _invalid_token("The stateToken is missing, invalid, expired or already used.")
        user = self._directory_user(step.username)
        if user is None or factor_id != self.factor_id(user):
            return error(404, "E0000007",
                         f"Not found: Resource not found: {factor_id[:64]} (UserFactor)")
        if not code:
            return self._mfa_state(step, state_token, "MFA_CHALLENGE")
        outcome = self.sign_in.submit("", "", code, address, step=step)
        if isinstance(outcome, Throttled):
            return _throttled(outcome.retry_after, self.sign_in.clock.now())
        if isinstance(outcome, Refused):
            return _refused_code(outcome)
        if isinstance(outcome, OtpNeeded):  # pragma: no cover - a code was sent
            return self._mfa_state(step, state_token, "MFA_CHALLENGE")
        assert isinstance(outcome, LoggedIn)
        return self._success(outcome.principal)

    # --- session tokens and sessions -----------------------------------------------------------

    def redeem(self, session_token: object) -> Principal | None:
        """The principal a ``sessionToken`` carries, once (a second use gets ``None``)."""
        data = self.sign_in.sealer.redeem(SESSION_TOKEN, session_token)
        return None if data is None else self.sign_in.authenticator.current(data)

    def login(self, sid: object) -> Principal | None:
        """The login a ``sid`` cookie carries, while the IdP would honour it."""
        return self.sign_in.open_login(sid)

    def seal_login(self, principal: Principal) -> str:
        return self.sign_in.seal_login(principal)

    def _session(self, sid: str, principal: Principal) -> Reply:
        user = self._directory_user(principal.username)
        if user is None:  # pragma: no cover - ``login`` already checked the directory
            return _no_session()
        instant = format_instant(principal.instant)
        expires = principal.instant + dt.timedelta(seconds=self.sign_in.session_lifetime)
        me = f"{self.base_url}/api/v1/sessions/me"
        return Reply(200, {
            "id": sid, "userId": self.user_id(user), "login": self._login(user),
            "createdAt": instant, "expiresAt": format_instant(expires), "status": "ACTIVE",
            "lastPasswordVerification": instant,
            "lastFactorVerification": instant if principal.mfa else None,
            "amr": ["pwd", "mfa", "otp"] if principal.mfa else ["pwd"],
            "idp": {"id": ORG_ID, "type": "OKTA"}, "mfaActive": principal.mfa,
            "_links": {
                "self": {"href": me, "hints": {"allow": ["GET", "DELETE"]}},
                "refresh": {"href": f"{me}/lifecycle/refresh", "hints": {"allow": ["POST"]}},
                "user": {"name": user.display_name,
                         "href": f"{self.base_url}/api/v1/users/{self.user_id(user)}",
                         "hints": {"allow": ["GET"]}}}})

    def create_session(self, body: JsonObject) -> Reply:
        """``POST /api/v1/sessions`` with ``{"sessionToken"}``: the session; ``id`` is the
        ``sid`` cookie value. The token is consumed."""
        fields = _fields(body, "sessionToken")
        if isinstance(fields, Reply):
            return fields
        (token,) = fields
        principal = self.redeem(token) if token else None
        if principal is None:
            return _authentication_failed()
        return self._session(self.seal_login(principal), principal)

    def current_session(self, sid: str | None) -> Reply:
        """``GET /api/v1/sessions/me`` and ``POST …/me/lifecycle/refresh`` (the simulator's
        sessions end when the IdP session does; refreshing answers the same ``expiresAt``)."""
        principal = self.login(sid) if sid else None
        if sid is None or principal is None:
            return _no_session()
        return self._session(sid, principal)

    def end_session(self, sid: str | None) -> Reply:
        """``DELETE /api/v1/sessions/me``: sign the login out everywhere (204)."""
        if sid is None or self.login(sid) is None:
            return _no_session()
        self.sign_in.end_login(sid)
        return Reply(204, None)

    def app_links(self, sid: str | None) -> Reply:
        """``GET /api/v1/users/me/appLinks``: the AWS app, for a user with an AWS role
        (Users API, "List all assigned app links"; okta-awscli picks ``appName ==
        amazon_aws`` and reads ``label``, ``linkUrl``, ``sortOrder``)."""
        principal = self.login(sid) if sid else None
        user = self._directory_user(principal.username) if principal else None
        if user is None:
            return _invalid_session()
        if not self.sign_in.directory.roles_for(user):
            return Reply(200, [])
        return Reply(200, [{
            "id": _okta_id("00u", "applink", user.username), "label": APP_LABEL,
            "linkUrl": self.app_link, "logoUrl": f"{self.base_url}/favicon.ico",
            "appName": "amazon_aws", "appInstanceId": APP_ID,
            "appAssignmentId": _okta_id("0ua", "assignment", user.username),
            "credentialsSetup": False, "hidden": False, "sortOrder": 0}])

    # --- the browser side ----------------------------------------------------------------------

    def redirect_target(self, url: str | None) -> str | None:
        """Where ``sessionCookieRedirect`` may send the browser: one of this host's app links
        (absolute on the public base URL, or root-relative), else ``None``. No redirectUrl:
        the app link. Never anywhere else (no open redirect)."""
        if url is None or url == "":
            return self.app_link
        if len(url) > 2048 or any(ord(c) < 0x21 or c == "\\" for c in url):
            return None
        try:
            parts = urlsplit(url)
        except ValueError:  # "http://[::1/home": not a URL at all
            return None
        base = urlsplit(self.base_url)
        if parts.scheme or parts.netloc:
            if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(),
                                                                 base.netloc.lower()):
                return None
        elif not url.startswith("/"):
            return None
        if parts.path != base.path.rstrip("/") + APP_PATH or parts.fragment:
            return None
        return self.app_link + (f"?{parts.query}" if parts.query else "")

    @staticmethod
    def is_app(app_id: str, instance: str) -> bool:
        return app_id == APP_ID and instance == APP_INSTANCE

    def aws_form(self, principal: Principal) -> PostForm:
        """The app's answer: the signed Response for AWS, posted to the AWS sign-in URL.

        Raises ``IdPError`` subclasses (``NoAwsRole``) for the caller's error page."""
        return self.sign_in.aws_response(principal, acs_url=AWS_SIGN_IN)
