"""The console's IAM-user sign-in and switch role, framework-free.

IAM User Guide, "How IAM users sign in to AWS": an IAM user signs in at
``https://ACCOUNT.signin.aws.amazon.com/console`` (the account ID or its alias) with a user
name and password, then, with an MFA device ("Using MFA devices with your IAM sign-in page"),
the code of one device. The twin is ``/aws/signin?account=ID_OR_ALIAS``::

    IamSignIn.password_step(attempt)  throttle → account (ID or alias) → user → password
                                      → SignedIn | MfaNeeded(MfaPending) | Refused | Throttled
    IamSignIn.mfa_step(pending, …)    throttle → the step still open → one device's code,
                                      once (``MfaCodes.check``) → SignedIn | Refused | Throttled

Every failure answers AWS's one sentence: an unknown account, an unknown user, a user without
a console password and a wrong password are the same answer, and cost the same password
derivation. Failures count per account+user and per client address (``LoginThrottle``, in the
shared state store).

IAM User Guide, "Switch from a user to an IAM role (console)": the switch-role link
``https://signin.aws.amazon.com/switchrole?account=…&roleName=…&displayName=…`` (``color`` is
what link generators add) names an account (ID or alias), a role name that may carry its path
(``devops/Authorizer``; path and name together at most 64 characters, "a limit of the browser
cookies"), the name shown in the navigation bar and its colour. ``parse_switch`` validates them
(``SwitchRequest`` or the list of problems, in words); the route then asks STS
(``RoleAssumption.assume_role(…, console=True)``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from idp.authn.throttle import LoginThrottle
from idp.aws.iam.model import AccountState, IamState, IamUser, MfaDevice
from idp.clock import Clock, format_instant, parse_instant
from idp.directory.passwords import verify_password
from idp.store import StateStore

__all__ = [
    "BAD_CREDENTIALS",
    "MAX_DISPLAY_NAME",
    "MAX_ROLE_NAME",
    "USER_SESSION_SECONDS",
    "IamSignIn",
    "MfaNeeded",
    "MfaPending",
    "PasswordAttempt",
    "Refused",
    "SignedIn",
    "SwitchRequest",
    "Throttled",
    "find_account",
    "parse_switch",
]

#: What the AWS sign-in page answers for any wrong account, user name or password.
BAD_CREDENTIALS: Final = "Your authentication information is incorrect. Please try again."
BAD_CODE: Final = "Your authentication information is incorrect. Please try again."
CODE_REUSED: Final = ("That MFA code was already used. Wait for the next code from your "
                      "device.")
STEP_ENDED: Final = "This sign-in step has expired or was already completed. Sign in again."
#: "IAM user sessions are 12 hours by default" (IAM User Guide, "Switch from a user to an IAM
#: role (console)").
USER_SESSION_SECONDS: Final = 43_200
#: How long a password-verified user has to enter the MFA code (as the IdP's login).
MFA_STEP_SECONDS: Final = 300
#: IAM user names: 1-64 characters of ``[\w+=,.@-]`` (IAM User Guide, "IAM object quotas").
MAX_USER_NAME: Final = 64
#: IAM console passwords are at most 128 characters ("Set an account password policy").
MAX_PASSWORD: Final = 128
#: An account ID (12 digits, hyphens allowed as AWS prints them) or an alias (3-63).
MAX_ACCOUNT: Final = 63
#: "the combined Path and RoleName cannot exceed 64 characters" (IAM User Guide, "Methods to
#: assume a role").
MAX_ROLE_NAME: Final = 64
#: The navigation bar's display name: the console's switch-role form takes 64 characters.
MAX_DISPLAY_NAME: Final = 64

_ACCOUNT_ID_RE: Final = re.compile(r"\d{12}", re.ASCII)
#: IAM User Guide, "Your AWS account ID and its alias": lowercase letters, digits, hyphens;
#: not starting or ending with a hyphen; 3-63 characters.
_ALIAS_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]", re.ASCII)
_NAME_RE: Final = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
#: Path segments: IAM paths allow printable ASCII (``\u0021``-``\u007E``) between slashes.
_PATH_SEGMENT_RE: Final = re.compile(r"[\x21-\x2e\x30-\x7e]+", re.ASCII)
_COLOR_RE: Final = re.compile(r"[0-9a-fA-F]{6}", re.ASCII)
_MFA_STEP_ENDED: Final = "aws-signin-mfa-step"
_THROTTLE_PREFIX: Final = "aws-console|"


def _account_id_text(text: str) -> str | None:
    """``111122223333`` or ``1111-2222-3333`` as the 12 digits, else ``None``."""
    digits = text.replace("-", "") if re.fullmatch(r"\d{4}-\d{4}-\d{4}", text) else text
    return digits if _ACCOUNT_ID_RE.fullmatch(digits) else None


def find_account(state: IamState, text: str) -> AccountState | None:
    """The account an ID (hyphens allowed) or alias (any case) names, else ``None``."""
    value = text.strip()
    if not value or len(value) > MAX_ACCOUNT:
        return None
    account_id = _account_id_text(value)
    if account_id is not None:
        return state.account(account_id)
    return state.account_by_alias(value.lower())


# --- sign-in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordAttempt:
    """What the first sign-in form submitted, and from where."""

    account: str
    user_name: str
    password: str
    address: str


@dataclass(frozen=True)
class MfaPending:
    """A user past the password step who still owes a code: kept in the browser's signed
    session, ended on the server (``id``) when used, so a copy cannot finish it again."""

    account_id: str
    user_name: str
    started: dt.datetime
    id: str

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account_id, "user": self.user_name,
                "at": format_instant(self.started), "id": self.id}

    @classmethod
    def from_json(cls, data: object) -> MfaPending | None:
        if not isinstance(data, dict):
            return None
        try:
            step = cls(account_id=str(data["account"]), user_name=str(data["user"]),
                       started=parse_instant(str(data["at"])), id=str(data["id"]))
        except (KeyError, ValueError):
            return None
        return step if step.id else None


@dataclass(frozen=True)
class SignedIn:
    user: IamUser
    mfa_at: dt.datetime | None
    """When the MFA code was accepted (``None``: password only)."""


@dataclass(frozen=True)
class MfaNeeded:
    pending: MfaPending
    devices: tuple[MfaDevice, ...]


@dataclass(frozen=True)
class Refused:
    message: str
    mfa_step: bool = False
    """Ask for the code again (the step is still open)."""


@dataclass(frozen=True)
class Throttled:
    retry_after: int


SignInOutcome = SignedIn | MfaNeeded | Refused | Throttled


def _throttle_key(account: str, user_name: str) -> str:
    return f"{_THROTTLE_PREFIX}{account.lower()}|{user_name.lower()}"


class IamSignIn:
    """The IAM-user sign-in policy: password, MFA code once, throttling, single-use steps."""

    def __init__(self, state: IamState, *, throttle: LoginThrottle, store: StateStore,
                 clock: Clock) -> None:
        self._state = state
        self._throttle = throttle
        self._store = store
        self._clock = clock

    def _user(self, account_text: str, user_name: str, password: str) -> IamUser | None:
        """The user if everything matches; one password derivation whatever is wrong."""
        account = find_account(self._state, account_text)
        user = None
        if account is not None and 0 < len(user_name) <= MAX_USER_NAME:
            user = account.user(user_name)
        stored = user.password_hash if user is not None else None
        ok = verify_password(password[:MAX_PASSWORD + 1], stored)
        if user is None or not ok or len(password) > MAX_PASSWORD:
            return None
        return user

    def password_step(self, attempt: PasswordAttempt) -> SignInOutcome:
        account = find_account(self._state, attempt.account)
        key = _throttle_key(account.id if account else attempt.account.strip()[:MAX_ACCOUNT],
                            attempt.user_name[:MAX_USER_NAME + 1])
        wait = self._throttle.wait(key, attempt.address)
        if wait is not None:
            return Throttled(wait)
        if not attempt.account.strip() or not attempt.user_name or not attempt.password:
            return Refused("Enter the account ID or alias, your IAM user name and password.")
        user = self._user(attempt.account, attempt.user_name, attempt.password)
        if user is None:
            self._throttle.failed(key, attempt.address)
            return Refused(BAD_CREDENTIALS)
        devices = self._devices(user)
        if devices:
            return MfaNeeded(MfaPending(account_id=user.account_id, user_name=user.name,
                                        started=self._clock.now(),
                                        id=secrets.token_urlsafe(16)), devices)
        self._throttle.succeeded(key)
        return SignedIn(user, mfa_at=None)

    def _devices(self, user: IamUser) -> tuple[MfaDevice, ...]:
        account = self._state.account(user.account_id)
        return account.mfa_of(user.name) if account is not None else ()

    def pending(self, data: object) -> MfaPending | None:
        """The browser's open MFA step: fresh (5 minutes), not used, user still there."""
        step = MfaPending.from_json(data)
        if step is None or self.step_ended(step):
            return None
        if (self._clock.now() - step.started).total_seconds() > MFA_STEP_SECONDS:
            return None
        return step

    def devices_of(self, step: MfaPending) -> tuple[MfaDevice, ...]:
        account = self._state.account(step.account_id)
        user = account.user(step.user_name) if account is not None else None
        return self._devices(user) if user is not None else ()

    def step_ended(self, step: MfaPending) -> bool:
        return self._store.claimed(_MFA_STEP_ENDED, step.id)

    def end_step(self, step: MfaPending) -> bool:
        """End the step everywhere; True for the one caller that ended it."""
        return self._store.claim(_MFA_STEP_ENDED, step.id,
                                 step.started + dt.timedelta(seconds=MFA_STEP_SECONDS))

    def mfa_step(self, step: MfaPending, serial: str | None, code: str, address: str,
                 check: Callable[[MfaDevice, str], str | None]) -> SignInOutcome:
        """The code of one of the user's devices (``serial``; the only one when omitted),
        checked once by ``check(device, code)`` (``MfaCodes.check``)."""
        key = _throttle_key(step.account_id, step.user_name)
        wait = self._throttle.wait(key, address)
        if wait is not None:
            return Throttled(wait)
        account = self._state.account(step.account_id)
        user = account.user(step.user_name) if account is not None else None
        devices = self._devices(user) if user is not None else ()
        if user is None or not devices:
            self.end_step(step)
            return Refused(STEP_ENDED)
        device = next((d for d in devices if d.serial == serial), None) if serial else (
            devices[0] if len(devices) == 1 else None)
        code = code.strip()
        if device is None:
            return Refused("Choose the MFA device you are using.", mfa_step=True)
        if not re.fullmatch(r"\d{6}", code, re.ASCII):
            self._throttle.failed(key, address)
            return Refused("Enter the 6-digit code from your MFA device.", mfa_step=True)
        problem = check(device, code)
        if problem is not None:
            self._throttle.failed(key, address)
            return Refused(CODE_REUSED if problem == "reused" else BAD_CODE, mfa_step=True)
        if not self.end_step(step):
            return Refused(STEP_ENDED)
        self._throttle.succeeded(key)
        return SignedIn(user, mfa_at=self._clock.now())


