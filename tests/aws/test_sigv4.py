"""SigV4 verification against requests that botocore itself signed (no mocked signatures)."""

from __future__ import annotations

import datetime as dt
import email.utils
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError, SignatureDoesNotMatch
from idp.aws.sigv4 import SignedRequest, parse_authorization, verify_request
from idp.aws.wire import error_response, get_caller_identity_response, new_request_id
from idp.clock import FixedClock

SECRET = bytes(range(32, 64))
ROLE = "arn:aws:iam::123456789012:role/Admin"
URL = "http://127.0.0.1:9/aws/sts"
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


@pytest.fixture
def issuer(clock):
    return CredentialIssuer(SECRET, clock)


@pytest.fixture
def creds(issuer):
    return issuer.issue(ROLE, "alice", 3600)[0]


def sign(creds, *, url=URL, body=BODY, secret=None, token=None, region="us-east-1",
         service="sts", extra=()):
    """Sign like botocore does and return (headers as sent, including Host)."""
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": FORM, **dict(extra)})
    botocore_creds = Credentials(creds.access_key_id, secret or creds.secret_access_key,
                                 creds.session_token if token is None else token)
    SigV4Auth(botocore_creds, service, region).add_auth(request)
    return [("Host", urlsplit(url).netloc), *request.headers.items()]


def verify(headers, *, issuer, clock, method="POST", url=URL, body=BODY):
    return verify_request(SignedRequest(method=method, url=url, headers=headers, body=body),
                          credentials=issuer, clock=clock)


def code_of(excinfo):
    return excinfo.value.code, excinfo.value.http_status


def replace_header(headers, name, value):
    return [(k, value if k.lower() == name.lower() else v) for k, v in headers]


def test_valid_request_gives_claims(creds, issuer, clock):
    """A request botocore signed with the issued credentials verifies to the session's claims."""
    claims = verify(sign(creds), issuer=issuer, clock=clock)
    assert claims.assumed_role_arn == "arn:aws:sts::123456789012:assumed-role/Admin/alice"
    assert claims.access_key_id == creds.access_key_id


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/aws/sts/", "https://sts.example:8443/",
                                 "http://idp.test/aws/sts?Action=GetCallerIdentity&b=1"])
def test_other_paths_and_queries(creds, issuer, clock, url):
    """Trailing slashes, ports, https and query strings are signed and verified as sent."""
    headers = sign(creds, url=url)
    assert verify(headers, issuer=issuer, clock=clock, url=url)


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2", "us-west-2", "il-central-1"])
def test_any_region_of_the_aws_partition_verifies(creds, issuer, clock, region):
    """The twin stands for every regional STS endpoint: any real Region's scope verifies."""
    assert verify(sign(creds, region=region), issuer=issuer, clock=clock)


@pytest.mark.parametrize("region", ["xx-east-9", "us-east-1 ", "US-EAST-1", "aws-global",
                                    "cn-north-1", "us-gov-west-1", "moon-base-1"])
def test_region_that_does_not_exist_here_is_refused(creds, issuer, clock, region):
    """A scope naming no Region of the ``aws`` partition is refused with AWS's words, even
    when the signature itself is right (botocore signs whatever region it is given)."""
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify(sign(creds, region=region), issuer=issuer, clock=clock)
    assert caught.value.message == (
        f"Credential should be scoped to a valid region, not '{region}'. ")


def test_regions_follow_botocore_endpoint_data():
    """The Region list is botocore's own (what boto3 and the AWS CLI use), not a copy."""
    from botocore.loaders import Loader

    from idp.aws.regions import regions

    data = Loader().load_data("endpoints")
    (aws,) = [p for p in data["partitions"] if p["partition"] == "aws"]
    assert regions() == frozenset(aws["regions"])
    assert {"us-east-1", "eu-west-1"} <= regions()


def test_get_method_with_empty_body(creds, issuer, clock):
    """A GET with the action in the query string and no body verifies."""
    url = URL + "?Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
              "sts", "us-east-1").add_auth(request)
    headers = [("Host", "127.0.0.1:9"), *request.headers.items()]
    assert verify(headers, issuer=issuer, clock=clock, method="GET", url=url, body=b"")


def test_date_header_instead_of_x_amz_date(creds, issuer, clock):
    """A request signed with an HTTP Date header (no X-Amz-Date) verifies."""
    now = dt.datetime.now(dt.UTC)
    headers = sign(creds, extra={"Date": email.utils.format_datetime(now, usegmt=True)})
    assert not any(k.lower() == "x-amz-date" for k, _ in headers)
    assert verify(headers, issuer=issuer, clock=clock)


def test_unsigned_headers_do_not_matter(creds, issuer, clock):
    """Headers not listed in SignedHeaders can change or be added freely."""
    headers = [*sign(creds), ("User-Agent", "curl/8"), ("X-Forwarded-For", "10.0.0.1")]
    assert verify(headers, issuer=issuer, clock=clock)


