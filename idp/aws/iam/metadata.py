"""IdP metadata as IAM reads it for a SAML provider: the entityID and the signing certificates.

Of a metadata document AWS uses the entityID and the signing certificates (IAM User Guide,
"Create a SAML identity provider in IAM"); ``CreateSAMLProvider`` takes documents of 1,000 to
10,000,000 characters (IAM API Reference, ``SAMLMetadataDocument``) and refuses anything else
with ``InvalidInput``. ``validUntil`` on the ``EntityDescriptor`` becomes the provider's
``ValidUntil``; without it IAM reports a date a hundred years after the upload.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509

from idp.errors import ConfigError, IdPError, XMLError
from idp.saml.constants import DS, MD
from idp.saml.validation import TrustedIssuer
from idp.xml import parse, text_of

__all__ = [
    "MAX_METADATA_CHARS",
    "MIN_METADATA_CHARS",
    "MetadataProblem",
    "ProviderMetadata",
    "parse_metadata",
    "read_metadata_file",
]

MIN_METADATA_CHARS: Final = 1000
MAX_METADATA_CHARS: Final = 10_000_000
#: The same document as UTF-8 bytes: a character is up to four (IAM counts characters).
MAX_METADATA_BYTES: Final = 4 * MAX_METADATA_CHARS


class MetadataProblem(IdPError, ValueError):
    """Why a metadata document is not one IAM would import (one sentence)."""


@dataclass(frozen=True)
class ProviderMetadata:
    """What a SAML provider keeps of an IdP's metadata."""

    trust: TrustedIssuer
    valid_until: dt.datetime | None


def _pem(b64: str) -> str:
    body = "".join(b64.split())
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _valid_until(text: str | None) -> dt.datetime | None:
    """``validUntil`` in UTC; one that UTC cannot hold (year 1 at +14:00...) is refused."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        when = (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC))
        return when.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise MetadataProblem(f"validUntil {text[:40]!r} is not an xs:dateTime in "
                              "years 1-9999 UTC") from None


def parse_metadata(document: bytes, *, max_bytes: int = MAX_METADATA_BYTES) -> ProviderMetadata:
    """entityID, signing certificates and ``validUntil`` of an IdP ``EntityDescriptor``.

    Parsed with the one hardened parser (``idp.xml``). Raises ``MetadataProblem``: not
    well-formed, not IdP metadata, no signing certificate, a certificate that is not X.509.
    """
    try:
        root = parse(document, max_bytes=max_bytes)
    except XMLError as exc:
        raise MetadataProblem(f"the metadata is not acceptable XML: {exc}") from None
    if root.tag == f"{MD}EntitiesDescriptor":
        found = root.find(f"{MD}EntityDescriptor")
        if found is None:
            raise MetadataProblem("EntitiesDescriptor holds no EntityDescriptor")
        root = found
    entity_id = root.get("entityID")
    descriptor = root.find(f"{MD}IDPSSODescriptor")
    if root.tag != f"{MD}EntityDescriptor" or not entity_id or descriptor is None:
        raise MetadataProblem("not IdP metadata (needs EntityDescriptor/@entityID and an "
                              "IDPSSODescriptor)")
    certs = tuple(
        _pem(text_of(cert))
        for key in descriptor.findall(f"{MD}KeyDescriptor")
        if key.get("use") in (None, "signing")
        for cert in key.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    )
    if not certs:
        raise MetadataProblem("the IDPSSODescriptor has no signing certificate")
    for pem in certs:
        try:
            x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise MetadataProblem("a signing certificate is not an X.509 certificate") from None
    return ProviderMetadata(trust=TrustedIssuer(entity_id=entity_id, certificates=certs),
                            valid_until=_valid_until(root.get("validUntil")))


def read_metadata_file(path: Path) -> tuple[str, ProviderMetadata]:
    """An IdP ``EntityDescriptor`` file (a directory's ``provider_metadata``): its text, as
    a provider keeps it, and what IAM reads of it; ``ConfigError`` (file and reason) if it is
    not a regular UTF-8 file within IAM's size limit or not IdP metadata."""
    where = str(path)
    # A regular file within IAM's own metadata limit (never /dev/zero or a FIFO).
    if not path.is_file() or path.stat().st_size > MAX_METADATA_CHARS:
        raise ConfigError("provider metadata must be a regular file under 10 MB", source=where)
    try:
        raw = path.read_bytes()
        return raw.decode("utf-8"), parse_metadata(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read provider metadata: {exc.strerror}", source=where) from None
    except UnicodeDecodeError:
        raise ConfigError("provider metadata must be UTF-8", source=where) from None
    except MetadataProblem as exc:
        raise ConfigError(f"provider metadata: {exc}", source=where) from None
