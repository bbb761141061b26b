"""The simulated IAM: accounts, their SAML providers (each holding IdP metadata), their roles.

By default every account's provider holds *this* IdP's metadata (entityID and published
certificates). ``provider_metadata: FILE`` in the directory points a provider at another
IdP's metadata, so assertions from a real corporate IdP can be checked too. Of a metadata
document AWS uses the entityID and the signing certificates (IAM User Guide, "Create a SAML
identity provider in IAM"; the IAM API's ``CreateSAMLProvider`` takes documents up to
10,000,000 characters).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from idp.directory.model import Account, Directory, Role
from idp.errors import ConfigError, XMLError
from idp.keys import KeyPair
from idp.saml.constants import DS, MD
from idp.saml.validation import TrustedIssuer
from idp.xml import parse, text_of

__all__ = ["Iam", "SamlProvider", "read_idp_metadata"]


@dataclass(frozen=True)
class SamlProvider:
    """``arn:aws:iam::ACCOUNT:saml-provider/NAME`` and what it trusts."""

    arn: str
    account: Account
    trust: TrustedIssuer

    @property
    def name(self) -> str:
        return self.account.saml_provider


def _pem(b64: str) -> str:
    body = "".join(b64.split())
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def read_idp_metadata(path: Path) -> TrustedIssuer:
    """entityID and signing certificates of an IdP ``EntityDescriptor`` file."""
    where = str(path)
    # A regular file within IAM's own metadata limit (never /dev/zero or a FIFO).
    if not path.is_file() or path.stat().st_size > 10_000_000:
        raise ConfigError("provider metadata must be a regular file under 10 MB", source=where)
    try:
        root = parse(path.read_bytes(), max_bytes=10_000_000)
    except OSError as exc:
        raise ConfigError(f"cannot read provider metadata: {exc.strerror}", source=where) from None
    except XMLError as exc:
        raise ConfigError(f"provider metadata is not acceptable XML: {exc}", source=where) from None
    if root.tag == f"{MD}EntitiesDescriptor":
        found = root.find(f"{MD}EntityDescriptor")
        if found is None:
            raise ConfigError("EntitiesDescriptor holds no EntityDescriptor", source=str(path))
        root = found
    entity_id = root.get("entityID")
    descriptor = root.find(f"{MD}IDPSSODescriptor")
    if root.tag != f"{MD}EntityDescriptor" or not entity_id or descriptor is None:
        raise ConfigError("not IdP metadata (needs EntityDescriptor/@entityID and an "
                          "IDPSSODescriptor)", source=str(path))
    certs = tuple(
        _pem(text_of(cert))
        for key in descriptor.findall(f"{MD}KeyDescriptor")
        if key.get("use") in (None, "signing")
        for cert in key.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    )
    if not certs:
        raise ConfigError("IdP metadata has no signing certificate", source=str(path))
    return TrustedIssuer(entity_id=entity_id, certificates=certs)


class Iam:
    """The simulated IAM: every account's SAML provider (resolved once) and its roles."""

    def __init__(self, directory: Directory, own_entity_id: str, own_keys: tuple[KeyPair, ...]):
        own = TrustedIssuer(entity_id=own_entity_id,
                            certificates=tuple(k.cert_pem for k in own_keys))
        self._providers: dict[str, SamlProvider] = {}
        for account in directory.accounts.values():
            trust = replace(
                read_idp_metadata(Path(account.provider_metadata))
                if account.provider_metadata else own,
                allow_sha1=account.provider_allow_sha1,
                require_assertion_signed=account.provider_signatures in ("assertion", "both"),
                require_response_signed=account.provider_signatures in ("response", "both"),
            )
            self._providers[account.provider_arn] = SamlProvider(
                account.provider_arn, account, trust
            )
        self._directory = directory

    def saml_provider(self, arn: str) -> SamlProvider | None:
        return self._providers.get(arn)

    def role(self, arn: str) -> tuple[Account, Role] | None:
        """The role with this ARN and its account."""
        return self._directory.role(arn)

    def account_alias(self, account_id: str) -> str | None:
        account = self._directory.accounts.get(account_id)
        return account.alias if account is not None else None
