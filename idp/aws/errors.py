"""AWS API errors as classes: the wire code, HTTP status and fault type live on the class.

A Query-protocol error is sent as an ``ErrorResponse`` (``idp.aws.wire.error_response``)::

    <ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>…</Message>
    </Error><RequestId>…</RequestId></ErrorResponse>

Codes and statuses: the ``errors`` of each operation in botocore's
``botocore/data/sts/2011-06-15/service-2.json`` and the AWS STS API Reference "Common Errors"
page (``MissingAction``, ``InvalidAction``, ``MalformedQueryString``, ``IncompleteSignature``,
``SignatureDoesNotMatch``, ``InvalidClientTokenId``, ``MissingAuthenticationToken``,
``InternalFailure`` …). Raise sites pass only what varies: the message (where AWS's is not
fixed), and what the simulator found (``detail``), how to fix it (``hint``) and which check
refused (``rule``) for the console's diagnostic page and the log.
"""

from __future__ import annotations

from typing import ClassVar

from idp.errors import IdPError, Rule

__all__ = [
    "AccessDenied",
    "AwsError",
    # IAM (IAM API Reference, "Common Errors" and each operation's errors)
    "ConcurrentModification",
    "DeleteConflict",
    "EntityAlreadyExists",
    "EntityTemporarilyUnmodifiable",
    "ExpiredToken",
    "ExpiredTokenException",
    "IDPCommunicationError",
    "IDPRejectedClaim",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidAuthenticationCode",
    "InvalidClientTokenId",
    "InvalidIdentityToken",
    "InvalidInput",
    "LimitExceeded",
    "MalformedPolicyDocument",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NoSuchEntity",
    "PackedPolicyTooLarge",
    "PasswordPolicyViolation",
    "RequestTimeout",
    "RequestTooLarge",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "UnmodifiableEntity",
    "ValidationError",
]


class AwsError(IdPError):
    """An AWS API error. Subclasses set ``code`` and ``http_status``, and may set a fixed
    ``default_message`` (then the raise site passes none)."""

    code: ClassVar[str] = "InternalFailure"
    sender: ClassVar[bool] = True
    """``Sender`` (the caller's fault) or ``Receiver`` in ``<Type>``."""
    default_message: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, *, detail: str | None = None,
                 hint: str | None = None, rule: Rule | None = None) -> None:
        text = message if message is not None else self.default_message
        if text is None:
            raise TypeError(f"{type(self).__name__} needs a message")
        super().__init__(text)
        self.message = text
        self.detail = detail
        """What the simulator found (AWS never says; the console's diagnostic page does)."""
        self.hint = hint
        self.rule = rule

    @property
    def fault_type(self) -> str:
        return "Sender" if self.sender else "Receiver"

    def diagnosed(self, *, detail: str | None, hint: str | None) -> AwsError:
        """The same error (class, message, rule) with a better diagnosis."""
        return type(self)(self.message, detail=detail, hint=hint, rule=self.rule)


class AccessDenied(AwsError):
    """The trust policy, the role pair or the role itself does not allow the call."""

    code = "AccessDenied"
    http_status = 403


class InvalidIdentityToken(AwsError):
    """The SAML Response (or web identity token) is not one STS accepts."""

    code = "InvalidIdentityToken"


class ExpiredTokenException(AwsError):
    """The SAML assertion (or web identity token) has expired."""

    code = "ExpiredTokenException"


class IDPRejectedClaim(AwsError):
    """STS AssumeRoleWithWebIdentity / AssumeRoleWithSAML: "The identity provider (IdP)
    reported that authentication failed. This might be because the claim is invalid."."""

    code = "IDPRejectedClaim"
    http_status = 403


class IDPCommunicationError(AwsError):
    """STS AssumeRoleWithWebIdentity: "The request could not be fulfilled because the
    identity provider (IDP) that was asked to verify the incoming identity token could not be
    reached. This is often a transient error caused by network conditions."."""

    code = "IDPCommunicationError"


class ExpiredToken(AwsError):
    """The request was signed with temporary credentials past their expiration (403 on every
    API, as AWS answers it: the botocore model's ``ExpiredTokenException``/400 is what STS
    uses for an expired SAML assertion or web identity token, not for credentials)."""

    code = "ExpiredToken"
    http_status = 403
    default_message = "The security token included in the request is expired"


