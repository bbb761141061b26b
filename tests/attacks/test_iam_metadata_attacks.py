"""Hostile metadata documents given to ``CreateSAMLProvider`` / ``UpdateSAMLProvider``.

Each vector must be refused with the AWS error the table names (never a 5xx, never a hang),
and leave the IAM state exactly as it was: no provider is created or changed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from tests.aws.iam.inproc import ADMINS, IamClient
from tests.support.demo import PROD_PROVIDER

ENTITY = ('<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
          'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://evil.example/idp">')
PAD = "<!--" + "p" * 1000 + "-->"


def _idp(cert: str) -> str:
    return (ENTITY + '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:'
            '2.0:protocol"><KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
            f"<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
            "</KeyDescriptor></IDPSSODescriptor></EntityDescriptor>" + PAD)


@dataclass(frozen=True)
class Vector:
    name: str
    document: str
    code: str
    status: int


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                    for i in range(1, 10))
          + ']>' + ENTITY.replace(">", ">&lol9;", 1) + "</EntityDescriptor>" + PAD)

VECTORS = [
    Vector("xxe-file", '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM '
           '"file:///etc/passwd">]>' + _idp("&x;"), "InvalidInput", 400),
    Vector("xxe-http", '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM '
           '"http://127.0.0.1:1/x">]>' + _idp("&x;"), "InvalidInput", 400),
    Vector("parameter-entity", '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY % p SYSTEM '
           '"file:///etc/passwd"> %p;]>' + _idp("MIIB"), "InvalidInput", 400),
    Vector("billion-laughs", LAUGHS, "InvalidInput", 400),
    Vector("xinclude", _idp("MIIB").replace(
        "<ds:X509Certificate>", '<ds:X509Certificate><xi:include '
        'xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>'),
        "InvalidInput", 400),
    Vector("not-a-certificate", _idp("bm90IGEgY2VydGlmaWNhdGU="), "InvalidInput", 400),
    Vector("not-xml", "{" * 1500, "InvalidInput", 400),
    Vector("utf16-declared", '<?xml version="1.0" encoding="UTF-16"?>' + _idp("MIIB"),
           "InvalidInput", 400),
    Vector("deep-nesting", ENTITY + "<a>" * 5000 + "</a>" * 5000 + "</EntityDescriptor>",
           "InvalidInput", 400),
    Vector("too-short", _idp("MIIB")[:999], "ValidationError", 400),
    Vector("too-long", _idp("MIIB") + "<!--" + "x" * 10_000_000 + "-->", "ValidationError",
           400),
]


@pytest.fixture
def iam(client) -> IamClient:
    return IamClient(client, *ADMINS["prod"])


def state_of(client) -> str:
    services = client.app.state.runtime.services
    return json.dumps(services.iam_api.iam.documents._current()[2], sort_keys=True)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
@pytest.mark.parametrize("operation", ["CreateSAMLProvider", "UpdateSAMLProvider"])
def test_hostile_metadata_is_refused_cleanly(iam, client, vector, operation):
    params = ({"Name": "Evil"} if operation == "CreateSAMLProvider"
              else {"SAMLProviderArn": PROD_PROVIDER})
    before = state_of(client)
    started = time.monotonic()
    with pytest.raises(ClientError) as exc:
        iam.call(operation, validate=False, SAMLMetadataDocument=vector.document, **params)
    assert time.monotonic() - started < 30
    error = exc.value.response["Error"]
    assert (error["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        vector.code, vector.status), error
    assert "root:" not in error["Message"]  # nothing of /etc/passwd is echoed
    assert len(error["Message"]) < 2000
    assert state_of(client) == before
