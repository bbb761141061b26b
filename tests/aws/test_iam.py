"""The simulated IAM: SAML providers hold metadata (ours or another IdP's) and signing rules."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from idp.aws.iam import read_metadata_file
from idp.errors import ConfigError, SamlValidationError
from idp.keys import KeyStore
from idp.saml.signing import Digest, SignatureAlgorithm, SigningPolicy
from idp.settings import Settings
from idp.sso import IdentityProvider
from tests.support.builders import federation, identity_provider
from tests.support.demo import AWS_ENTITY_ID, DEV, DEV_PROVIDER, edited_demo
from tests.support.saml import respond


def response_xml(idp: IdentityProvider, username: str = "alice") -> bytes:
    return base64.b64decode(respond(idp, username).saml_value)


def with_account_options(tmp_path: Path | None = None, **options: object):
    """The demo directory with ``options`` added to corp-dev (444455556666)."""
    return edited_demo(lambda demo: demo["accounts"][DEV].update(options), base=tmp_path)


def test_read_metadata_file_takes_entity_id_and_signing_certs(tmp_path, settings, directory,
                                                              keypair, clock):
    """Our own published metadata reads back as the trusted issuer AWS would store."""
    path = tmp_path / "idp.xml"
    path.write_bytes(identity_provider(settings, directory, keypair, clock).metadata())
    trust = read_metadata_file(path)[1].trust
    assert trust.entity_id == "http://idp.test/idp/metadata"
    assert "".join(trust.certificates[0].split()[2:-2]) == keypair.cert_b64.replace("\n", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not xml", "not acceptable XML"),
        (b'<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
         b"<SPSSODescriptor protocolSupportEnumeration='x'/></EntityDescriptor>",
         "not IdP metadata"),
        (b'<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
         b"<IDPSSODescriptor protocolSupportEnumeration='x'/></EntityDescriptor>",
         "no signing certificate"),
    ],
    ids=["garbage", "sp-metadata", "no-cert"],
)
def test_unusable_provider_metadata_is_a_config_error(tmp_path, content, message):
    """A provider pointed at a bad file fails at start-up with a clear reason."""
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        read_metadata_file(path)


def test_provider_holding_another_idps_metadata(tmp_path, settings, directory, keypair, clock):
    """corp-dev trusts a different IdP: our assertions fail there, the other IdP's pass."""
    other_settings = Settings(base_url="https://other-idp.example", certs_dir=tmp_path / "other")
    other_key = KeyStore(other_settings.certs_dir).create(other_settings.entity_id)
    other_idp = identity_provider(other_settings, directory, other_key, clock)
    (tmp_path / "other.xml").write_bytes(other_idp.metadata())
    custom = with_account_options(tmp_path, provider_metadata="other.xml")
    aws = federation(settings, custom, keypair, clock)
    provider = aws.iam.saml_provider(DEV_PROVIDER)
    assert provider.trust.entity_id == "https://other-idp.example/idp/metadata"
    ours = response_xml(identity_provider(settings, custom, keypair, clock))
    with pytest.raises(SamlValidationError) as info:
        aws.verify(ours, provider)
    assert info.value.rule == "signature-invalid"
    theirs = response_xml(identity_provider(
        other_settings.with_overrides(base_url="https://other-idp.example"), directory,
        other_key, clock))
    signed_in = aws.verify(theirs, provider)
    assert [g.role_arn for g in signed_in.grants] == ["arn:aws:iam::444455556666:role/Developer"]


@pytest.mark.parametrize(("choice", "rule"), [("both", "signature-missing"),
                                               ("response", "signature-missing"),
                                               ("assertion", None), ("either", None)])
def test_provider_signature_requirements(settings, keypair, clock, choice, rule):
    """provider_signatures decides which signatures are demanded (ours signs the Assertion)."""
    custom = with_account_options(provider_signatures=choice)
    aws = federation(settings, custom, keypair, clock)
    xml = response_xml(identity_provider(settings, custom, keypair, clock))
    provider = aws.iam.saml_provider(DEV_PROVIDER)
    if rule is None:
        assert aws.verify(xml, provider).grants
    else:
        with pytest.raises(SamlValidationError) as info:
            aws.verify(xml, provider)
        assert info.value.rule == rule


def test_sha1_is_accepted_only_where_the_provider_allows_it(settings, keypair, clock):
    """A legacy SHA-1 IdP works against a provider_allow_sha1 account and nowhere else."""
    idp_directory = edited_demo(lambda demo: demo.update(service_providers=[
        {"entity_id": AWS_ENTITY_ID, "signature_algorithm": "rsa-sha1",
         "digest_algorithm": "sha1"}]))
    sp = idp_directory.service_provider(AWS_ENTITY_ID)
    assert sp.signing == SigningPolicy(signature_algorithm=SignatureAlgorithm.RSA_SHA1,
                                       digest=Digest.SHA1)
    xml = response_xml(identity_provider(settings, idp_directory, keypair, clock))
    strict = federation(settings, with_account_options(), keypair, clock)
    with pytest.raises(SamlValidationError) as info:
        strict.verify(xml, strict.iam.saml_provider(DEV_PROVIDER))
    assert info.value.rule == "signature-algorithm"
    lenient = federation(settings, with_account_options(provider_allow_sha1=True), keypair,
                         clock)
    assert lenient.verify(xml, lenient.iam.saml_provider(DEV_PROVIDER)).grants


def test_bad_provider_signatures_value_is_reported_with_its_line():
    """A typo in provider_signatures names the file line."""
    with pytest.raises(ConfigError, match="provider_signatures must be one of"):
        with_account_options(provider_signatures="sometimes")


def test_provider_metadata_must_be_a_regular_file(tmp_path):
    """/dev/zero or a folder as provider metadata is refused at start-up, not read forever."""
    for path in (Path("/dev/zero"), tmp_path):
        with pytest.raises(ConfigError, match="regular file"):
            read_metadata_file(path)