@pytest.mark.parametrize(("change", "kwargs"), [
    pytest.param("body", {"body": b"Action=GetCallerIdentity&Version=2011-06-16"}, id="body"),
    pytest.param("path", {"url": "http://127.0.0.1:9/aws/sts/"}, id="path"),
    pytest.param("query", {"url": URL + "?x=1"}, id="query"),
    pytest.param("method", {"method": "PUT"}, id="method"),
    pytest.param("host", {}, id="host-header"),
    pytest.param("content-type", {}, id="signed-header"),
])
def test_changed_request_does_not_match(creds, issuer, clock, change, kwargs):
    """Changing anything that was signed gives SignatureDoesNotMatch 403."""
    headers = sign(creds)
    if change == "host":
        headers = replace_header(headers, "Host", "evil.example")
    if change == "content-type":
        headers = replace_header(headers, "Content-Type", "text/plain")
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock, **kwargs)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)
    assert info.value.message.startswith("The request signature we calculated does not match")


def test_wrong_secret(creds, issuer, clock):
    """Signing with any other secret gives SignatureDoesNotMatch 403."""
    with pytest.raises(AwsError) as info:
        verify(sign(creds, secret="A" * 40), issuer=issuer, clock=clock)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)


def test_missing_authorization(issuer, clock):
    """No Authorization header at all gives MissingAuthenticationToken 403."""
    with pytest.raises(AwsError) as info:
        verify([("Host", "127.0.0.1:9"), ("Content-Type", FORM)], issuer=issuer, clock=clock)
    assert code_of(info) == ("MissingAuthenticationToken", 403)
    assert info.value.message == "Request is missing Authentication Token"


def test_missing_security_token(creds, issuer, clock):
    """An ASIA key signed without its session token gives InvalidClientTokenId 403."""
    headers = sign(creds, token="")
    assert not any(k.lower() == "x-amz-security-token" for k, _ in headers)
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("InvalidClientTokenId", 403)


def test_forged_token(creds, issuer, clock):
    """A token that this install did not issue gives InvalidClientTokenId 403."""
    other, _ = CredentialIssuer(b"y" * 32, clock).issue(ROLE, "alice", 3600)
    headers = sign(creds, token=other.session_token)
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("InvalidClientTokenId", 403)


def test_long_term_key_is_unknown(creds, issuer, clock):
    """An AKIA (long-term) key is unknown here: InvalidClientTokenId 403."""
    request = AWSRequest(method="POST", url=URL, data=BODY)
    SigV4Auth(Credentials("AKIAIOSFODNN7EXAMPLE", "x" * 40), "sts", "us-east-1").add_auth(request)
    with pytest.raises(AwsError) as info:
        verify([("Host", "127.0.0.1:9"), *request.headers.items()], issuer=issuer, clock=clock)
    assert code_of(info) == ("InvalidClientTokenId", 403)


def test_expired_credentials(issuer, clock):
    """Credentials past their expiration give ExpiredToken 403 even when correctly signed."""
    past = FixedClock(clock.now() - dt.timedelta(hours=2))
    old, _ = CredentialIssuer(SECRET, past).issue(ROLE, "alice", 900)
    with pytest.raises(AwsError) as info:
        verify(sign(old), issuer=issuer, clock=clock)
    assert code_of(info) == ("ExpiredToken", 403)


def test_stale_request(creds, issuer, clock):
    """A request signed more than 15 minutes before the server's time has expired."""
    headers = sign(creds)
    clock.advance(16 * 60)
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)
    assert info.value.message.startswith("Signature expired: ")
    assert info.value.message.endswith(" - 15 min.)")


def test_future_request(creds, issuer, clock):
    """A request signed more than 15 minutes after the server's time is not yet current."""
    headers = sign(creds)
    clock.advance(-16 * 60)
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)
    assert info.value.message.startswith("Signature not yet current: ")


def test_fourteen_minutes_of_skew_is_tolerated(creds, issuer, clock):
    """Up to 15 minutes of skew either way is accepted."""
    headers = sign(creds)
    clock.advance(14 * 60)
    assert verify(headers, issuer=issuer, clock=clock)


def test_wrong_service_scope(creds, issuer, clock):
    """A signature scoped to another service is refused."""
    with pytest.raises(AwsError) as info:
        verify(sign(creds, service="iam"), issuer=issuer, clock=clock)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)
    assert "'sts'" in info.value.message


def test_scope_date_must_match_request_date(creds, issuer, clock):
    """The credential scope's date must be the X-Amz-Date's date."""
    headers = sign(creds)
    auth = next(v for k, v in headers if k == "Authorization")
    scope_date = parse_authorization(auth).date
    forged = auth.replace(f"/{scope_date}/", "/20200101/")
    with pytest.raises(AwsError) as info:
        verify(replace_header(headers, "Authorization", forged), issuer=issuer, clock=clock)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)
    assert "Date in Credential scope" in info.value.message


