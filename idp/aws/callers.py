"""The identity behind a SigV4-signed request: an IAM user, a user's session, a role session.

IAM User Guide, "Manage access keys for IAM users" and "Compare AWS STS credentials":

* a long-term access key (``AKIA…``) is looked up in the IAM state on every request, so a
  key made ``Inactive`` or deleted, or whose user was deleted, stops working at once
  (``InvalidClientTokenId``, "The security token included in the request is invalid.");
* temporary credentials (``ASIA…``) are resolved from their session token
  (``idp.aws.credentials``): forged or mismatched → ``InvalidClientTokenId``, expired →
  ``ExpiredToken`` (403). A ``GetSessionToken`` session stops working when its user is deleted.
* ``GetSessionToken`` credentials obtained without MFA cannot call the IAM API: AWS answers
  ``InvalidClientTokenId`` (IAM User Guide, "Compare AWS STS credentials": "Can't call IAM
  API operations unless MFA information is included with the request").

A role session stays valid when its role is deleted (its permissions vanish with the role's
policies: ``idp.aws.authorization`` then finds none).

The principal tags of a caller are the user's or role's tags with the session's tags over
them (IAM User Guide, "Passing session tags in AWS STS": "session tags override a role tag
with the same key"; keys compare case-insensitively).
"""

from __future__ import annotations

from dataclasses import replace

from idp.aws.credentials import CredentialIssuer, SessionClaims, SessionKind
from idp.aws.errors import InvalidClientTokenId
from idp.aws.iam import Iam
from idp.aws.iam.model import IamState
from idp.aws.principals import Caller, CallerKind
from idp.aws.sigv4 import SignedRequest, authenticate_request
from idp.clock import Clock

__all__ = ["Callers", "caller_of", "merge_tags"]

#: Services whose API a signed request may be scoped to here.
SERVICES = frozenset({"sts", "iam"})




def merge_tags(base: tuple[tuple[str, str], ...],
               over: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``base`` with ``over``'s tags replacing those with the same key (ignoring case)."""
    replaced = {key.lower() for key, _ in over}
    return tuple(pair for pair in base if pair[0].lower() not in replaced) + tuple(over)


class Callers:
    """Long-term keys from the IAM state, temporary keys from their session token."""

    def __init__(self, iam: Iam, credentials: CredentialIssuer, clock: Clock) -> None:
        self.iam = iam
        self.credentials = credentials
        self.clock = clock

    def authenticate(self, request: SignedRequest, *, service: str) -> Caller:
        """Verify the signature (scoped to ``service``: ``sts`` or ``iam``) and return who
        signed; AWS's errors otherwise (``idp.aws.sigv4``, and ``InvalidClientTokenId`` /
        ``ExpiredToken`` for the key)."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")

        def lookup(access_key_id: str, token: str | None) -> tuple[str, Caller]:
            if access_key_id.startswith("ASIA") and token is not None:
                caller = self.resolve_temporary(access_key_id, token)
                if (service == "iam" and caller.kind is CallerKind.USER_SESSION
                        and caller.mfa_authenticated_at is None):
                    raise InvalidClientTokenId(
                        detail="GetSessionToken credentials obtained without MFA cannot call "
                        "the IAM API", hint="call GetSessionToken with SerialNumber and "
                        "TokenCode")
                return self.credentials.secret_for(access_key_id), caller
            if token is not None:
                # A session token belongs with temporary credentials only: AWS refuses a
                # long-term key that comes with one.
                raise InvalidClientTokenId(detail=f"{access_key_id[:40]} is not a temporary "
                                           "access key, yet the request carries a session token")
            return self._long_term(access_key_id)

        return authenticate_request(request, clock=self.clock, service=service, lookup=lookup)

    def _long_term(self, access_key_id: str) -> tuple[str, Caller]:
        state = self.iam.state()
        key = state.access_key(access_key_id)
        if key is None:
            raise InvalidClientTokenId(detail=f"no access key {access_key_id[:40]} exists")
        if not key.active:
            raise InvalidClientTokenId(detail=f"access key {key.id} is Inactive",
                                       hint="UpdateAccessKey --status Active")
        user = state.user_of(key)
        if user is None:
            raise InvalidClientTokenId(detail=f"the user of access key {key.id} was deleted")
        caller = Caller(kind=CallerKind.USER, account=user.account_id, arn=user.arn,
                        user_id=user.id, access_key_id=key.id, user_name=user.name,
                        user_arn=user.arn, principal_tags=user.tags)
        return key.secret, caller

    def resolve_temporary(self, access_key_id: str, session_token: str) -> Caller:
        """The caller behind temporary credentials (``InvalidClientTokenId``,
        ``ExpiredToken``)."""
        claims = self.credentials.resolve(access_key_id, session_token)
        return caller_of(claims, self.iam.state())


def caller_of(claims: SessionClaims, state: IamState) -> Caller:
    """The ``Caller`` of resolved session claims, against the current IAM state."""
    base = Caller(kind=CallerKind.ROLE_SESSION, access_key_id=claims.access_key_id,
                  account=claims.account, arn=claims.assumed_role_arn,
                  user_id=claims.assumed_role_id, issued_at=claims.issued_at,
                  expiration=claims.expiration, mfa_authenticated_at=claims.mfa_at,
                  chained_limit=claims.chained, session_policy=claims.session_policy)
    if claims.kind is SessionKind.USER:
        account = state.account(claims.account)
        user = account.user(claims.user_name or "") if account is not None else None
        if user is None or user.arn != claims.assumed_role_arn or \
                user.id != claims.assumed_role_id:
            raise InvalidClientTokenId(detail=f"the user {claims.assumed_role_arn} was deleted")
        return replace(base, kind=CallerKind.USER_SESSION, user_name=user.name,
                       user_arn=user.arn, principal_tags=user.tags)
    role = state.role(claims.role_arn)
    role_tags = role.tags if role is not None else ()
    return replace(base, role_arn=claims.role_arn,
                   role_id=claims.assumed_role_id.partition(":")[0],
                   session_name=claims.session_name,
                   source_identity=claims.source_identity,
                   principal_tags=merge_tags(role_tags, claims.tags),
                   transitive_tag_keys=claims.transitive_tag_keys)
