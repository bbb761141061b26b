"""The web layer under attack, against the real ``idp serve`` process (over real sockets).

One test per class of weakness an adversarial review found around the (sound) SAML and STS
core: forwarded headers believed by default, IdP sign-out that left copies of the cookie
working, open redirects through RelayState, unbounded keys in the shared state file, TOTP codes
accepted out of order, links built from the ``Host`` header, pages that could be framed, and
unbounded data in the session cookie; plus SigV4 scopes naming a Region that does not exist.
Slow and oversized request bodies are ``test_slow_clients``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html as htmllib
import re
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx2
import pyotp
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from idp.clock import format_instant
from tests.support.demo import CAROL_SECRET
from tests.support.http import auto_post, csrf, pending_id
from tests.support.server import LiveServer, running_server
from tests.support.sts import clean_aws_environment

pytestmark = pytest.mark.live

TIMEOUT = 10
ACTION_RE = re.compile(r'<form[^>]*action="([^"]*)"')


def client(base: str, **options: object) -> httpx2.Client:
    return httpx2.Client(base_url=base, timeout=TIMEOUT, **options)  # type: ignore[arg-type]


def failed_login(http: httpx2.Client, username: str, **headers: str) -> httpx2.Response:
    page = http.get("/idp/login")
    return http.post("/idp/login", headers=headers, data={
        "username": username, "password": "wrong", "csrf_token": csrf(page.text)})


def sign_in(http: httpx2.Client, username: str, password: str, otp: str | None = None
            ) -> httpx2.Response:
    """Log in from /idp/init and follow through to the auto-POST page."""
    first = http.get("/idp/init", follow_redirects=True)
    data = {"username": username, "password": password, "pending": pending_id(first.url),
            "csrf_token": csrf(first.text)}
    if otp is not None:
        data["otp"] = otp
    return http.post("/idp/login", data=data, follow_redirects=True)


# --- 1. forwarded headers are believed only from a proxy the operator named ------------------


def test_x_forwarded_for_cannot_sidestep_the_address_throttle(live_server: str) -> None:
    """A new X-Forwarded-For on every try is ignored: the 51st failure from one address waits."""
    with client(live_server) as http:
        statuses = [failed_login(http, f"nobody{i}", **{"X-Forwarded-For": f"198.51.100.{i}"}
                                 ).status_code for i in range(51)]
    assert statuses[:50] == [401] * 50
    assert statuses[50] == 429


def test_a_trusted_proxy_s_forwarded_for_names_the_client(tmp_path: Path) -> None:
    """With ``--trusted-proxy 127.0.0.1`` the client is the address the proxy forwarded: one
    client behind the proxy is throttled, another one is not."""
    with running_server(tmp_path, extra_args=["--trusted-proxy", "127.0.0.1"]) as server, \
            client(server.url) as http:
        for i in range(50):
            assert failed_login(http, f"nobody{i}",
                                **{"X-Forwarded-For": "203.0.113.7"}).status_code == 401
        assert failed_login(http, "nobody", **{"X-Forwarded-For": "203.0.113.7"}
                            ).status_code == 429
        assert failed_login(http, "nobody", **{"X-Forwarded-For": "203.0.113.8"}
                            ).status_code == 401
        # A client cannot prepend its own address: the rightmost untrusted hop counts.
        assert failed_login(http, "nobody", **{"X-Forwarded-For": "203.0.113.9, 203.0.113.7"}
                            ).status_code == 429


# --- 2. signing out of the IdP ends the login on the server ---------------------------------


def test_a_cookie_copied_before_sign_out_no_longer_signs_in(tmp_path: Path) -> None:
    """After a proper sign-out, a copy of the session cookie taken before it is refused, and
    stays refused after a restart on the same folders."""
    with running_server(tmp_path) as server, client(server.url) as http:
        assert "SAMLResponse" in sign_in(http, "bob", "bob-password").text
        stolen = dict(http.cookies)
        page = http.get("/idp/logout")
        signed_out = http.post("/idp/logout", data={"csrf_token": csrf(page.text)})
        assert signed_out.status_code == 303
        with client(server.url, cookies=stolen) as thief:
            again = thief.get("/idp/init")
            assert again.status_code == 303
            assert again.headers["location"].startswith("/idp/login?pending=")
    with running_server(tmp_path) as server, client(server.url, cookies=stolen) as thief:
        again = thief.get("/idp/init")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/idp/login")


def test_sign_out_of_one_login_leaves_another_login_of_the_same_user(live_server: str) -> None:
    """Sign-out ends that login only (each login has its own session index)."""
    with client(live_server) as laptop, client(live_server) as phone:
        sign_in(laptop, "bob", "bob-password")
        sign_in(phone, "bob", "bob-password")
        page = laptop.get("/idp/logout")
        laptop.post("/idp/logout", data={"csrf_token": csrf(page.text)})
        assert "SAMLResponse" in phone.get("/idp/init", follow_redirects=True).text
        assert "SAMLResponse" not in laptop.get("/idp/init", follow_redirects=True).text


def test_signing_in_again_ends_the_login_it_replaces(live_server: str) -> None:
    """A second sign-in in the same browser (as ForceAuthn asks for) replaces the login: a copy
    of the cookie from before no longer signs in, nor does any copy after sign-out."""
    with client(live_server) as http:
        sign_in(http, "alice", "alice-password")
        before = dict(http.cookies)
        page = http.get("/idp/login")
        again = http.post("/idp/login", data={"username": "alice", "password": "alice-password",
                                               "csrf_token": csrf(page.text)})
        assert again.status_code == 303
        assert "SAMLResponse" in http.get("/idp/init", follow_redirects=True).text
        with client(live_server, cookies=before) as thief:
            assert thief.get("/idp/init").headers["location"].startswith("/idp/login")
        page = http.get("/idp/logout")
        http.post("/idp/logout", data={"csrf_token": csrf(page.text)})
        assert "SAMLResponse" not in http.get("/idp/init", follow_redirects=True).text


def test_an_mfa_step_cannot_be_finished_twice(live_server: str) -> None:
    """A copy of the cookie taken between carol's password and her code cannot later finish
    the step with another code (no password): the step ended when it was used."""
    totp = pyotp.TOTP(CAROL_SECRET)
    now = dt.datetime.now(dt.UTC)
    with client(live_server) as http:
        first = http.get("/idp/init", follow_redirects=True)
        token = csrf(first.text)
        asked = http.post("/idp/login", data={
            "username": "carol", "password": "carol-password", "pending": pending_id(first.url),
            "csrf_token": token})
        assert asked.status_code == 401 and 'name="otp"' in asked.text
        copy = dict(http.cookies)
        done = http.post("/idp/login", data={"otp": totp.at(now), "csrf_token": csrf(asked.text),
                                             "pending": pending_id(first.url)},
                         follow_redirects=True)
        assert "SAMLResponse" in done.text
    with client(live_server, cookies=copy) as thief:
        page = thief.get("/idp/login")
        replay = thief.post("/idp/login", data={
            "otp": totp.at(now + dt.timedelta(seconds=30)), "csrf_token": csrf(page.text)})
        # Treated as a repeat of a finished step: sent on, with nothing granted.
        assert replay.status_code == 303 and "set-cookie" not in replay.headers
        assert "SAMLResponse" not in thief.get("/idp/init", follow_redirects=True).text


def test_a_double_clicked_code_form_lands_where_the_first_click_went(live_server: str) -> None:
    """The code form posted twice at once from one page (same cookie, same code): one
    submission signs in; the other is sent to the same place instead of an error, so the
    browser, which keeps the first one's cookie, carries on into the SSO step."""
    with client(live_server) as http:
        first = http.get("/idp/init", follow_redirects=True)
        pending = pending_id(first.url)
        asked = http.post("/idp/login", data={
            "username": "carol", "password": "carol-password", "pending": pending,
            "csrf_token": csrf(first.text)})
        form = {"otp": pyotp.TOTP(CAROL_SECRET).now(), "csrf_token": csrf(asked.text),
                "pending": pending}
        cookies = dict(http.cookies)
        with client(live_server, cookies=cookies) as a, client(live_server, cookies=cookies) as b:
            winner = a.post("/idp/login", data=form)
            loser = b.post("/idp/login", data=form)
    assert winner.status_code == 303 and "set-cookie" in winner.headers
    assert loser.status_code == 303 and "set-cookie" not in loser.headers
    assert loser.headers["location"] == winner.headers["location"]
    assert loser.headers["location"].startswith("/idp/sso?resume=")


