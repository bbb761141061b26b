"""STS ``AssumeRoleWithWebIdentity``: an OpenID Connect token in, a role session out.

STS API Reference, AssumeRoleWithWebIdentity; IAM User Guide, "OIDC federation", "Create a
role for OpenID Connect federation", "Available keys for AWS web identity federation",
"Passing session tags using AssumeRoleWithWebIdentity" and "Monitor and control actions taken
with assumed roles". ``WebIdentity.assume`` checks, in this order, and refuses with:

1. The parameters (``idp.aws.params.assume_role_with_web_identity_params``: ``MissingParameter``,
   ``ValidationError``, ``MalformedPolicyDocument``). ``ProviderId`` names an OAuth 2.0
   provider (``www.amazon.com``, ``graph.facebook.com``) whose opaque access tokens AWS checks
   with that provider. The offline simulator has no such provider to ask, so it answers as
   one that rejects every token: ``IDPRejectedClaim`` (403; "The identity provider (IdP)
   reported that authentication failed", STS API Reference, Errors), the detail saying why;
   any other ``ProviderId`` is ``InvalidIdentityToken``. Omit it for OpenID Connect ID
   tokens, as AWS asks.
2. The token must read as a signed JWT (RFC 7519, a JWS in compact serialization, RFC 7515
   §7.1): three base64url parts (an encrypted JWE has five), a header of at most 8192
   characters that is a JSON object, no ``crit`` extension PyJWT does not know.
3. ``alg`` must be RS256, RS384, RS512, ES256, ES384 or ES512 ("Tokens must be signed using
   either RSA keys (RS256, RS384, or RS512) or ECDSA keys (ES256, ES384, or ES512)"): never
   ``none``, never an HMAC (so a token "signed" with the issuer's public key as an HMAC
   secret cannot pass), never what the key set suggests: the token is verified with the one
   algorithm its header names, from this list, with a key of that type.
4. The payload must be a JSON object with a string ``iss`` ("Missing a required claim: iss").
5. The role's account (from ``RoleArn``) must hold an IAM OIDC provider whose URL without its
   scheme equals ``iss`` without its scheme (``https://`` or ``http://``), path and final
   ``/`` included: ``InvalidIdentityToken`` "No OpenIDConnect provider found in your account
   for ISS".
6. The issuer's keys (``idp.aws.oidc_keys.IssuerKeys``): the key the header's ``kid`` names,
   or every key of the set when there is no ``kid``. None: ``InvalidIdentityToken``
   "Couldn't retrieve verification key from your identity provider,  please reference
   AssumeRoleWithWebIdentity documentation for requirements"; unreachable issuer:
   ``IDPCommunicationError``. Keys come only from the issuer's JWK Set, never from the
   token's own ``jwk``, ``jku``, ``x5u`` or ``x5c`` headers. RSA keys under 2048 bits are
   refused (PyJWT's ``enforce_minimum_key_length``; NIST SP 800-131A).
7. The signature (PyJWT): ``InvalidIdentityToken``.
8. ``aud``: a string or an array of strings, one of them a client ID of the provider
   ("Incorrect token audience"; none: "Missing a required claim: aud"). ``Audience`` in the
   result is the first that is; the trust context's ``HOST/PATH:aud`` holds every one that is.
9. ``sub``: a non-empty string ("Missing a required claim: sub") of at most 255 characters
   that XML can carry (``SubjectFromWebIdentityToken``).
10. Time, by the simulator's clock, with AWS's five minutes of clock skew ("OIDC federation":
    "a five minute clock skew"). Timestamps "must be formatted as either an integer or a long
    integer" (JSON numbers without a fraction; ``exp`` required). ``exp`` + 300 s must be
    ahead (``ExpiredTokenException`` "Token expired: current date/time NOW must be before the
    expiration date/time EXP", epoch seconds). AWS refuses tokens issued too long ago
    ("Token too old: SECONDS") without documenting the limit; the simulator's is one day
    after ``iat`` (the longest token its own issuer makes; Kubernetes service-account tokens
    for EKS last a day too): ``ExpiredTokenException``. An ``nbf`` or ``iat`` more than the
    skew ahead is not valid yet: ``InvalidIdentityToken`` (AWS is silent; the simulator
    chooses that code: the token is not expired).
11. The role must exist (``AccessDenied`` "Not authorized to perform
    sts:AssumeRoleWithWebIdentity", as for a refused trust: AWS does not say which).
12. Session tags from the ``https://aws.amazon.com/tags`` claim (``{"principal_tags": {"K":
    ["V"]}, "transitive_tag_keys": ["K"]}``; a value may also be a plain string) and the
    source identity from ``https://aws.amazon.com/source_identity``: at most 50 tags, AWS's
    key and value rules, transitive keys among the tags; else ``InvalidIdentityToken``.
    (The flattened claim form some IdPs use is not read.)
13. The trust policy: ``Federated`` = the provider ARN, ``sts:AssumeRoleWithWebIdentity``,
    plus ``sts:TagSession`` with session tags and ``sts:SetSourceIdentity`` with a source
    identity. Context: ``HOST/PATH:sub``, ``HOST/PATH:aud``, ``HOST/PATH:amr`` (when the
    token has ``amr``), ``sts:RoleSessionName``, ``sts:SourceIdentity``,
    ``aws:RequestTag/K``, ``aws:TagKeys``, ``sts:TransitiveTagKeys``. Refused:
    ``AccessDenied`` as in 11.
14. ``DurationSeconds`` (default 3600) at most the role's ``MaxSessionDuration``
    (``ValidationError`` "The requested DurationSeconds exceeds the MaxSessionDuration set
    for this role.").
15. Credentials (``CredentialIssuer.issue``) with the session policy, tags and source
    identity; ``PackedPolicySize`` as for ``AssumeRole``.

Every refusal carries a ``detail`` naming what was found (which claim, which value): the
exchange log and the server log show it, so the simulator can debug a real IdP's tokens.
The simulator's wording is used where AWS's is not known (steps 2, 3, 7, 9, 10's ``nbf``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from idp.aws import limits
from idp.aws.assume_role import MAX_DURATION_MESSAGE
from idp.aws.authorization import session_policy_for
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import (
    AccessDenied,
    ExpiredTokenException,
    IDPRejectedClaim,
    InvalidIdentityToken,
    ValidationError,
)
from idp.aws.iam import Iam
from idp.aws.iam.model import IamRole, IamState, OidcProvider
from idp.aws.oidc_keys import KEYS_MESSAGE, IssuerKeys, Jwk
from idp.aws.params import (
    MAX_WEB_IDENTITY_TOKEN_CHARS,
    AssumeRoleWithWebIdentityParams,
    assume_role_with_web_identity_params,
)
from idp.aws.policy import SET_SOURCE_IDENTITY, TAG_SESSION, TrustRequest, evaluate_trust_policy
from idp.aws.vocabulary import (
    MAX_SESSION_TAGS,
    SESSION_NAME_PATTERN,
    is_source_identity,
    is_tag_key,
    is_tag_value,
)
from idp.aws.wire import AssumeRoleWithWebIdentityResult
from idp.clock import Clock
from idp.errors import Rule

if TYPE_CHECKING:
    from jwt.types import Options

__all__ = [
    "ALGORITHMS",
    "ASSUME_ROLE_WITH_WEB_IDENTITY",
    "CLOCK_SKEW_SECONDS",
    "MAX_TOKEN_AGE_SECONDS",
    "NOT_AUTHORIZED",
    "OAUTH_PROVIDERS",
    "PROVIDER_ID_MESSAGE",
    "REJECTED_MESSAGE",
    "SOURCE_IDENTITY_CLAIM",
    "TAGS_CLAIM",
    "VerifiedToken",
    "WebIdentity",
    "token_summary",
]

ASSUME_ROLE_WITH_WEB_IDENTITY: Final = "sts:AssumeRoleWithWebIdentity"
NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
ALGORITHMS: Final = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
#: "AWS STS ... allows a five minute clock skew" (IAM User Guide, "OIDC federation").
CLOCK_SKEW_SECONDS: Final = 300
#: The simulator's limit on a token's age (from ``iat``); AWS's is not documented.
MAX_TOKEN_AGE_SECONDS: Final = 86_400
MAX_HEADER_CHARS: Final = 8192
#: ``webIdentitySubjectType``: ``SubjectFromWebIdentityToken`` is at most 255 characters.
MAX_SUBJECT_CHARS: Final = 255
TAGS_CLAIM: Final = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM: Final = "https://aws.amazon.com/source_identity"

AUDIENCE_MESSAGE: Final = "Incorrect token audience"
TIMESTAMP_MESSAGE: Final = ("Timestamps in the token must be formatted as either an integer or "
                            "a long integer")
NOT_A_JWT_MESSAGE: Final = "The web identity token is not a signed JWT"
SIGNATURE_MESSAGE: Final = "The web identity token's signature could not be verified"
PROVIDER_ID_MESSAGE: Final = ("ProviderId is only for OAuth 2.0 access tokens of www.amazon.com "
                              "and graph.facebook.com, which this offline simulator cannot "
                              "check; omit ProviderId for OpenID Connect ID tokens")
#: The OAuth 2.0 providers ``ProviderId`` may name (STS API Reference,
#: AssumeRoleWithWebIdentity: "Currently www.amazon.com and graph.facebook.com are the only
#: supported identity providers for OAuth 2.0 access tokens").
OAUTH_PROVIDERS: Final = ("www.amazon.com", "graph.facebook.com")
REJECTED_MESSAGE: Final = ("The identity provider (IdP) reported that authentication failed. "
                           "This might be because the claim is invalid.")
#: What XML 1.0 cannot carry (the subject goes into ``SubjectFromWebIdentityToken``).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SCHEMES: Final = ("https://", "http://")


def _options(*, signature: bool) -> Options:
    """PyJWT checks only the signature (when asked); every claim is checked here, with the
    simulator's clock and AWS's errors."""
    return {"verify_signature": signature, "verify_exp": False, "verify_nbf": False,
            "verify_iat": False, "verify_aud": False, "verify_iss": False,
            "verify_sub": False, "verify_jti": False, "enforce_minimum_key_length": True}


def _invalid(message: str, rule: Rule, detail: str, hint: str | None = None
             ) -> InvalidIdentityToken:
    return InvalidIdentityToken(message, rule=rule, detail=detail, hint=hint)


def _missing(claim: str, rule: Rule, detail: str | None = None) -> InvalidIdentityToken:
    return _invalid(f"Missing a required claim: {claim}", rule,
                    detail or f"the token has no {claim} claim")


def _shown(value: Any, limit: int = 120) -> str:
    """A claim's value for a message, shortened (a JSON value nested a few hundred deep is
    more than ``repr`` can take on a deep stack)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class VerifiedToken:
    """A web identity token whose signature, audience and times have been checked."""

    issuer: str
    """``iss`` exactly as the token has it (``Provider`` in the result)."""
    provider: OidcProvider
    subject: str
    audiences: tuple[str, ...]
    """The token's audiences that are client IDs of the provider, in the token's order."""
    claims: Mapping[str, Any]
    algorithm: str
    key_id: str | None = None