# --- switch role -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchRequest:
    """A validated switch-role request (the account still to be resolved)."""

    account: str
    """The account ID (12 digits) or alias (lower case), as given."""
    role_name: str
    """``[PATH/]NAME`` without a leading slash."""
    display_name: str
    color: str | None
    """Six lower-case hex digits, or ``None``."""

    def role_arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role/{self.role_name}"


#: Unicode categories a display name may not hold: controls, format characters (bidi
#: overrides), surrogates, private use, line and paragraph separators.
_UNPRINTABLE: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def _printable(text: str) -> bool:
    """No control, format, surrogate or private-use characters. Characters newer than this
    Python's Unicode tables (category ``Cn``: an emoji of a later version) are allowed:
    ``str.isprintable`` would refuse them."""
    return not any(unicodedata.category(ch) in _UNPRINTABLE for ch in text)


def _role_problems(role_name: str) -> list[str]:
    if not role_name:
        return ["Enter the role name (roleName), for example Admin or devops/Authorizer."]
    if len(role_name) > MAX_ROLE_NAME:
        return [f"The role name with its path is {len(role_name)} characters; the console "
                f"switches only to roles whose path and name together are at most "
                f"{MAX_ROLE_NAME} characters."]
    *path, name = role_name.split("/")
    if not _NAME_RE.fullmatch(name):
        return ["The role name may contain only letters, digits and + = , . @ _ - "
                "(after an optional path such as devops/)."]
    if any(not _PATH_SEGMENT_RE.fullmatch(segment) for segment in path):
        return ["The role path must be segments of printable ASCII separated by single "
                "slashes, such as devops/ or team/app/."]
    return []