# --- 3. RelayState goes only where a browser would go, on an allowed origin -----------------


@pytest.mark.parametrize("target", [
    "https://evil.example\\@signin.aws.amazon.com/",
    "https:\\\\evil.example/",
    "/\\evil.example/",
    "//evil.example/",
    " https://evil.example/",
    "https://ev\til.example/",
    "https:evil.example",
    "https:///evil.example",
    "https://signin.aws.amazon.com@evil.example/",
    "https://evil.example#@console.aws.amazon.com/",
    "javascript:alert(1)",
    "https://console.aws.amazon.com.evil.example/",
    "https://\uff45vil.example/",
    "https://evil-bucket.s3.amazonaws.com/x",
    "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
])
def test_relay_state_that_a_browser_would_send_elsewhere_is_refused(live_server: str,
                                                                     target: str) -> None:
    with client(live_server) as http:
        response = http.get("/idp/init", params={"RelayState": target})
    assert response.status_code == 400, target
    assert "not a target this IdP sends users to" in htmllib.unescape(response.text)


def test_relay_state_on_the_sp_host_but_another_port_is_refused(live_server: str) -> None:
    """The allow-list compares scheme, host and port: the console twin's host on another
    port is another site."""
    port = urlsplit(live_server).port
    with client(live_server) as http:
        same = http.get("/idp/init", params={"RelayState": f"{live_server}/aws/console/s3"})
        other = http.get("/idp/init",
                         params={"RelayState": f"http://127.0.0.1:{port + 1}/aws/console"})
    assert same.status_code == 303
    assert other.status_code == 400


