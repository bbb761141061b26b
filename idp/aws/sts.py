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
* ``GetCallerIdentity``: SigV4-signed with temporary credentials (``idp.aws.sigv4``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from idp.aws.credentials import SessionClaims
from idp.aws.errors import (
    AccessDenied,
    AwsError,
    ExpiredTokenException,
    InvalidIdentityToken,
    ValidationError,
)
from idp.aws.federation import AwsFederation
from idp.aws.limits import DEFAULT_SESSION_SECONDS
from idp.aws.params import assume_role_with_saml_params
from idp.aws.sigv4 import SignedRequest, verify_request
from idp.aws.trust import NOT_AUTHORIZED
from idp.aws.wire import AssumeRoleWithSamlResult
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

    def __init__(self, federation: AwsFederation) -> None:
        self.federation = federation

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
        if found is not None and requested > found[1].max_session_duration:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration "
                                  "set for this role.", rule=Rule.SESSION_DURATION,
                                  detail=f"DurationSeconds {requested} > MaxSessionDuration "
                                  f"{found[1].max_session_duration} of {request.role_arn}")
        duration = federation.api_duration(verified, request.duration)
        return federation.assume(verified, request.role_arn, duration=duration,
                                 policy=request.policy, policy_arns=request.policy_arns).result

    def get_caller_identity(self, request: SignedRequest) -> SessionClaims:
        """``GetCallerIdentity``: who the SigV4-signed request's temporary credentials are."""
        return verify_request(request, credentials=self.federation.credentials,
                              clock=self.federation.clock)
