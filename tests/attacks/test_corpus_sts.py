"""Every corpus vector through real boto3 against one live ``idp serve`` (the mock STS).

Each vector starts from a genuinely signed Response for bob built with the server's own key
(``ResponseFactory``). A refusal must be exactly the AWS error the table names: Code, HTTP
status (4xx; retries are off, so a 5xx would surface as itself), Type ``Sender``, Message, and
no Credentials. The few accepted vectors must carry the *full* signed identity.

The oracle tests at the end run python3-saml (strict) on the very payloads the STS refuses, to
record where an independent validator accepts them (python3-saml 1.16, strict, as AWS's SP).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from lxml import etree

from tests.support import oracles
from tests.support.demo import AWS_ENTITY_ID
from tests.support.server import LiveServer, running_server
from tests.support.sts import (
    ResponseFactory,
    assert_sts_refusal,
    clean_aws_environment,
    sts_client,
)
from tests.vectors.attacks import (
    BASE_USER,
    VECTORS,
    Attack,
    Keys,
    StsAccept,
    StsRefusal,
    make_keys,
    md5_digest,
    xslt_transform,
)

pytestmark = pytest.mark.live

POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@pytest.fixture(scope="module")
def keys(factory: ResponseFactory) -> Keys:
    return make_keys(factory.keys)


@pytest.fixture(scope="module")
def sts(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One boto3 client (retries off) with no real AWS configuration in reach."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_aws_environment(monkeypatch, tmp_path_factory.mktemp("aws-config"))
        yield sts_client(f"{server.url}/aws/sts")


def call(sts: Any, attack: Attack) -> dict[str, Any]:
    result: dict[str, Any] = sts.assume_role_with_saml(
        RoleArn=attack.role_arn, PrincipalArn=attack.principal_arn, SAMLAssertion=attack.saml)
    return result


def refused(sts: Any, attack: Attack, expected: StsRefusal) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(sts, attack)
    response: dict[str, Any] = caught.value.response
    assert_sts_refusal(response, status=expected.status, code=expected.code,
                       message=expected.message, exact=expected.exact)
    assert response["ResponseMetadata"]["RequestId"]
    return response


def expected_refusal(name: str) -> StsRefusal:
    expected = VECTORS[name].sts
    assert isinstance(expected, StsRefusal)
    return expected


def session_name(result: dict[str, Any]) -> str:
    arn: str = result["AssumedRoleUser"]["Arn"]
    return arn.rsplit("/", 1)[1]


@pytest.mark.parametrize("name", list(VECTORS))
def test_sts_refuses(name: str, sts: Any, factory: ResponseFactory, keys: Keys) -> None:
    """The vector gets exactly its AWS error with no credentials, or the full signed identity."""
    vector = VECTORS[name]
    attack = vector.mutator(factory.build(BASE_USER), keys)
    if attack.replay:
        assert "Credentials" in call(sts, attack)
    if isinstance(vector.sts, StsAccept):
        result = call(sts, attack)
        assert result["Credentials"]["AccessKeyId"].startswith("ASIA")
        assert session_name(result) == vector.sts.session_name
        assert result["AssumedRoleUser"]["AssumedRoleId"].endswith(f":{vector.sts.session_name}")
        if vector.sts.subject is not None:
            assert result["Subject"] == vector.sts.subject
    else:
        refused(sts, attack, vector.sts)


def test_corpus_covers_the_brief() -> None:
    """Every case family the corpus promises is in the table (guards against silent removal)."""
    required = {f"xsw{i}" for i in range(1, 11)} | {
        "signature_stripped", "signature_value_empty", "signature_value_garbage",
        "attacker_key", "attacker_key_cloned_dn", "comment_in_name_id",
        "comment_in_role_session_name", "comment_in_role", "reference_unrelated_element",
        "reference_uri_empty", "duplicate_ids", "two_assertions_both_signed",
        "two_assertions_one_unsigned", "foreign_namespace_assertion", "sha1_downgrade",
        "md5_digest", "hmac_with_certificate", "xslt_transform", "xpath_transform",
        "comment_in_digest_value", "digest_value_outside_reference", "second_signed_info",
        "doctype", "xxe_file", "billion_laughs", "xinclude", "oversize", "deep_nesting",
        "utf16_with_bom", "utf8_bom", "base64_junk", "deflated", "replay",
        "conditions_expired", "conditions_not_yet_valid", "confirmation_expired",
        "issue_instant_too_old", "issue_instant_in_future", "session_not_on_or_after_passed",
        "wrong_audience", "wrong_recipient", "wrong_destination", "wrong_issuer",
        "in_response_to_unsolicited", "role_pair_cross_account", "role_not_in_assertion",
        "role_session_name_space", "source_identity_aws_prefix", "status_not_success",
    }
    assert required <= set(VECTORS)


def test_in_response_to_is_tolerated_as_aws_does(sts: Any, factory: ResponseFactory,
                                                 keys: Keys) -> None:
    """STS takes a Response carrying InResponseTo, as AWS does: ECP clients (awscli-login)
    redeem the answer to their own AuthnRequest
    (https://github.com/techservicesillinois/awscli-login/issues/13). The console twin still
    refuses it (test_corpus_console): AWS sign-in never sends an AuthnRequest."""
    attack = VECTORS["in_response_to_unsolicited"].mutator(factory.build(BASE_USER), keys)
    assert b'InResponseTo="_req1"' in base64.b64decode(attack.saml)
    assert "Credentials" in call(sts, attack)


# --- oracle: python3-saml (strict) on the same payloads -------------------------------------


def python3_saml(factory: ResponseFactory, saml: str) -> tuple[bool, str | None]:
    """python3-saml 1.16 in strict mode, as the AWS SP (urn:amazon:webservices) of this server."""
    idp = oracles.IdpMetadata(entity_id=factory.issuer, sso_url=f"{factory.url}/idp/sso",
                              cert_b64=factory.keys.cert_b64, xml=b"")
    verdict = oracles.python3_saml(saml, idp, acs=f"{factory.url}/aws/saml")
    return verdict.accepted, verdict.error


def test_python3_saml_oracle_control(factory: ResponseFactory, keys: Keys) -> None:
    """Control: python3-saml accepts bob's genuine Response and refuses an attacker-signed one."""
    assert python3_saml(factory, factory.build(BASE_USER)) == (True, None)
    forged = VECTORS["attacker_key"].mutator(factory.build(BASE_USER), keys)
    ok, error = python3_saml(factory, forged.saml)
    assert not ok and error


def test_md5_digest_python3_saml_accepts_we_refuse(sts: Any, factory: ResponseFactory,
                                                   keys: Keys) -> None:
    """python3-saml (strict, rejectDeprecatedAlgorithm) accepts an MD5 digest; the STS refuses it.

    python3-saml flags only SHA-1-family algorithms as deprecated (``DEPRECATED_ALGORITHMS`` in
    onelogin/saml2/constants.py), so an MD5 reference digest (collision-prone) passes; pysaml2
    and xmlsec1 accept it too (observed).
    """
    attack = md5_digest(factory.build(BASE_USER), keys)
    root = etree.fromstring(base64.b64decode(attack.saml))
    digest = root.find(".//{http://www.w3.org/2000/09/xmldsig#}DigestMethod")
    assert digest is not None and digest.get("Algorithm", "").endswith("#md5")
    ok, error = python3_saml(factory, attack.saml)
    assert ok, f"python3-saml refused MD5 after all: {error}"
    refused(sts, attack, expected_refusal("md5_digest"))


def test_xslt_transform_python3_saml_accepts_we_refuse(sts: Any, factory: ResponseFactory,
                                                       keys: Keys) -> None:
    """python3-saml (strict) accepts an IdP-signed XSLT transform (it runs it); the STS refuses.

    Observed: libxmlsec executes the stylesheet while verifying and python3-saml has no
    transform allow-list (signxml skips unknown transforms); only pysaml2 refused it.
    """
    attack = xslt_transform(factory.build(BASE_USER), keys)
    assert b"REC-xslt-19991116" in base64.b64decode(attack.saml)
    ok, error = python3_saml(factory, attack.saml)
    assert ok, f"python3-saml refused XSLT after all: {error}"
    refused(sts, attack, expected_refusal("xslt_transform"))


def test_replay_stateless_validators_accept_strict_mode_refuses(keys: Keys,
                                                                tmp_path: Path) -> None:
    """With ``--replay-protection strict`` a second redemption is refused, although
    python3-saml and pysaml2 (stateless) accept it.

    None of the four independent validators keeps a replay cache, although SAML Profiles
    §4.1.4.5 requires one: each accepts the same Response twice; python3-saml is shown accepting
    it again after our refusal. (AWS's default mode lets STS redeem it again: the "replay"
    vector.)
    """
    with running_server(tmp_path, env={"IDP_REPLAY_PROTECTION": "strict"}) as strict:
        client = sts_client(f"{strict.url}/aws/sts")
        strict_factory = ResponseFactory(strict.url, strict.certs_dir)
        attack = VECTORS["replay"].mutator(strict_factory.build(BASE_USER), keys)
        assert "Credentials" in call(client, attack)
        refused(client, attack, StsRefusal("InvalidIdentityToken", 400, "already been used",
                                           exact=False))
        assert python3_saml(strict_factory, attack.saml) == (True, None)


def pysaml2(server: LiveServer, factory: ResponseFactory, saml: str) -> Any:
    """pysaml2 7.5 as the AWS SP of this server, trusting its published metadata."""
    import shutil

    import httpx2
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    metadata = httpx2.get(f"{server.url}/idp/metadata", timeout=15).text
    config = SPConfig()
    config.load({
        "entityid": AWS_ENTITY_ID,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(f"{factory.url}/aws/saml",
                                                          BINDING_HTTP_POST)]},
            "want_assertions_signed": True, "want_response_signed": False,
            "allow_unsolicited": True}},
        "metadata": {"inline": [metadata]},
        "xmlsec_binary": shutil.which("xmlsec1"),
    })
    return Saml2Client(config=config).parse_authn_request_response(
        saml, BINDING_HTTP_POST, outstanding=None, conv_info={"entity_id": AWS_ENTITY_ID})


def test_sha1_pysaml2_accepts_we_refuse(sts: Any, server: LiveServer, factory: ResponseFactory,
                                        keys: Keys) -> None:
    """pysaml2 accepts an IdP-signed RSA-SHA1/SHA-1 Response; the STS refuses the same payload.

    pysaml2 defaults to RSA-SHA1/SHA-1 (``sig_default``/``digest_default`` in saml2/xmldsig) and
    has no deprecated-algorithm switch (python3-saml with rejectDeprecatedAlgorithm refuses it, as
    does signxml, whose SignatureConfiguration excludes SHA-1 by default).
    """
    attack = VECTORS["sha1_downgrade"].mutator(factory.build(BASE_USER), keys)
    assert b"xmldsig#rsa-sha1" in base64.b64decode(attack.saml)
    response = pysaml2(server, factory, attack.saml)
    assert response.name_id.text
    refused(sts, attack, expected_refusal("sha1_downgrade"))
    forged = VECTORS["attacker_key"].mutator(factory.build(BASE_USER), keys)
    with pytest.raises(Exception, match=r"(?i)signature"):  # control: pysaml2 does verify
        pysaml2(server, factory, forged.saml)