def test_missing_date(creds, issuer, clock):
    """Without X-Amz-Date or Date the signature is incomplete (400)."""
    headers = [(k, v) for k, v in sign(creds) if k.lower() != "x-amz-date"]
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("IncompleteSignature", 400)
    assert "'X-Amz-Date' or a 'Date'" in info.value.message


@pytest.mark.parametrize(("value", "missing"), [
    ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64, "'Credential'"),
    ("AWS4-HMAC-SHA256 Credential=ASIA/20260101/us-east-1/sts/aws4_request, "
     "Signature=" + "0" * 64, "'SignedHeaders'"),
    ("AWS4-HMAC-SHA256 Credential=ASIA/20260101/us-east-1/sts/aws4_request, "
     "SignedHeaders=host", "'Signature'"),
    ("AWS4-HMAC-SHA256 Credential=ASIA/20260101/sts/aws4_request, SignedHeaders=host, "
     "Signature=" + "0" * 64, "AKID/YYYYMMDD/REGION/SERVICE/aws4_request"),
    ("AWS4-HMAC-SHA256 Credential=ASIA/20260101/us-east-1/sts/aws4_request, "
     "SignedHeaders=host, Signature=xyz", "64 lower-case hex"),
    ("AWS AKIA:abc", "Unsupported AWS 'algorithm'"),
])
def test_malformed_authorization(issuer, clock, value, missing):
    """A malformed Authorization header is IncompleteSignature 400 naming what is missing."""
    headers = [("Host", "127.0.0.1:9"), ("X-Amz-Date", "20260101T000000Z"),
               ("Authorization", value)]
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("IncompleteSignature", 400)
    assert missing in info.value.message


def test_presigned_query_is_refused(issuer, clock):
    """Query-string (presigned) authentication is refused with IncompleteSignature 400."""
    url = URL + "?Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
    with pytest.raises(AwsError) as info:
        verify([("Host", "127.0.0.1:9")], issuer=issuer, clock=clock, method="GET", url=url,
               body=b"")
    assert code_of(info) == ("IncompleteSignature", 400)


def test_false_signed_body_hash_is_refused(creds, issuer, clock):
    """A signed X-Amz-Content-SHA256 that is not the body's hash cannot smuggle a new body."""
    headers = sign(creds, extra={"X-Amz-Content-SHA256": "0" * 64})
    with pytest.raises(AwsError) as info:
        verify(headers, issuer=issuer, clock=clock)
    assert code_of(info) == ("SignatureDoesNotMatch", 403)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


@pytest.fixture
def sts_client_factory(issuer, clock):
    """A real botocore STS client whose requests are answered by verify_request + wire."""

    def answer(request, **_kwargs):
        request_id = new_request_id()
        # The prepared request holds some header values as bytes; HTTP carries text.
        sent = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
        headers = [("Host", urlsplit(request.url).netloc), *sent]
        try:
            claims = verify_request(SignedRequest(method=request.method, url=request.url,
                                                  headers=headers, body=request.body or b""),
                                    credentials=issuer, clock=clock)
        except AwsError as err:
            return AWSResponse(request.url, err.http_status, {},
                               _Raw(error_response(err, request_id)))
        return AWSResponse(request.url, 200, {},
                           _Raw(get_caller_identity_response(claims, request_id)))

    def make(creds, secret=None):
        client = botocore.session.get_session().create_client(
            "sts", endpoint_url=URL, region_name="us-east-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=secret or creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=Config(retries={"total_max_attempts": 1}),
        )
        client.meta.events.register("before-send.sts", answer)
        return client

    return make


def test_botocore_client_end_to_end(creds, sts_client_factory):
    """A real botocore client's GetCallerIdentity verifies and parses our answer."""
    identity = sts_client_factory(creds).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/Admin/alice"
    assert identity["Account"] == "123456789012"
    assert identity["UserId"].endswith(":alice")


def test_botocore_client_wrong_secret(creds, sts_client_factory):
    """A real botocore client with the wrong secret sees SignatureDoesNotMatch (403)."""
    with pytest.raises(ClientError) as info:
        sts_client_factory(creds, secret="B" * 40).get_caller_identity()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_date_header_past_year_9999_is_incomplete_signature(creds, issuer, clock):
    """A Date header that overflows datetime (found by the long fuzz run) is a 400, not a 500."""
    auth = ("AWS4-HMAC-SHA256 Credential=ASIAVZCY2TVRL6VQCGH6/20261128/us-east-1/sts/"
            "aws4_request, SignedHeaders=host, Signature=" + "0" * 64)
    with pytest.raises(AwsError) as info:
        verify_request(SignedRequest(method="POST", url="http://idp.test/aws/sts",
                                     headers=[("Authorization", auth),
                                              ("Date", "Fri, 31 Dec 9999 23:59:59 -2359")],
                                     body=b""), credentials=issuer, clock=clock)
    assert info.value.code == "IncompleteSignature" and info.value.http_status == 400
