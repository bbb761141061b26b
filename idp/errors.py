"""One exception root for the whole package, and the vocabulary of refusals.

Every exception the package raises on purpose derives from ``IdPError``; this module holds
the root and the errors shared across layers. Two protocol families live next to their
protocol code and are drawn here so the whole tree is in one place (``tests/
test_architecture.py`` checks that every ``IdPError`` subclass in the package appears below)::

    IdPError                        http_status, title (for pages)
     ├── ConfigError                the directory/config file is wrong (file, line, what)
     │    └── DirectoryEditError    a runtime edit refused (``field``, ``http_status``)
     ├── MalformedPolicyError       a policy document IAM would refuse (statement number)
     ├── KeyStoreError              the signing keys cannot be read or written
     ├── StoreError                 the shared state file cannot be opened or written
     ├── XMLError                   input is not acceptable XML (DTD, entity, size, syntax)
     ├── AuthnFailed                login refused (wrong password, unknown user, bad TOTP)
     │    └── MfaRequired           password accepted; a one-time code is needed
     ├── FatalRequestError          show an error page; never POST back to an ACS
     │    ├── UnknownServiceProvider
     │    ├── UnregisteredACS
     │    ├── MalformedRequest      (bad base64, DEFLATE, XML, size, missing fields)
     │    ├── RequestSignatureError
     │    ├── NoAwsRole             the user has nothing the SP would accept
     │    ├── AttributeReleaseError the directory cannot produce a value AWS would accept
     │    ├── SurfaceDisabled       a vendor login surface that is not enabled (404)
     │    └── OidcRequestRefused    idp.oidc.errors: an authorization request with an
     │                              unknown client_id or unregistered redirect_uri (a
     │                              page, never a redirect)
     ├── OAuthError                 idp.oidc.errors: an OAuth 2.0 / OpenID Connect error;
     │    │                         the wire ``error`` code, status from it (RFC 6749
     │    │                         §5.2, RFC 6750 §3.1)
     │    └── AuthorizationError    sent back to the client's redirect_uri with
     │                              ``state`` (RFC 6749 §4.1.2.1)
     ├── SamlValidationError        the SP side (console, STS) refused a Response: ``rule``
     │                              (a ``Rule``) says which check, ``hint`` how to fix it
     ├── BodyError                  idp.web.body: a request body that cannot be read
     │    ├── BodyTimeout           (408: not all in within the body timeout)
     │    ├── BodyTooLarge          (413; routes translate it)
     │    ├── ClientGone            (the client left mid-body: one log line)
     │    └── MalformedForm
     ├── SimulatorError             idp.simulator: the test harness could not start, sign
     │                              in or get credentials (says why)
     ├── MetadataProblem            idp.aws.iam.metadata: IdP metadata IAM would not import
     ├── ConcurrentChange           idp.aws.iam.store: the IAM state kept changing under a
     │                              change (answered as ConcurrentModification)
     ├── SamlStatusError            idp.saml.status: answer the SP with a non-Success
     │    ├── NoPassive             <samlp:Response> (SAML Core §3.2.2.2)
     │    ├── InvalidNameIDPolicy
     │    ├── NoAuthnContext
     │    └── UnsupportedBinding
     └── AwsError                   idp.aws.errors: an AWS Query API error; the wire ``code``,
          ├── AccessDenied          ``http_status`` and fault type are class attributes
          ├── ExpiredToken          (codes and statuses from botocore's
          ├── ExpiredTokenException  ``data/sts/2011-06-15/service-2.json`` and
          ├── IncompleteSignature    ``data/iam/2010-05-08/service-2.json`` and the AWS
          ├── InternalFailure        "Common Errors" pages)
          ├── ServiceUnavailable    the shared state file failed (503, retried)
          ├── InvalidAction
          ├── InvalidClientTokenId
          ├── InvalidIdentityToken
          ├── IDPRejectedClaim      STS web identity: 403
          ├── IDPCommunicationError STS web identity: the issuer's keys unreachable
          ├── MalformedPolicyDocument
          ├── MalformedQueryString
          ├── MissingAction
          ├── MissingAuthenticationToken
          ├── MissingParameter
          ├── PackedPolicyTooLarge
          ├── RequestTimeout
          ├── SignatureDoesNotMatch
          ├── ValidationError
          │    └── RequestTooLarge
          ├── NoSuchEntity          IAM: 404
          ├── EntityAlreadyExists   IAM: 409
          ├── LimitExceeded         IAM: 409
          ├── DeleteConflict        IAM: 409
          ├── InvalidInput
          ├── InvalidAuthenticationCode
          ├── PasswordPolicyViolation
          ├── EntityTemporarilyUnmodifiable
          ├── UnmodifiableEntity
          └── ConcurrentModification

``Rule`` names every check that can refuse a SAML Response at the console or the STS: one
vocabulary for the verifier, the console and the STS, whose values the console's error page
shows and tests match on.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AttributeReleaseError",
    "AuthnFailed",
    "ConfigError",
    "DirectoryEditError",
    "FatalRequestError",
    "IdPError",
    "KeyStoreError",
    "MalformedPolicyError",
    "MalformedRequest",
    "MfaRequired",
    "NoAwsRole",
    "RequestSignatureError",
    "Rule",
    "SamlValidationError",
    "StoreError",
    "SurfaceDisabled",
    "UnknownServiceProvider",
    "UnregisteredACS",
    "XMLError",
]


class Rule(StrEnum):
    """Which check refused a SAML Response (stable names: pages, logs and tests use them)."""

    # The verifier (idp.saml.validation), in the order it checks.
    XML = "xml"
    STRUCTURE = "structure"
    STATUS = "status"
    SIGNATURE_MISSING = "signature-missing"
    SIGNATURE_SHAPE = "signature-shape"
    SIGNATURE_ALGORITHM = "signature-algorithm"
    SIGNATURE_INVALID = "signature-invalid"
    ISSUER = "issuer"
    DESTINATION = "destination"
    SUBJECT = "subject"
    CONFIRMATION = "subject-confirmation"
    RECIPIENT = "recipient"
    AUDIENCE = "audience"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    STALE = "stale"
    IN_RESPONSE_TO = "in-response-to"
    # Decoding the posted value (console and STS).
    FORM = "form"
    SAML_RESPONSE = "saml-response"
    BASE64 = "base64"
    # Reading the Role attribute and finding the SAML provider.
    ROLE_ATTRIBUTE = "role-attribute"
    ROLE_VALUE = "role-value"
    PROVIDER = "provider"
    ROLE_CHOICE = "role-choice"
    # What STS checks after the signature (idp.aws).
    ROLE_PAIR = "role-pair"
    ROLE_MISSING = "role-missing"
    ROLE_SESSION_NAME = "role-session-name"
    SOURCE_IDENTITY = "source-identity"
    TAGS = "tags"
    SESSION_DURATION = "session-duration"
    SESSION_END = "session-end"
    TRUST_POLICY = "trust-policy"
    REPLAY = "replay"
    # AssumeRole, GetSessionToken, the IAM API and IAM-user console sign-in (idp.aws).
    IDENTITY_POLICY = "identity-policy"
    EXTERNAL_ID = "external-id"
    MFA = "mfa"
    ROLE_CHAINING = "role-chaining"
    CREDENTIALS = "credentials"
    # AssumeRoleWithWebIdentity (idp.aws.web_identity), in the order it checks.
    TOKEN = "token"  # noqa: S105 (a rule name, not a secret)
    """The web identity token is no JWT the simulator can read (shape, size, header)."""
    TOKEN_ISSUER = "token-issuer"  # noqa: S105 (a rule name, not a secret)
    """No IAM OIDC provider of the role's account for the token's ``iss``."""
    TOKEN_KEYS = "token-keys"  # noqa: S105 (a rule name, not a secret)
    """The issuer's keys could not be had (discovery, JWKS, an unknown ``kid``)."""
    TOKEN_SIGNATURE = "token-signature"  # noqa: S105 (a rule name, not a secret)
    TOKEN_AUDIENCE = "token-audience"  # noqa: S105 (a rule name, not a secret)
    TOKEN_EXPIRED = "token-expired"  # noqa: S105 (a rule name, not a secret)
    """``exp`` passed (with AWS's five minutes), ``iat`` too old, ``nbf`` or ``iat`` ahead."""
    # Instance and container credentials (idp.aws.workloads).
    SERVICE_PRINCIPAL = "service-principal"
    """The role's trust policy does not let the service (ec2 / ecs-tasks) assume it."""