# --------------------------------------------------------------------------- reading a token

def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (``InvalidIdentityToken`` if it is not one)."""
    import jwt

    parts = token.count(".") + 1
    if parts != 3:
        raise _invalid(NOT_A_JWT_MESSAGE, Rule.TOKEN,
                       "the token has 5 dot-separated parts: an encrypted JWT (JWE); STS takes "
                       "signed ones (JWS)" if parts == 5 else
                       f"the token has {parts} dot-separated part{'s' if parts > 1 else ''}; a "
                       "signed JWT has 3 (header.payload.signature, RFC 7515 §7.1)",
                       hint="send the ID token itself (not an access token, not a file name)")
    if len(token.partition(".")[0]) > MAX_HEADER_CHARS:
        raise _invalid(NOT_A_JWT_MESSAGE, Rule.TOKEN,
                       f"the header is longer than {MAX_HEADER_CHARS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        raise _invalid(NOT_A_JWT_MESSAGE, Rule.TOKEN,
                       "a part is not base64url, or the header is no JSON object: "
                       f"{str(exc)[:200]}") from None
    return header


def _algorithm(header: Mapping[str, Any]) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise _invalid(
            f"Unsupported token signing algorithm: {_shown(alg, 40)}", Rule.TOKEN,
            f"alg is {_shown(alg, 60)}; STS takes {', '.join(ALGORITHMS)} (never none, never "
            "an HMAC)", hint="sign tokens with the issuer's RSA or EC private key")
    return alg


def _payload(token: str) -> dict[str, Any]:
    """The claims, not yet verified (to find the issuer and its keys)."""
    import jwt

    try:
        payload: dict[str, Any] = jwt.decode(token, options=_options(signature=False))
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        raise _invalid(NOT_A_JWT_MESSAGE, Rule.TOKEN,
                       f"the payload is not a base64url-encoded JSON object: "
                       f"{str(exc)[:200]}") from None
    return payload


def _issuer(payload: Mapping[str, Any]) -> str:
    iss = payload.get("iss")
    if iss is None or iss == "":
        raise _missing("iss", Rule.TOKEN_ISSUER)
    if not isinstance(iss, str):
        raise _missing("iss", Rule.TOKEN_ISSUER, f"iss is {_shown(iss)}, not a string")
    return iss


def _account_of(role_arn: str) -> str | None:
    parts = role_arn.split(":", 5)
    if len(parts) == 6 and parts[:4] == ["arn", "aws", "iam", ""] and parts[4]:
        return parts[4]
    return None


def _host_path(iss: str) -> str | None:
    for scheme in _SCHEMES:
        if iss.startswith(scheme):
            return iss[len(scheme):]
    return None


def _provider(state: IamState, role_arn: str, iss: str) -> OidcProvider:
    account_id = _account_of(role_arn)
    host_path = _host_path(iss)
    account = state.account(account_id) if account_id is not None else None
    found = account.oidc_provider(host_path) if account and host_path is not None else None
    if found is not None:
        return found
    echoed = iss if len(iss) <= 2048 else iss[:2048] + "…"
    if account_id is None:
        detail = f"RoleArn {role_arn[:200]!r} names no account"
    elif host_path is None:
        detail = f"iss {_shown(iss)} does not begin with https://"
    else:
        known = sorted(account.oidc_providers) if account is not None else []
        detail = (f"account {account_id} has no IAM OIDC provider for {host_path[:300]}; it has "
                  + (", ".join(known) if known else "none"))
    raise _invalid(f"No OpenIDConnect provider found in your account for {echoed}",
                   Rule.TOKEN_ISSUER, detail,
                   hint="create an IAM OIDC provider whose URL is the token's iss "
                   "(aws iam create-open-id-connect-provider), in the role's account")


def _verify_signature(token: str, alg: str, candidates: tuple[Jwk, ...],
                      issuer: str) -> dict[str, Any]:
    """The verified claims: the first candidate key that verifies the token with ``alg``."""
    import jwt

    problems: list[str] = []
    for jwk in candidates:
        name = f"key {jwk.get('kid')!r}" if jwk.get("kid") is not None else "a key without kid"
        declared = jwk.get("alg")
        if declared is not None and declared != alg:
            problems.append(f"{name} is for {_shown(declared, 30)}, the token says {alg}")
            continue
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg)
        except Exception as exc:  # any JWK PyJWT (or cryptography) cannot load is unusable
            problems.append(f"{name} is no {alg} key ({type(exc).__name__}: "
                            f"{str(exc)[:100]})")
            continue
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=[alg],
                options=_options(signature=True))
        except jwt.InvalidSignatureError:
            problems.append(f"the signature does not verify with {name}")
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            problems.append(f"{name}: {type(exc).__name__}: {str(exc)[:150]}")
        else:
            return claims
    raise _invalid(SIGNATURE_MESSAGE, Rule.TOKEN_SIGNATURE,
                   f"{alg} signature of a token of {issuer[:200]}: " + "; ".join(problems),
                   hint="sign with the private key of a key the issuer's JWK Set publishes")


def _audiences(claims: Mapping[str, Any], provider: OidcProvider) -> tuple[str, ...]:
    aud = claims.get("aud")
    if aud is None or aud == "" or aud == []:
        raise _missing("aud", Rule.TOKEN_AUDIENCE)
    values: tuple[str, ...] | None = None
    if isinstance(aud, str):
        values = (aud,)
    elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        values = tuple(aud)
    if values is None:
        raise _invalid(AUDIENCE_MESSAGE, Rule.TOKEN_AUDIENCE,
                       f"aud is {_shown(aud)}, not a string or an array of strings")
    matched = tuple(dict.fromkeys(a for a in values if a in provider.client_ids))
    if not matched:
        raise _invalid(
            AUDIENCE_MESSAGE, Rule.TOKEN_AUDIENCE,
            f"aud {_shown(list(values), 300)} is none of the client IDs "
            f"{list(provider.client_ids)} of {provider.arn}",
            hint="issue the token for one of the provider's client IDs, or add its audience "
            "(aws iam add-client-id-to-open-id-connect-provider)")
    return matched


def _subject(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if sub is None or sub == "":
        raise _missing("sub", Rule.TOKEN)
    if not isinstance(sub, str):
        raise _missing("sub", Rule.TOKEN, f"sub is {_shown(sub)}, not a string")
    if len(sub) > MAX_SUBJECT_CHARS or _NOT_XML.search(sub):
        raise _invalid("Invalid sub claim: at most 255 characters, no control characters",
                       Rule.TOKEN, f"sub is {_shown(sub)} ({len(sub)} characters)")
    return sub


def _timestamp(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(TIMESTAMP_MESSAGE, Rule.TOKEN_EXPIRED,
                       f"{name} is {_shown(value, 60)}, not a whole number of seconds")
    return value


def _check_times(claims: Mapping[str, Any], now: int) -> None:
    exp = _timestamp(claims, "exp")
    iat = _timestamp(claims, "iat")
    nbf = _timestamp(claims, "nbf")
    if exp is None:
        raise _missing("exp", Rule.TOKEN_EXPIRED)
    skew = CLOCK_SKEW_SECONDS
    if now >= exp + skew:
        raise ExpiredTokenException(
            f"Token expired: current date/time {now} must be before the expiration date/time "
            f"{exp}", rule=Rule.TOKEN_EXPIRED,
            detail=f"exp {exp} passed {now - exp} s ago; STS allows {skew} s of clock skew",
            hint="get a fresh token (a Kubernetes kubelet rewrites the token file before it "
            "expires)")
    if iat is not None and now - iat > MAX_TOKEN_AGE_SECONDS:
        raise ExpiredTokenException(
            f"Token too old: {now - iat}", rule=Rule.TOKEN_EXPIRED,
            detail=f"iat {iat} is {now - iat} s ago; the simulator takes tokens at most "
            f"{MAX_TOKEN_AGE_SECONDS} s old", hint="get a fresh token")
    for name, value in (("nbf", nbf), ("iat", iat)):
        if value is not None and value > now + skew:
            raise _invalid(
                f"Token not yet valid: current date/time {now} must be on or after the "
                f"{'not-before' if name == 'nbf' else 'issued-at'} date/time {value}",
                Rule.TOKEN_EXPIRED,
                f"{name} {value} is {value - now} s ahead; STS allows {skew} s of clock skew",
                hint="check the issuer's clock (or the simulator's: idp clock)")


# --------------------------------------------------------------------------- what the token asks

def _tag_claim_error(detail: str) -> InvalidIdentityToken:
    return _invalid(f"Invalid {TAGS_CLAIM} claim", Rule.TAGS, detail,
                    hint='{"principal_tags": {"Key": ["value"]}, "transitive_tag_keys": '
                    '["Key"]}: at most 50 tags, one value each')


def session_tags(claims: Mapping[str, Any]
                 ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Session tags and transitive tag keys from the ``https://aws.amazon.com/tags`` claim."""
    raw = claims.get(TAGS_CLAIM)
    if raw is None:
        return (), ()
    if not isinstance(raw, Mapping):
        raise _tag_claim_error(f"the claim is {_shown(raw)}, not an object")
    principal = raw.get("principal_tags", {})
    if not isinstance(principal, Mapping):
        raise _tag_claim_error(f"principal_tags is {_shown(principal)}, not an object")
    if len(principal) > MAX_SESSION_TAGS:
        raise _tag_claim_error(f"{len(principal)} session tags; the limit is "
                               f"{MAX_SESSION_TAGS}")
    tags: list[tuple[str, str]] = []
    for key, given in principal.items():
        value = given[0] if isinstance(given, list) and len(given) == 1 else given
        if not isinstance(value, str):
            raise _tag_claim_error(f"session tag {key[:128]!r} has {_shown(given)}: one string "
                                   "(or an array of one) is needed")
        if not is_tag_key(key):
            raise _tag_claim_error(f"invalid session tag key {key[:128]!r} (1-128 letters, "
                                   "digits, spaces and _.:/=+-@, not starting with aws:)")
        if not is_tag_value(value):
            raise _tag_claim_error(f"invalid value {value[:256]!r} for session tag {key!r}")
        if key.lower() in {k.lower() for k, _ in tags}:
            raise _tag_claim_error(f"duplicate session tag key {key!r} (keys ignore case)")
        tags.append((key, value))
    transitive = raw.get("transitive_tag_keys", [])
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        raise _tag_claim_error(f"transitive_tag_keys is {_shown(transitive)}, not an array of "
                               "strings")
    keys = {key.lower() for key, _ in tags}
    for key in transitive:
        if key.lower() not in keys:
            raise _tag_claim_error(f"transitive tag key {key[:128]!r} is not a session tag key")
    # Tag keys ignore case (IAM User Guide, "Passing session tags in AWS STS"): the first
    # spelling of each key is kept.
    return tuple(tags), tuple({key.lower(): key for key in reversed(transitive)}.values())[::-1]