def test_allowed_relay_states_still_work(live_server: str) -> None:
    with client(live_server) as http:
        for target in ("https://console.aws.amazon.com/s3/home?region=eu-west-1",
                       "/aws/console/ec2", f"{live_server}/aws/console"):
            response = http.get("/idp/init", params={"RelayState": target})
            assert response.status_code == 303, target


# --- 5. user input cannot grow the shared state file ----------------------------------------


def test_huge_usernames_do_not_grow_the_state_file(live_server_process: LiveServer) -> None:
    """Twenty failed logins with 250 KB usernames cost what twenty with short ones do (the
    write-ahead log grows by whole pages per write either way), not 10 MB."""
    data = live_server_process.log.parent / "data"

    def size() -> int:
        return sum(p.stat().st_size for p in data.glob("state.sqlite3*"))

    def growth(username: str) -> int:
        before = size()
        with client(live_server_process.url) as http:
            for i in range(20):
                assert failed_login(http, f"{i}{username}").status_code == 401
        return size() - before

    short = growth("-short")
    huge = growth("u" * 250_000)
    assert huge < short + 64 * 1024, (short, huge)


# --- 6. a one-time code older than the last one used is refused -----------------------------


def test_totp_codes_are_accepted_in_order_only(live_server: str) -> None:
    """After the code of step N+1 is used, the code of step N-1 no longer works."""
    totp = pyotp.TOTP(CAROL_SECRET)
    now = dt.datetime.now(dt.UTC)
    newer = totp.at(now + dt.timedelta(seconds=30))
    older = totp.at(now - dt.timedelta(seconds=30))
    with client(live_server) as first, client(live_server) as second:
        assert "SAMLResponse" in sign_in(first, "carol", "carol-password", otp=newer).text
        refused = sign_in(second, "carol", "carol-password", otp=older)
    assert refused.status_code == 401
    assert "SAMLResponse" not in refused.text