def parse_switch(account: str | None, role_name: str | None, display_name: str | None,
                 color: str | None) -> SwitchRequest | list[str]:
    """The switch-role parameters, or every problem with them (in words, for the page)."""
    problems: list[str] = []
    account_value = (account or "").strip()
    account_id = _account_id_text(account_value) if len(account_value) <= MAX_ACCOUNT else None
    if not account_value:
        problems.append("Enter the account ID (12 digits) or account alias.")
    elif account_id is None and not _ALIAS_RE.fullmatch(account_value.lower()):
        problems.append("The account must be a 12-digit account ID or an account alias "
                        "(3 to 63 lower-case letters, digits and hyphens).")
    role = (role_name or "").strip()
    if role.startswith("/"):
        role = role[1:]
    problems += _role_problems(role)
    display = (display_name or "").strip()
    if len(display) > MAX_DISPLAY_NAME:
        problems.append(f"The display name is {len(display)} characters; at most "
                        f"{MAX_DISPLAY_NAME}.")
    elif not _printable(display):
        problems.append("The display name may not contain control characters.")
    shade = (color or "").strip()
    if shade and not _COLOR_RE.fullmatch(shade):
        problems.append("The colour must be 6 hexadecimal digits without #, such as "
                        "ff9900.")
    if problems:
        return problems
    account_text = account_id or account_value.lower()
    return SwitchRequest(account=account_text, role_name=role,
                         display_name=display or f"{role.rsplit('/', 1)[-1]} @ {account_text}",
                         color=shade.lower() or None)