class InvalidClientTokenId(AwsError):
    """The access key ID or session token is not one AWS issued."""

    code = "InvalidClientTokenId"
    http_status = 403
    default_message = "The security token included in the request is invalid."


class MissingAuthenticationToken(AwsError):
    """A signed operation arrived with no ``Authorization``."""

    code = "MissingAuthenticationToken"
    http_status = 403
    default_message = "Request is missing Authentication Token"


class IncompleteSignature(AwsError):
    """The ``Authorization`` header (or its date) is malformed or incomplete."""

    code = "IncompleteSignature"


class SignatureDoesNotMatch(AwsError):
    """The SigV4 signature, its scope or its time does not match."""

    code = "SignatureDoesNotMatch"
    http_status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


class ValidationError(AwsError):
    """A parameter breaks its documented constraint (length, range, pattern)."""

    code = "ValidationError"


class RequestTooLarge(ValidationError):
    """The request body is larger than the simulator reads (answered 413)."""

    http_status = 413


class RequestTimeout(AwsError):
    """The request body did not arrive within the body timeout (answered 408)."""

    code = "RequestTimeout"
    http_status = 408
    default_message = ("Your socket connection to the server was not read from or written to "
                       "within the timeout period.")


class MissingParameter(AwsError):
    """A required parameter is absent or empty."""

    code = "MissingParameter"


class MalformedPolicyDocument(AwsError):
    """A policy document (session, trust or inline policy) is not one IAM accepts."""

    code = "MalformedPolicyDocument"


class PackedPolicyTooLarge(AwsError):
    """The session policy and session tags together exceed the packed limit."""

    code = "PackedPolicyTooLarge"


class MissingAction(AwsError):
    """The request has no ``Action``."""

    code = "MissingAction"


class InvalidAction(AwsError):
    """The ``Action`` (or its ``Version``) is not an operation of this API."""

    code = "InvalidAction"


class MalformedQueryString(AwsError):
    """The query string or form body cannot be read."""

    code = "MalformedQueryString"
    http_status = 404


class ServiceUnavailable(AwsError):
    """The shared state cannot be read or written right now (botocore retries it)."""

    code = "ServiceUnavailable"
    http_status = 503
    sender = False
    default_message = "Service is unable to handle request."


class InternalFailure(AwsError):
    """A bug in the simulator: still answered in AWS's shape, never as an HTML page."""

    code = "InternalFailure"
    http_status = 500
    sender = False
    default_message = ("The request processing has failed because of an unknown error, "
                       "exception or failure.")


# --------------------------------------------------------------------------- IAM


class NoSuchEntity(AwsError):
    """The named user, role, group, policy, provider, key or device does not exist."""

    code = "NoSuchEntity"
    http_status = 404


class EntityAlreadyExists(AwsError):
    """An entity with that name (compared regardless of case) already exists."""

    code = "EntityAlreadyExists"
    http_status = 409


class LimitExceeded(AwsError):
    """An IAM quota (access keys per user, policy size, providers per account...)."""

    code = "LimitExceeded"
    http_status = 409


class DeleteConflict(AwsError):
    """The entity still has what must be removed first (IAM deletes never cascade)."""

    code = "DeleteConflict"
    http_status = 409


class InvalidInput(AwsError):
    """A parameter IAM cannot use (bad metadata, a bad ARN...)."""

    code = "InvalidInput"


class InvalidAuthenticationCode(AwsError):
    """``EnableMFADevice``: the two codes are not two consecutive codes of the device."""

    code = "InvalidAuthenticationCode"
    http_status = 403
    default_message = "Authentication code for device is not valid."


class PasswordPolicyViolation(AwsError):
    """A console password the account's password policy refuses."""

    code = "PasswordPolicyViolation"


class EntityTemporarilyUnmodifiable(AwsError):
    code = "EntityTemporarilyUnmodifiable"
    http_status = 409


class UnmodifiableEntity(AwsError):
    code = "UnmodifiableEntity"


class ConcurrentModification(AwsError):
    """Other requests kept changing the IAM state; retry."""

    code = "ConcurrentModification"
    http_status = 409
    default_message = "Multiple concurrent requests changed the IAM state; retry the request."
