"""What ``AssumeRoleWithSAML`` asks of a role's trust policy: the actions and the request context.

STS API Reference, AssumeRoleWithSAML, and IAM User Guide, "Available keys for SAML-based
AWS STS federation": the context holds ``saml:aud`` (the Recipient), ``saml:iss``,
``saml:sub``, ``saml:sub_type``, ``saml:namequalifier``, ``saml:doc``, the eduPerson and
claim attributes that have condition keys of their own, ``sts:RoleSessionName``,
``sts:SourceIdentity``, and ``aws:RequestTag/KEY`` / ``aws:TagKeys`` for session tags. Sending
session tags also asks for ``sts:TagSession``, a SourceIdentity for ``sts:SetSourceIdentity``
(IAM User Guide, "Passing session tags in AWS STS" and "Monitor and control actions taken with
assumed roles").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from idp.aws.errors import AccessDenied
from idp.aws.iam import IamRole, SamlProvider
from idp.aws.policy import (
    ASSUME_ROLE_WITH_SAML,
    SET_SOURCE_IDENTITY,
    TAG_SESSION,
    TrustRequest,
    evaluate_trust_policy,
)
from idp.errors import Rule
from idp.saml.validation import VerifiedAssertion

__all__ = [
    "NOT_AUTHORIZED",
    "SAML_CONDITION_KEYS",
    "SessionRequest",
    "check_trust",
    "name_qualifier",
    "saml_trust_request",
    "subject_type",
]

#: STS's message when the trust policy, the role pair or the role refuses AssumeRoleWithSAML.
NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithSAML"
NAMEID_FORMAT_PREFIX: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:"

#: SAML attributes that AWS exposes as condition keys of their own (a subset of the keys
#: listed in "Available keys for SAML-based AWS STS federation").
SAML_CONDITION_KEYS: Final = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": "saml:edupersonaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": "saml:edupersonnickname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": "saml:edupersonorgdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": "saml:edupersonorgunitdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": "saml:edupersonprimaryaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": "saml:edupersonprincipalname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": "saml:edupersonentitlement",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": "saml:edupersonprimaryorgunitdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": "saml:edupersonscopedaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": "saml:edupersontargetedid",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": "saml:edupersonassurance",
    "urn:oid:2.5.4.3": "saml:cn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "saml:name",
    "http://schemas.xmlsoap.org/claims/CommonName": "saml:commonname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": "saml:givenname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": "saml:surname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "saml:mail",
}


def subject_type(name_id_format: str) -> str:
    """``SubjectType``: the NameID Format minus ``urn:oasis:names:tc:SAML:2.0:nameid-format:``.

    "If the format includes any other prefix, the format is returned with no modifications"
    (STS API Reference, AssumeRoleWithSAML).
    """
    if name_id_format.startswith(NAMEID_FORMAT_PREFIX):
        return name_id_format[len(NAMEID_FORMAT_PREFIX):]
    return name_id_format


def name_qualifier(issuer: str, account: str, provider_name: str) -> str:
    """``NameQualifier`` = BASE64(SHA1(Issuer + AccountId + "/" + ProviderName)).

    STS API Reference, AssumeRoleWithSAML; ``provider_name`` is the last segment of the SAML
    provider ARN and ``account`` the provider's account.
    """
    digest = hashlib.sha1(f"{issuer}{account}/{provider_name}".encode(),
                          usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class SessionRequest:
    """What the session would carry, read from the verified assertion (``idp.aws.claims``)."""

    session_name: str
    source_identity: str | None
    tags: Mapping[str, str]


def saml_trust_request(provider: SamlProvider, assertion: VerifiedAssertion,
                       session: SessionRequest) -> TrustRequest:
    """The actions and condition keys ``AssumeRoleWithSAML`` puts to the trust policy."""
    actions = [ASSUME_ROLE_WITH_SAML]
    if session.tags:
        actions.append(TAG_SESSION)
    if session.source_identity is not None:
        actions.append(SET_SOURCE_IDENTITY)
    account_id = provider.account_id
    context: dict[str, tuple[str, ...]] = {
        "saml:aud": (assertion.recipient,),
        "saml:iss": (assertion.issuer,),
        "saml:sub": (assertion.name_id,),
        "saml:sub_type": (subject_type(assertion.name_id_format),),
        "saml:namequalifier": (name_qualifier(assertion.issuer, account_id, provider.name),),
        "saml:doc": (f"{account_id}/{provider.name}",),
        "sts:rolesessionname": (session.session_name,),
    }
    for name, key in SAML_CONDITION_KEYS.items():
        if name in assertion.attributes:
            context[key] = assertion.attributes[name]
    if session.source_identity is not None:
        context["sts:sourceidentity"] = (session.source_identity,)
    for key, value in session.tags.items():
        context[f"aws:requesttag/{key}"] = (value,)
    if session.tags:
        context["aws:tagkeys"] = tuple(session.tags)
    return TrustRequest(principal_federated=provider.arn, actions=tuple(actions),
                        context=context)


def check_trust(role: IamRole, request: TrustRequest) -> None:
    """``AccessDenied`` unless the role's trust policy allows every requested action."""
    decision = evaluate_trust_policy(role.trust_policy, request)
    if not decision.allowed:
        raise AccessDenied(NOT_AUTHORIZED, rule=Rule.TRUST_POLICY,
                           detail=f"the role's trust policy denies it: {decision.reason}",
                           hint="allow " + ", ".join(request.actions)
                           + f" for {request.principal_federated}")
