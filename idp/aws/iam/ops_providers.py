"""SAML providers: ``CreateSAMLProvider``, ``GetSAMLProvider``, ``ListSAMLProviders``,
``UpdateSAMLProvider``, ``DeleteSAMLProvider`` and the provider tags.

The metadata document is read as IAM reads it (``idp.aws.iam.metadata.parse_metadata``: the
hardened parser, an ``IDPSSODescriptor`` with a signing certificate); anything else is
``InvalidInput`` "Could not parse metadata" (IAM User Guide, "Create a SAML identity provider
in IAM": "Could not parse metadata"). Its length is the model's ``SAMLMetadataDocumentType``,
1,000-10,000,000 characters (``ValidationError``). ``ValidUntil`` is the metadata's
``validUntil``, else 100 years after the upload (as the AWS CLI's ``get-saml-provider``
example shows). A provider created or updated here is what STS and the console trust from the
next request on: they read the same state.

A provider seeded with this IdP's own metadata (held as "this IdP, whatever its keys are") is
returned by ``GetSAMLProvider`` as a minimal ``EntityDescriptor`` built from its entityID and
current signing certificates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from lxml import etree

from idp.aws.errors import (
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from idp.aws.iam.context import (
    Call,
    Operation,
    check_tags,
    stored_tags,
    tag_list,
)
from idp.aws.iam.metadata import MetadataProblem, parse_metadata
from idp.aws.iam.model import AccountState, SamlProvider, iso
from idp.aws.iam.ops_tags import Taggable, tag_operations
from idp.aws.iam.results import Struct
from idp.saml.constants import DS, MD

__all__ = ["OPERATIONS"]

PROVIDERS_PER_ACCOUNT: Final = 100
_DEFAULT_VALIDITY: Final = 100


def _hundred_years(when: dt.datetime) -> dt.datetime:
    try:
        return when.replace(year=when.year + _DEFAULT_VALIDITY)
    except ValueError:  # 29 February
        return when.replace(year=when.year + _DEFAULT_VALIDITY, day=28)


def _read_metadata(text: str) -> dt.datetime | None:
    """The metadata's ``validUntil``; ``InvalidInput`` if IAM could not use the document."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("Could not parse metadata",
                           detail="the document is not UTF-8 text") from None
    try:
        return parse_metadata(raw).valid_until
    except MetadataProblem as exc:
        raise InvalidInput("Could not parse metadata", detail=str(exc)) from None


def _unsupported(call: Call) -> None:
    for name in ("AddPrivateKey", "RemovePrivateKey", "ContextProvider",
                 "IdentityCenterInstanceArn"):
        if name in call.params:
            raise InvalidInput(f"{name} is not supported by this simulator.",
                               detail="SAML assertion encryption and Identity Center are not "
                                      "modelled")
    mode = call.params.raw.get("AssertionEncryptionMode")
    if mode not in (None, "Allowed"):
        raise InvalidInput(f"AssertionEncryptionMode {mode} is not supported by this "
                           "simulator.", detail="only unencrypted assertions are modelled")


def _arn(call: Call) -> tuple[str, str]:
    """``SAMLProviderArn``: the ARN and the provider's name; ``InvalidInput`` if it is not a
    SAML provider ARN."""
    arn = call.params.required("SAMLProviderArn", "arnType")
    parts = arn.split(":", 5)
    if (len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or parts[3] != ""
            or not parts[5].startswith("saml-provider/") or not parts[4].isdigit()
            or len(parts[4]) != 12 or len(parts[5]) == len("saml-provider/")):
        raise InvalidInput(f"ARN {arn} is not valid.",
                           detail="a SAML provider ARN is arn:aws:iam::ACCOUNT:"
                                  "saml-provider/NAME")
    return arn, parts[5][len("saml-provider/"):]


def _existing(account: AccountState, arn: str, name: str) -> SamlProvider:
    provider = account.provider(name)
    if provider is None or provider.arn.lower() != arn.lower():
        raise NoSuchEntity(f"Manifest not found for arn {arn}")
    return provider