class IdPError(Exception):
    """Root of every error this package raises on purpose."""

    http_status = 400
    title = "Request refused"


class ConfigError(IdPError):
    """The configuration file is invalid; ``str()`` is ``file:line: what is wrong``."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = source or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class DirectoryEditError(ConfigError):
    """A runtime directory edit (``Simulator.add_user``, the admin API) that was refused and
    changed nothing; ``field`` names the input at fault, when one is."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message, source="directory edit")
        self.field = field
        self.http_status = status


class MalformedPolicyError(IdPError, ValueError):
    """A policy document IAM would refuse (IAM's ``MalformedPolicyDocument``).

    ``message`` says what is wrong and where (logs, the CLI, the directory loader).
    ``statement`` is the 1-based index of the offending ``Statement`` entry, when there is
    one, so a file loader can point at its line. ``aws_message`` is the text IAM's API
    returns in its ``MalformedPolicyDocument`` error (``Has prohibited field Resource``...);
    IAM's catch-all ``Syntax errors in policy.`` when the parser knows no more specific one.
    """

    AWS_DEFAULT = "Syntax errors in policy."

    def __init__(self, message: str, *, statement: int | None = None,
                 aws_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.statement = statement
        self.aws_message: str = aws_message or self.AWS_DEFAULT


class KeyStoreError(IdPError):
    """The key store under ``certs/`` is unusable."""


class StoreError(IdPError):
    """The shared state (``data/state.sqlite3``, or the Redis server of ``--state``) cannot be
    reached, read or written."""

    http_status = 503
    title = "Simulator state unavailable"


class XMLError(IdPError):
    """The input is not XML we are willing to read."""


class AuthnFailed(IdPError):
    """Login refused. The message never says whether the user exists."""

    http_status = 401
    title = "Sign-in failed"


class MfaRequired(AuthnFailed):
    """Password accepted; the user must now give a one-time code."""

    title = "One-time code required"


class FatalRequestError(IdPError):
    """The request cannot be answered through the SP's ACS: show a page instead."""


class UnknownServiceProvider(FatalRequestError):
    """The AuthnRequest's Issuer (or ``sp=``) is not a registered service provider."""

    http_status = 403
    title = "Unknown service provider"


class UnregisteredACS(FatalRequestError):
    """The requested AssertionConsumerService is not one registered for that SP."""

    http_status = 403
    title = "Unregistered assertion consumer service"


class MalformedRequest(FatalRequestError):
    """The SAML request could not be decoded or parsed."""

    title = "Malformed SAML request"


class RequestSignatureError(FatalRequestError):
    """The SP requires signed requests and this one is unsigned or its signature is wrong."""

    http_status = 403
    title = "Request signature refused"


class NoAwsRole(FatalRequestError):
    """The user's groups grant no role the SP needs (AWS requires at least one Role value)."""

    http_status = 403
    title = "No AWS role for this user"


class AttributeReleaseError(FatalRequestError):
    """The directory cannot produce a value AWS would accept (shown as a page, not sent)."""

    http_status = 409
    title = "This user cannot be sent to AWS"


class SurfaceDisabled(FatalRequestError):
    """A vendor login surface (``idp.vendors``) that this simulator was not asked to serve."""

    http_status = 404
    title = "Not enabled"


class SamlValidationError(IdPError):
    """One SP-side check failed. ``rule`` names the check; ``hint`` says how to fix it.

    The message says what was found; the AWS layers map ``rule`` to AWS's own wording.
    """

    title = "Invalid SAML response"

    def __init__(self, rule: Rule, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.hint = hint
