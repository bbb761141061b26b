"""The IdP's browser session: what its signed cookie holds, and how that ends.

The cookie (Starlette's ``SessionMiddleware``, signed with the install's session secret) holds
the anti-CSRF token, the logged-in ``Principal``, a password step waiting for its one-time code
(``MfaStep``), the SSO steps waiting for a login (SAML ``Pending`` and OpenID Connect
``AuthorizationRequest`` alike, at most ``MAX_PENDING`` within ``MAX_STASH_BYTES``) and which
step a fresh login was made for (ForceAuthn, ``prompt=login``). What must end for
every copy of the cookie (a login, an MFA step) ends on the server through the
``Authenticator``; ``end`` is that for sign-out and for the login a new one replaces.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Final

from starlette.datastructures import FormData
from starlette.requests import Request

from idp.authn.login import MfaStep, Principal
from idp.errors import MalformedRequest
from idp.oidc.flow import AuthorizationRequest
from idp.sso import Pending
from idp.web.forms import field
from idp.web.state import services

__all__ = [
    "MAX_PENDING",
    "MAX_STASH_BYTES",
    "csrf_ok",
    "csrf_token",
    "end",
    "mark_fresh_login",
    "mfa_step",
    "mfa_step_ended",
    "peek",
    "peek_authorization",
    "principal",
    "remember",
    "start_mfa_step",
    "stash",
    "stash_authorization",
    "take_fresh_login",
    "unstash",
    "unstash_authorization",
]

#: How many unfinished SSO steps one browser session keeps.
MAX_PENDING: Final = 5
#: Budget (JSON bytes) for stashed steps: browsers drop cookies over 4 KiB, and the cookie is
#: base64 (4/3) plus a signature, so this keeps the whole session cookie well under that.
MAX_STASH_BYTES: Final = 2400


def csrf_token(request: Request) -> str:
    """The session's anti-CSRF token (a login form must come from a page of this site)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, form: FormData) -> bool:
    sent, expected = field(form, "csrf_token"), request.session.get("csrf")
    # compare_digest refuses non-ASCII str: compare the UTF-8 bytes (a 500 otherwise).
    return isinstance(expected, str) and sent is not None and hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def principal(request: Request) -> Principal | None:
    """The logged-in principal, if the session is still valid and the user still exists."""
    current = services(request).authenticator.current(request.session.get("principal"))
    if current is None:
        request.session.pop("principal", None)
    return current


def end(request: Request) -> None:
    """End on the server whatever this session holds (its login, an unfinished MFA step), so
    no copy of the cookie can use it again; then empty the cookie."""
    authenticator = services(request).authenticator
    ended = Principal.from_json(request.session.get("principal"))
    if ended is not None:
        authenticator.sign_out(ended)
    step = MfaStep.from_json(request.session.get("mfa_user"))
    if step is not None:
        authenticator.end_mfa_step(step)
    request.session.clear()


def remember(request: Request, new: Principal) -> None:
    """A fresh session for the new login (no fixation): only the pending steps carry over.

    The login it replaces (a second sign-in, ForceAuthn) ends on the server, as at sign-out.
    """
    pending = request.session.get("pending")
    end(request)
    if pending:
        request.session["pending"] = pending
    request.session["csrf"] = secrets.token_urlsafe(24)
    request.session["principal"] = new.to_json()


def stash(request: Request, pending: Pending) -> None:
    """Keep the step in the session cookie while the user signs in (oldest dropped first).

    Every field is bounded where it is read (ID, RelayState; contexts narrowed by
    ``precheck``); a step that still does not fit is refused, never silently dropped.
    """
    data = pending.to_json()
    size = len(json.dumps({pending.id: data}))
    if size > MAX_STASH_BYTES:
        raise MalformedRequest(
            f"This sign-in request is too large to hold while you sign in ({size} bytes of "
            f"state; at most {MAX_STASH_BYTES}). Shorten its RelayState.")
    _keep(request, pending.id, data)


def stash_authorization(request: Request, authorization: AuthorizationRequest) -> None:
    """``stash`` for an OpenID Connect authorization request; one too large to hold goes back
    to the client as ``invalid_request`` (its fields are bounded, so only a very long
    registered redirect URI gets there)."""
    data = authorization.to_json()
    size = len(json.dumps({authorization.id: data}))
    if size > MAX_STASH_BYTES:
        raise authorization.error(
            "invalid_request", f"the request is too large to hold while the user signs in "
            f"({size} bytes; at most {MAX_STASH_BYTES}): shorten state or nonce")
    _keep(request, authorization.id, data)


def _keep(request: Request, step_id: str, data: dict[str, object]) -> None:
    stash = dict(request.session.get("pending") or {})
    stash[step_id] = data
    while len(stash) > MAX_PENDING or (
        len(stash) > 1 and len(json.dumps(stash)) > MAX_STASH_BYTES
    ):
        stash.pop(next(iter(stash)))  # oldest first
    request.session["pending"] = stash


def _pending_from(data: object) -> Pending | None:
    """A stashed SAML step, or ``None`` if it is missing, not one we wrote, or an OpenID
    Connect request."""
    if not isinstance(data, dict) or AuthorizationRequest.from_json(data) is not None:
        return None
    try:
        return Pending.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def unstash(request: Request, pending_id: str) -> Pending | None:
    """The stashed SAML step ``pending_id``, removed from the session (an OpenID Connect
    request of that ID stays)."""
    stash = dict(request.session.get("pending") or {})
    found = _pending_from(stash.get(pending_id))
    if found is not None:
        stash.pop(pending_id)
        request.session["pending"] = stash
    return found


def peek(request: Request, pending_id: str | None) -> Pending | None:
    return _pending_from((request.session.get("pending") or {}).get(pending_id or ""))


def unstash_authorization(request: Request, pending_id: str) -> AuthorizationRequest | None:
    """The stashed OpenID Connect request ``pending_id``, removed from the session (a SAML
    step of that ID stays)."""
    stash = dict(request.session.get("pending") or {})
    found = AuthorizationRequest.from_json(stash.get(pending_id))
    if found is not None:
        stash.pop(pending_id)
        request.session["pending"] = stash
    return found


def peek_authorization(request: Request, pending_id: str | None
                       ) -> AuthorizationRequest | None:
    return AuthorizationRequest.from_json(
        (request.session.get("pending") or {}).get(pending_id or ""))


def start_mfa_step(request: Request, step: MfaStep) -> None:
    """Remember a password step that still owes its one-time code."""
    request.session["mfa_user"] = step.to_json()


def mfa_step(request: Request) -> MfaStep | None:
    """The pending password step, while it is fresh and not yet used or abandoned."""
    return services(request).authenticator.pending_mfa(request.session.get("mfa_user"))


def mfa_step_ended(request: Request) -> bool:
    """Whether this cookie's password step has been completed or abandoned already (by this
    or a copy of the cookie): a code sent for it now is a repeat, not a sign-in."""
    step = MfaStep.from_json(request.session.get("mfa_user"))
    return step is not None and services(request).authenticator.mfa_step_ended(step)


def mark_fresh_login(request: Request, pending_id: str) -> None:
    """The login just made was for SSO step ``pending_id`` (it satisfies its ForceAuthn)."""
    request.session["fresh_login_for"] = pending_id


def take_fresh_login(request: Request) -> str | None:
    """The SSO step the last login was made for, once (``None`` after that)."""
    value = request.session.pop("fresh_login_for", None)
    return value if isinstance(value, str) else None