def source_identity(claims: Mapping[str, Any]) -> str | None:
    """The ``https://aws.amazon.com/source_identity`` claim, when the token has one."""
    value = claims.get(SOURCE_IDENTITY_CLAIM)
    if value is None:
        return None
    if not isinstance(value, str) or not is_source_identity(value):
        raise _invalid(
            f'Source Identity must match {SESSION_NAME_PATTERN} and not begin with "aws:"',
            Rule.SOURCE_IDENTITY, f"{SOURCE_IDENTITY_CLAIM} is {_shown(value)}")
    return value


def _amr(value: Any) -> tuple[str, ...]:
    """``amr`` (OpenID Connect Core 1.0 §2: "JSON array of strings"; a lone string taken as
    one): anything else is refused rather than partly read, since a condition such as
    ``ForAllValues:StringEquals`` on ``:amr`` would otherwise pass on what it never saw."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _invalid("Invalid amr claim: an array of strings", Rule.TOKEN,
                   f"amr is {_shown(value)}")


def trust_request(token: VerifiedToken, session_name: str,
                  tags: tuple[tuple[str, str], ...], transitive: tuple[str, ...],
                  source: str | None) -> TrustRequest:
    """The actions and condition keys ``AssumeRoleWithWebIdentity`` puts to the trust policy
    (IAM User Guide, "Available keys for AWS web identity federation": ``HOST/PATH:aud``,
    ``:sub`` and ``:amr`` for a generic OIDC provider)."""
    prefix = token.provider.host_path
    actions = [ASSUME_ROLE_WITH_WEB_IDENTITY]
    if tags:
        actions.append(TAG_SESSION)
    if source is not None:
        actions.append(SET_SOURCE_IDENTITY)
    context: dict[str, tuple[str, ...]] = {
        f"{prefix}:sub": (token.subject,),
        f"{prefix}:aud": token.audiences,
        "sts:rolesessionname": (session_name,),
    }
    amr = _amr(token.claims.get("amr"))
    if amr:
        context[f"{prefix}:amr"] = amr
    if source is not None:
        context["sts:sourceidentity"] = (source,)
    for key, value in tags:
        context[f"aws:requesttag/{key.lower()}"] = (value,)
    if tags:
        context["aws:tagkeys"] = tuple(key for key, _ in tags)
    if transitive:
        context["sts:transitivetagkeys"] = transitive
    return TrustRequest(principal_federated=token.provider.arn, actions=tuple(actions),
                        context=context)


def token_summary(token: str | None) -> bytes | None:
    """The token's header and claims as JSON, unverified and without its signature (so it
    cannot be replayed), for the exchange log; ``None`` if it does not read as a JWT."""
    if token is None or len(token) > MAX_WEB_IDENTITY_TOKEN_CHARS:
        return None
    import jwt

    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options=_options(signature=False))
        return json.dumps({"header": header, "payload": payload}, indent=2,
                          sort_keys=True).encode("ascii")
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None


# --------------------------------------------------------------------------- the operation

class WebIdentity:
    """``AssumeRoleWithWebIdentity`` over the simulated IAM (see the module docstring)."""

    def __init__(self, iam: Iam, credentials: CredentialIssuer, clock: Clock,
                 keys: IssuerKeys) -> None:
        self.iam = iam
        self.credentials = credentials
        self.clock = clock
        self.keys = keys

    def assume(self, params: Mapping[str, str]) -> AssumeRoleWithWebIdentityResult:
        """The operation, from its Query parameters to its result (or an ``AwsError``)."""
        request = assume_role_with_web_identity_params(params)
        if request.provider_id in OAUTH_PROVIDERS:
            raise IDPRejectedClaim(
                REJECTED_MESSAGE, rule=Rule.PROVIDER,
                detail=f"ProviderId {request.provider_id}: AWS would ask that provider to "
                "check the OAuth 2.0 access token; this offline simulator has no provider to "
                "ask and rejects every such token", hint="use an OpenID Connect ID token "
                "(idp token) without ProviderId")
        if request.provider_id is not None:
            raise _invalid(PROVIDER_ID_MESSAGE, Rule.PROVIDER,
                           f"ProviderId is {request.provider_id[:200]!r}")
        state = self.iam.state()
        token = self._verify(request.token, request.role_arn, state)
        role = state.role(request.role_arn)
        if role is None:
            raise AccessDenied(NOT_AUTHORIZED, rule=Rule.ROLE_MISSING,
                               detail=f"no role {request.role_arn} exists")
        return self._assume(request, token, role)

    def verify(self, token: str, role_arn: str) -> VerifiedToken:
        """Steps 2-10: the token, for a role in ``role_arn``'s account."""
        return self._verify(token, role_arn, self.iam.state())

    def _verify(self, token: str, role_arn: str, state: IamState) -> VerifiedToken:
        header = _header(token)
        alg = _algorithm(header)
        issuer = _issuer(_payload(token))
        provider = _provider(state, role_arn, issuer)
        kid = header.get("kid")
        candidates = self.keys.keys(issuer, kid)
        if not candidates:
            every = self.keys.keys(issuer)
            raise _invalid(
                KEYS_MESSAGE, Rule.TOKEN_KEYS,
                f"the JWK Set of {issuer[:200]} has no key with kid {_shown(kid, 80)}; its "
                "keys: " + ", ".join(_shown(k.get("kid"), 60) for k in every),
                hint="sign with a key the issuer publishes (after a rotation, the new key "
                "must be in the JWK Set)")
        claims = _verify_signature(token, alg, candidates, issuer)
        audiences = _audiences(claims, provider)
        subject = _subject(claims)
        _check_times(claims, int(self.clock.now().timestamp()))
        return VerifiedToken(issuer=issuer, provider=provider, subject=subject,
                             audiences=audiences, claims=claims, algorithm=alg, key_id=kid)

    def _assume(self, request: AssumeRoleWithWebIdentityParams, token: VerifiedToken,
                role: IamRole) -> AssumeRoleWithWebIdentityResult:
        tags, transitive = session_tags(token.claims)
        source = source_identity(token.claims)
        trust = trust_request(token, request.session_name, tags, transitive, source)
        decision = evaluate_trust_policy(role.trust_policy, trust)
        if not decision.allowed:
            raise AccessDenied(NOT_AUTHORIZED, rule=Rule.TRUST_POLICY,
                               detail=f"the role's trust policy denies it: {decision.reason}",
                               hint="allow " + ", ".join(trust.actions)
                               + f" for {token.provider.arn} (conditions on "
                               f"{token.provider.host_path}:sub and :aud)")
        seconds = (request.duration if request.duration is not None
                   else limits.DEFAULT_SESSION_SECONDS)
        if seconds > role.max_session_duration:
            raise ValidationError(MAX_DURATION_MESSAGE, rule=Rule.SESSION_DURATION,
                                  detail=f"DurationSeconds {seconds} > MaxSessionDuration "
                                  f"{role.max_session_duration} of {role.arn}")
        packed = limits.session_packed_size(request.policy, request.policy_arns, tags)
        credentials, claims = self.credentials.issue(
            role.arn, request.session_name, seconds, source_identity=source, tags=tags,
            transitive_tag_keys=transitive,
            session_policy=session_policy_for(request.policy, request.policy_arns),
            role_id=role.id)
        return AssumeRoleWithWebIdentityResult(
            credentials=credentials, claims=claims, subject=token.subject,
            provider=token.issuer, audience=token.audiences[0], source_identity=source,
            packed_policy_size=packed)