# --- 7. links never come from the Host header -----------------------------------------------


def test_host_and_forwarded_proto_headers_do_not_make_links(live_server: str) -> None:
    """``Host: evil.example`` (and ``X-Forwarded-Proto`` from a client) change no link."""
    hostile = {"Host": "evil.example", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "evil.example"}
    with client(live_server) as http:
        redirect = http.get("/idp/init", headers=hostile)
        location = redirect.headers["location"]
        page = http.get(location, headers=hostile)
        signed = sign_in(http, "bob", "bob-password")
        assert "SAMLResponse" in signed.text
        signed_in = http.get("/idp/login", headers=hostile)
    assert location.startswith("/idp/login?pending=")
    for html in (page.text, signed_in.text):
        assert "evil.example" not in html
        assert "https://" not in " ".join(ACTION_RE.findall(html))
    assert "secure" not in redirect.headers.get("set-cookie", "").lower()


# --- 8. no page can be framed; scanners' headers everywhere ---------------------------------


def _pages(base: str) -> dict[str, httpx2.Response]:
    """One response of every kind of page the service serves."""
    pages: dict[str, httpx2.Response] = {}
    with client(base) as http:
        first = http.get("/idp/init", follow_redirects=True)
        pages["sign-in"] = first
        pages["mfa"] = http.post("/idp/login", data={
            "username": "carol", "password": "carol-password", "pending": pending_id(first.url),
            "csrf_token": csrf(first.text)})
        pages["sign-out"] = http.get("/idp/logout")
        pages["error"] = http.get("/idp/init", params={"sp": "urn:unknown"})
        pages["metadata"] = http.get("/idp/metadata")
        pages["sts"] = http.post("/aws/sts", data={"Action": "GetCallerIdentity"})
    with client(base) as http:
        auto = sign_in(http, "alice", "alice-password")
        pages["auto-post"] = auto
        form = auto_post(auto.text)
        pages["role-choice"] = http.post("/aws/saml", data={
            "SAMLResponse": form.saml_response, "RelayState": form.relay_state})
        chosen = re.search(r'name="roleIndex" value="([^"]+)"', pages["role-choice"].text)
        assert chosen, pages["role-choice"].text[:1000]
        http.post("/aws/saml", data={"SAMLResponse": form.saml_response,
                                     "roleIndex": htmllib.unescape(chosen[1])})
        pages["console"] = http.get("/aws/console")
        assert "Temporary credentials" in pages["console"].text
        pages["console-error"] = http.post("/aws/saml", data={"SAMLResponse": "bm9wZQ=="})
    return pages


def test_no_page_can_be_framed_and_scanners_headers_are_sent(live_server: str) -> None:
    for name, response in _pages(live_server).items():
        headers = response.headers
        assert headers["x-frame-options"] == "DENY", name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] in ("no-referrer", "strict-origin-when-cross-origin")
        assert "no-store" in headers["cache-control"], name


def test_pages_run_only_their_own_scripts(live_server: str) -> None:
    """Each HTML page's CSP allows scripts by a per-response nonce only, and the page's own
    scripts carry it (so the auto-POST still submits itself)."""
    nonces = set()
    for name, response in _pages(live_server).items():
        if not response.headers["content-type"].startswith("text/html"):
            continue
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy, name
        assert "unsafe-eval" not in policy and "script-src 'unsafe-inline'" not in policy
        match = re.search(r"script-src 'nonce-([^']+)'", policy)
        assert match, (name, policy)
        nonces.add(match[1])
        for script in re.findall(r"<script[^>]*>", response.text):
            assert f'nonce="{match[1]}"' in script, name
    assert len(nonces) > 5  # fresh per response


# --- 9. the session cookie stays within what browsers keep ----------------------------------


