"""The simulated AWS STS API: each operation from its Query parameters to its result.

Framework-free: an operation takes the request's decoded parameters (and, for signed
operations, the request as received), makes every check AWS makes in AWS's order, and returns
a result value or raises an ``idp.aws.errors.AwsError`` whose class carries AWS's code and
status. ``idp.web.sts_routes`` turns the HTTP request into those arguments and the result into
the Query protocol's XML (``idp.aws.wire``).

Operations (STS API Reference):

* ``AssumeRoleWithSAML``: unsigned; parameters (``idp.aws.params``) → provider → the SAML
  verifier (``AwsFederation.verify``) → ``DurationSeconds`` against the role's
  ``MaxSessionDuration`` → ``AwsFederation.assume``.
* ``AssumeRoleWithWebIdentity``: unsigned; every check is ``idp.aws.web_identity``'s
  (``WebIdentity.assume``), in AWS's order.
* Signed operations (SigV4, ``idp.aws.callers``: long-term ``AKIA`` keys of IAM users and
  temporary ``ASIA`` keys): ``GetCallerIdentity`` (no permission needed), ``AssumeRole`` and
  ``GetSessionToken`` (``idp.aws.assume_role``), ``GetAccessKeyInfo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from idp.aws.assume_role import AssumedRole, RoleAssumption
from idp.aws.callers import Callers
from idp.aws.credentials import account_of_key
from idp.aws.errors import (
    AccessDenied,
    AwsError,
    ExpiredTokenException,
    InvalidIdentityToken,
    NoSuchEntity,
    ValidationError,
)
from idp.aws.federation import AwsFederation
from idp.aws.limits import DEFAULT_SESSION_SECONDS
from idp.aws.mfa import MfaCodes
from idp.aws.oidc_keys import IssuerKeys
from idp.aws.params import (
    assume_role_params,
    assume_role_with_saml_params,
    get_access_key_info_params,
    get_session_token_params,
)
from idp.aws.principals import Caller
from idp.aws.sigv4 import SignedRequest
from idp.aws.trust import NOT_AUTHORIZED
from idp.aws.web_identity import WebIdentity
from idp.aws.wire import AssumeRoleWithSamlResult, AssumeRoleWithWebIdentityResult
from idp.errors import Rule, SamlValidationError

__all__ = ["Sts", "sts_error"]

_SIGNATURE_INVALID: Final = "Response signature invalid"

#: How each verifier rule surfaces at STS: the error class and AWS's message (``None``: the
#: simulator's own description). The messages AWS documents are quoted in the IAM User Guide,
#: "Troubleshooting SAML 2.0 federation with AWS"; any other rule is ``InvalidIdentityToken``.
_RULE_ERRORS: Final[Mapping[Rule, tuple[type[AwsError], str | None]]] = {
    Rule.SIGNATURE_MISSING: (InvalidIdentityToken, _SIGNATURE_INVALID),
    Rule.SIGNATURE_SHAPE: (InvalidIdentityToken, _SIGNATURE_INVALID),
    Rule.SIGNATURE_ALGORITHM: (InvalidIdentityToken, _SIGNATURE_INVALID),
    Rule.SIGNATURE_INVALID: (InvalidIdentityToken, _SIGNATURE_INVALID),
    Rule.ISSUER: (InvalidIdentityToken, "Issuer not present in specified provider"),
    Rule.AUDIENCE: (InvalidIdentityToken, "Response does not contain the required audience."),
    Rule.STALE: (ExpiredTokenException, "Token must be redeemed within 5 minutes of issuance"),
    Rule.EXPIRED: (ExpiredTokenException, None),
    Rule.SUBJECT: (AccessDenied, NOT_AUTHORIZED),
}


def sts_error(exc: SamlValidationError) -> AwsError:
    """The error STS answers for a verifier refusal (the simulator's finding kept as detail)."""
    cls, message = _RULE_ERRORS.get(exc.rule, (InvalidIdentityToken, None))
    return cls(message or exc.message, detail=exc.message, hint=exc.hint, rule=exc.rule)


class Sts:
    """The STS operations, over one ``AwsFederation``."""

    def __init__(self, federation: AwsFederation, *, callers: Callers | None = None,
                 roles: RoleAssumption | None = None,
                 web_identity: WebIdentity | None = None) -> None:
        self.federation = federation
        self.callers = callers if callers is not None else Callers(
            federation.iam, federation.credentials, federation.clock)
        self.roles = roles if roles is not None else RoleAssumption(
            federation.iam, federation.credentials, MfaCodes(federation.clock, None),
            federation.clock)
        self.web_identity = web_identity if web_identity is not None else WebIdentity(
            federation.iam, federation.credentials, federation.clock,
            IssuerKeys(federation.clock, {}))

    def assume_role_with_saml(self, params: Mapping[str, str]) -> AssumeRoleWithSamlResult:
        """``AssumeRoleWithSAML``, parameters as the Query protocol sends them."""
        request = assume_role_with_saml_params(params)
        federation = self.federation
        provider = federation.iam.saml_provider(request.principal_arn)
        if provider is None:
            raise InvalidIdentityToken("Specified provider doesn't exist.", rule=Rule.PROVIDER,
                                       detail=f"no SAML provider {request.principal_arn}")
        try:
            verified = federation.verify(request.saml_xml, provider)
        except SamlValidationError as exc:
            raise sts_error(exc) from None
        found = federation.iam.role(request.role_arn)
        requested = request.duration if request.duration is not None else DEFAULT_SESSION_SECONDS
        if found is not None and requested > found.max_session_duration:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration "
                                  "set for this role.", rule=Rule.SESSION_DURATION,
                                  detail=f"DurationSeconds {requested} > MaxSessionDuration "
                                  f"{found.max_session_duration} of {request.role_arn}")
        duration = federation.api_duration(verified, request.duration)
        return federation.assume(verified, request.role_arn, duration=duration,
                                 policy=request.policy, policy_arns=request.policy_arns).result

    def assume_role_with_web_identity(
            self, params: Mapping[str, str]) -> AssumeRoleWithWebIdentityResult:
        """``AssumeRoleWithWebIdentity``, parameters as the Query protocol sends them."""
        return self.web_identity.assume(params)

    def get_caller_identity(self, request: SignedRequest) -> Caller:
        """``GetCallerIdentity``: who signed the request (no permission is needed; IAM User
        Guide, "Permissions for GetCallerIdentity")."""
        return self.callers.authenticate(request, service="sts")

    def assume_role(self, request: SignedRequest, params: Mapping[str, str]) -> AssumedRole:
        """``AssumeRole``: the signer first (a bad signature says nothing about the role),
        then the parameters, then ``RoleAssumption.assume_role``."""
        caller = self.callers.authenticate(request, service="sts")
        return self.roles.assume_role(caller, assume_role_params(params))

    def get_session_token(self, request: SignedRequest,
                          params: Mapping[str, str]) -> AssumedRole:
        """``GetSessionToken``: an IAM user's own temporary credentials."""
        caller = self.callers.authenticate(request, service="sts")
        checked = get_session_token_params(params)
        return self.roles.session_token(caller, duration=checked.duration,
                                        serial_number=checked.serial_number,
                                        token_code=checked.token_code)

    def get_access_key_info(self, request: SignedRequest, params: Mapping[str, str]) -> str:
        """``GetAccessKeyInfo``: the account an access key ID belongs to.

        AWS reads the account from the key ID itself and "does not indicate the state of the
        access key" (STS API Reference, GetAccessKeyInfo). Here: a long-term key is looked up
        in the IAM state (Inactive keys too); a temporary ``ASIA`` key issued here carries its
        account in its ID (``idp.aws.credentials.account_of_key``), whether or not it has
        expired. Any other ID is ``NoSuchEntity`` ("The Access Key with id … cannot be
        found."), AWS's "error that the key doesn't exist" for a deleted key.
        """
        self.callers.authenticate(request, service="sts")
        key_id = get_access_key_info_params(params)
        key = self.federation.iam.state().access_key(key_id)
        if key is not None:
            return key.account_id
        account = account_of_key(key_id)
        if account is None:
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.",
                               detail="neither a key of the IAM state nor one issued here")
        return account
