"""``/aws/iam``: the Query endpoint itself (paths, envelope, authentication, body limits)."""

from __future__ import annotations

import pytest
from lxml import etree

from idp.web.iam_routes import MAX_BODY_BYTES
from tests.aws.iam.inproc import ADMINS, IamClient

NS = {"i": "https://iam.amazonaws.com/doc/2010-05-08/"}
GET_USER = "Action=GetUser&Version=2010-05-08"


def parsed(response) -> etree._Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.headers["x-amzn-requestid"]
    return etree.fromstring(response.content)


def code_of(response) -> str:
    root = parsed(response)
    assert root.tag == f"{{{NS['i']}}}ErrorResponse"
    assert root.findtext("i:RequestId", namespaces=NS) == response.headers["x-amzn-requestid"]
    return str(root.findtext("i:Error/i:Code", namespaces=NS))


@pytest.mark.parametrize("path", ["/aws/iam", "/aws/iam/"])
def test_both_paths_answer_the_iam_envelope(client, path):
    response = IamClient(client, *ADMINS["prod"], path=path).raw(GET_USER)
    assert response.status_code == 200
    root = parsed(response)
    assert root.tag == f"{{{NS['i']}}}GetUserResponse"
    assert root.findtext("i:GetUserResult/i:User/i:UserName", namespaces=NS) == "admin"
    assert root.findtext("i:ResponseMetadata/i:RequestId", namespaces=NS) == \
        response.headers["x-amzn-requestid"]


def test_operations_without_output_carry_only_response_metadata(client):
    iam = IamClient(client, *ADMINS["prod"])
    response = iam.raw("Action=UpdateAccessKey&Version=2010-05-08&UserName=admin&"
                       "AccessKeyId=AKIAPRODADMINEXAMPLE&Status=Active")
    assert response.status_code == 200
    root = parsed(response)
    assert [child.tag.split("}")[1] for child in root] == ["ResponseMetadata"]


@pytest.mark.parametrize(("body", "code"), [
    ("Version=2010-05-08", "MissingAction"),
    ("Action=GetUser&Version=2011-06-15", "InvalidAction"),
    ("Action=GetUser", "InvalidAction"),
    ("Action=NoSuchThing&Version=2010-05-08", "InvalidAction"),
], ids=["no-action", "sts-version", "no-version", "unknown"])
def test_query_protocol_errors(client, body, code):
    response = IamClient(client, *ADMINS["prod"]).raw(body)
    assert response.status_code == 400 and code_of(response) == code


def test_unsigned_unknown_key_and_bad_signature(client):
    assert IamClient(client, *ADMINS["prod"]).raw(GET_USER, sign=False).status_code in (
        400, 403)
    unknown = IamClient(client, "AKIAUNKNOWNKEY000000", "x" * 40).raw(GET_USER)
    assert (unknown.status_code, code_of(unknown)) == (403, "InvalidClientTokenId")
    bad = IamClient(client, "AKIAPRODADMINEXAMPLE", "wrong-secret").raw(GET_USER)
    assert (bad.status_code, code_of(bad)) == (403, "SignatureDoesNotMatch")


def test_a_key_signed_for_sts_is_not_an_iam_signature(client):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method="POST", url="http://idp.test/aws/iam", data=GET_USER,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(*ADMINS["prod"]), "sts", "us-east-1").add_auth(request)
    response = client.post("/aws/iam", content=GET_USER, headers=dict(request.headers))
    assert 400 <= response.status_code < 500 and code_of(response)


def test_a_declared_too_large_body_is_a_clean_413(client):
    response = client.post("/aws/iam", content=b"Action=GetUser",
                           headers={"Content-Length": str(MAX_BODY_BYTES + 1),
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and code_of(response) == "ValidationError"


def test_a_streamed_too_large_body_is_a_clean_413(client):
    def chunks():
        chunk = b"A" * (1 << 20)
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk
    response = client.post("/aws/iam", content=chunks(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and code_of(response) == "ValidationError"


def test_the_limit_admits_a_full_size_metadata_document():
    # 10,000,000 characters of markup-heavy XML URL-encode to under three times that.
    assert MAX_BODY_BYTES >= 3 * 10_000_000 + 4096


def test_a_body_that_is_not_utf8_is_a_4xx(client):
    response = IamClient(client, *ADMINS["prod"]).raw(b"Action=GetUser&Version=2010-05-08&x=\xff")
    assert 400 <= response.status_code < 500 and code_of(response) == "MalformedQueryString"


def test_get_with_query_string_works_like_post(client):
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method="GET", url=f"http://idp.test/aws/iam?{GET_USER}")
    SigV4QueryAuth(Credentials(*ADMINS["prod"]), "iam", "us-east-1").add_auth(request)
    response = client.get(request.url.replace("http://idp.test", ""))
    assert response.status_code in (200, 400, 403)  # presigned URLs: the sigv4 module decides
    assert response.headers["content-type"].startswith("text/xml")