def _post_authn_request(http: httpx2.Client, base: str, request_id: str,
                        relay: str = "") -> httpx2.Response:
    xml = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" '
           f'Version="2.0" IssueInstant="{format_instant(dt.datetime.now(dt.UTC))}" '
           f'Destination="{base}/idp/sso"><saml:Issuer>urn:amazon:webservices</saml:Issuer>'
           f'</samlp:AuthnRequest>')
    return http.post("/idp/sso", data={"SAMLRequest": base64.b64encode(xml.encode()).decode(),
                                       "RelayState": relay})


def test_a_huge_request_id_is_refused_without_a_huge_cookie(live_server: str) -> None:
    with client(live_server) as http:
        response = _post_authn_request(http, live_server, "_" + "a" * 40_000)
    assert response.status_code == 400
    assert "AuthnRequest ID is 40001 characters long" in response.text
    assert len(response.headers.get("set-cookie", "")) < 4096


def test_the_session_cookie_never_exceeds_4_kib(live_server: str) -> None:
    """The largest steps accepted, one after another, keep the cookie under 4 KiB; a step
    too large to keep (RelayState of escaped characters) is refused with a clear page."""
    with client(live_server) as http:
        for i in range(8):
            response = _post_authn_request(http, live_server, f"_{i}" + "b" * 250,
                                           relay="r" * 1024)
            assert response.status_code == 303
            assert len(response.headers["set-cookie"]) < 4096
        escaped = _post_authn_request(http, live_server, "_x", relay='"\u00e9' * 512)
    assert escaped.status_code == 400
    assert "too large to hold while you sign in" in escaped.text


# --- SigV4: a credential scope must name a real Region --------------------------------------


def test_sigv4_scope_must_name_a_region_that_exists(live_server: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """boto3 signing for a real Region works; for one that does not exist, AWS's refusal."""
    clean_aws_environment(monkeypatch, tmp_path)
    endpoint = f"{live_server}/aws/sts"
    no_retries = Config(retries={"max_attempts": 0})
    with client(live_server) as http:
        form = auto_post(sign_in(http, "bob", "bob-password").text)
    role, provider = form.attribute("https://aws.amazon.com/SAML/Attributes/Role")[0].split(",")
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="eu-west-1", config=no_retries,
                       aws_access_key_id="x", aws_secret_access_key="x")
    creds = sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider,
                                      SAMLAssertion=form.saml_response)["Credentials"]
    keys = {"aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}
    for region in ("eu-west-1", "ap-southeast-2"):
        caller = boto3.client("sts", endpoint_url=endpoint, region_name=region,
                              **keys).get_caller_identity()
        assert ":assumed-role/" in caller["Arn"]
    nowhere = boto3.client("sts", endpoint_url=endpoint, region_name="xx-nowhere-1",
                           config=no_retries, **keys)
    with pytest.raises(ClientError) as caught:
        nowhere.get_caller_identity()
    error = caught.value.response["Error"]
    assert error["Code"] == "SignatureDoesNotMatch"
    assert error["Message"] == (
        "Credential should be scoped to a valid region, not 'xx-nowhere-1'. ")


# --- logs: one event, one line ---------------------------------------------------------------


def test_a_client_cannot_forge_a_log_line(live_server_process: LiveServer) -> None:
    """An unsigned Response whose StatusMessage holds a line break is refused, and the log
    shows the break escaped on the refusal's own line."""
    forged = "INFO idp.console: console sign-in accepted for admin"
    xml = ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" '
           'Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status>'
           '<samlp:StatusCode Value="x"/><samlp:StatusMessage>line1\n' + forged
           + '</samlp:StatusMessage></samlp:Status></samlp:Response>')
    with client(live_server_process.url) as http:
        response = http.post("/aws/saml",
                             data={"SAMLResponse": base64.b64encode(xml.encode()).decode()})
    assert response.status_code == 400
    lines = live_server_process.output().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("line1\\n" + forged in line for line in lines)