def _own_metadata(provider: SamlProvider) -> str:
    root = etree.Element(f"{MD}EntityDescriptor", nsmap={"md": MD[1:-1], "ds": DS[1:-1]})
    root.set("entityID", provider.trust.entity_id)
    descriptor = etree.SubElement(root, f"{MD}IDPSSODescriptor")
    descriptor.set("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol")
    for pem in provider.trust.certificates:
        body = "".join(line for line in pem.strip().splitlines() if "-----" not in line)
        key = etree.SubElement(descriptor, f"{MD}KeyDescriptor", use="signing")
        info = etree.SubElement(key, f"{DS}KeyInfo")
        data = etree.SubElement(info, f"{DS}X509Data")
        etree.SubElement(data, f"{DS}X509Certificate").text = body
    return etree.tostring(root, encoding="unicode")


def _valid_until(provider: SamlProvider) -> dt.datetime:
    return provider.valid_until or _hundred_years(provider.created)


def create_saml_provider(call: Call) -> Struct | None:
    text = call.params.required("SAMLMetadataDocument", "SAMLMetadataDocumentType")
    name = call.params.required("Name", "SAMLProviderNameType")
    tags = call.params.tags()
    arn = call.arn("saml-provider/", "", name)
    call.authorize(arn)
    _unsupported(call)
    check_tags(tags)
    until = _read_metadata(text)
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> None:
        if state.provider(name) is not None:
            raise EntityAlreadyExists(f"SAMLProvider {name} already exists.")
        if len(state.providers) >= PROVIDERS_PER_ACCOUNT:
            raise LimitExceeded(
                f"Cannot exceed quota for SAMLProvidersPerAccount: {PROVIDERS_PER_ACCOUNT}")
        account.setdefault("providers", {})[name] = {
            "metadata": text, "created": iso(now),
            "valid_until": iso(until or _hundred_years(now)), "signatures": "either",
            "allow_sha1": False, "tags": stored_tags(tags)}

    call.change(edit)
    body: Struct = {"SAMLProviderArn": arn}
    if tags:
        body["Tags"] = tag_list(tags)
    return body


def get_saml_provider(call: Call) -> Struct | None:
    arn, name = _arn(call)
    call.authorize(arn)
    provider = _existing(call.account(), arn, name)
    body: Struct = {
        "SAMLMetadataDocument": provider.metadata if provider.metadata is not None
        else _own_metadata(provider),
        "CreateDate": provider.created, "ValidUntil": _valid_until(provider),
    }
    if provider.tags:
        body["Tags"] = tag_list(provider.tags)
    body["AssertionEncryptionMode"] = "Allowed"
    return body


def list_saml_providers(call: Call) -> Struct | None:
    call.authorize("*")
    providers = sorted(call.account().providers.values(), key=lambda p: p.name.lower())
    return {"SAMLProviderList": [
        {"Arn": p.arn, "ValidUntil": _valid_until(p), "CreateDate": p.created}
        for p in providers]}


def update_saml_provider(call: Call) -> Struct | None:
    text = call.params.optional("SAMLMetadataDocument", "SAMLMetadataDocumentType")
    arn, name = _arn(call)
    call.authorize(arn)
    _unsupported(call)
    until = _read_metadata(text) if text is not None else None
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> str:
        provider = _existing(state, arn, name)
        if text is not None:
            account["providers"][provider.name].update(
                metadata=text, valid_until=iso(until or _hundred_years(now)))
        return provider.arn

    return {"SAMLProviderArn": call.change(edit)}


def delete_saml_provider(call: Call) -> Struct | None:
    arn, name = _arn(call)
    call.authorize(arn)

    def edit(account: dict[str, Any], state: AccountState) -> None:
        provider = _existing(state, arn, name)
        del account["providers"][provider.name]

    call.change(edit)
    return None


def _target(call: Call) -> tuple[str, Callable[[AccountState], SamlProvider]]:
    arn, name = _arn(call)
    return arn, lambda state: _existing(state, arn, name)


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateSAMLProvider": create_saml_provider,
    "GetSAMLProvider": get_saml_provider,
    "ListSAMLProviders": list_saml_providers,
    "UpdateSAMLProvider": update_saml_provider,
    "DeleteSAMLProvider": delete_saml_provider,
    **tag_operations(Taggable("SAMLProvider", "providers", _target)),
}

