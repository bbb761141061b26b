"""The AWS console twin's routes: ``POST /aws/saml``, "Select a role", the console page,
sign-out.

Responses come from real logins over HTTP (``tests.support.http.login``); the
misconfigured-IdP cases are re-signed with the install's key
(``tests.support.saml.resigned``), so only the deliberate mistake is wrong.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode

import lxml.html
import pytest

from tests.support.demo import (
    ADMIN,
    AWS_ACS,
    DEV,
    DEVELOPER,
    PROD,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    SESSION_NAME_ATTR,
    edited_demo,
)
from tests.support.http import authn_request, auto_post, login, redirect_value
from tests.support.saml import attribute as find_attribute
from tests.support.saml import remove_attribute, resigned, set_attribute

AWS_TEXT = "Your request included an invalid SAML response. To logout, click"
ADFS_ACCOUNT_RE = re.compile(r"Account: *([^(]+) *\(([0-9]+)\)")


def saml_response(client, username: str, *, relay_state: str | None = None):
    """Log ``username`` in at /idp/init and return the auto-POSTed Response."""
    start = "/idp/init" + (f"?{urlencode({'RelayState': relay_state})}" if relay_state else "")
    posted = auto_post(login(client, start, username, f"{username}-password").text)
    assert posted.action == AWS_ACS
    return posted


def post(client, saml: str, relay_state: str = "", **fields: str):
    data = {"SAMLResponse": saml, "RelayState": relay_state, **fields}
    return client.post("/aws/saml", data=data, follow_redirects=False)


def set_role_values(*values: str):
    return lambda root: set_attribute(root, ROLE_ATTR, *values)


def rename_attribute(name: str, new_name: str):
    return lambda root: find_attribute(root, name).set("Name", new_name)


def text_of(html: str) -> str:
    return " ".join(lxml.html.fromstring(html).text_content().split())


# --- one role ---------------------------------------------------------------------------------


def test_one_role_signs_straight_in(client):
    """bob has one role: the first POST opens the session and redirects to the console."""
    response = post(client, saml_response(client, "bob").saml_response)
    assert response.status_code == 303
    assert response.headers["location"] == "/aws/console"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("aws_console=")
    for attribute in ("HttpOnly", "Path=/aws", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie  # http base URL

    page = client.get("/aws/console")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = text_of(page.text)
    assert f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/bob@corp.example" in text
    assert f"corp-prod ({PROD})" in text
    assert re.search(r"export AWS_ACCESS_KEY_ID=ASIA[A-Z2-7]{16}\b", page.text)
    assert re.search(r"export AWS_SECRET_ACCESS_KEY=\S{40}\n", page.text)
    assert "export AWS_SESSION_TOKEN=" in page.text
    assert "export AWS_ENDPOINT_URL_STS=http://idp.test/aws/sts" in page.text
    assert "60 minutes left" in text


def test_console_credentials_are_the_sessions_own(client):
    """The key pair on the page resolves to bob's assumed role at the credential issuer."""
    post(client, saml_response(client, "bob").saml_response)
    page = client.get("/aws/console").text
    akid = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", page)[1]
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", page)[1]
    token = re.search(r"AWS_SESSION_TOKEN=(\S+)", page)[1]
    issuer = client.app.state.runtime.services.federation.credentials
    assert issuer.secret_for(akid) == secret
    assert issuer.resolve(akid, token).assumed_role_arn.endswith("assumed-role/ReadOnly/"
                                                                 "bob@corp.example")


def test_roleindex_outside_the_assertion_is_refused_for_one_role(client):
    """bob cannot ask for Admin: it is not in his signed Role attribute."""
    response = post(client, saml_response(client, "bob").saml_response, roleIndex=ADMIN)
    assert response.status_code == 400
    assert "role-choice" in response.text
    assert "aws_console=" not in response.headers.get("set-cookie", "")


# --- several roles: "Select a role" -----------------------------------------------------------


def test_several_roles_show_aws_select_a_role_markup(client):
    """alice gets AWS's page with the structure saml2aws and aws-adfs scrape (saml2aws
    aws_account.go, testdata/saml.html)."""
    posted = saml_response(client, "alice")
    response = post(client, posted.saml_response, relay_state="")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    doc = lxml.html.fromstring(response.text)
    assert doc.xpath("string(//h1)") == "Amazon Web Services Login"
    assert "Select a role:" in doc.text_content()

    form = doc.xpath("//form[@id='saml_form']")[0]
    assert (form.get("name"), form.get("action"), form.get("method")) == (
        "saml_form", "/aws/saml", "post")
    hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
    assert hidden == {"RelayState": "", "SAMLResponse": posted.saml_response, "name": ""}

    accounts = form.xpath("./fieldset/div[@class='saml-account']")
    assert len(accounts) == 2
    names = [a.xpath("string(.//div[@class='saml-account-name'])") for a in accounts]
    assert names == [f"Account: corp-prod ({PROD})", f"Account: corp-dev ({DEV})"]
    assert [ADFS_ACCOUNT_RE.match(n).groups() for n in names] == [
        ("corp-prod ", PROD), ("corp-dev ", DEV)]

    radios = form.xpath(".//input[@type='radio']")
    assert [(r.get("name"), r.get("value"), r.get("id"), r.get("class")) for r in radios] == [
        ("roleIndex", arn, arn, "saml-radio") for arn in (ADMIN, READ_ONLY, DEVELOPER)]
    labels = [(lab.get("for"), lab.text_content())
              for lab in form.xpath(".//label[@class='saml-role-description']")]
    assert labels == [(ADMIN, "Admin"), (READ_ONLY, "ReadOnly"), (DEVELOPER, "Developer")]
    roles_per_account = [len(a.xpath(".//div[@class='saml-role']")) for a in accounts]
    assert roles_per_account == [2, 1]
    button = form.xpath(".//*[@id='signin_button']")[0]
    assert button.tag == "button" and button.get("type") == "submit"


def test_second_post_with_role_index_opens_that_role(client):
    """The same SAMLResponse with roleIndex=Developer signs alice in to corp-dev."""
    posted = saml_response(client, "alice")
    assert post(client, posted.saml_response).status_code == 200  # role page, not consumed
    response = post(client, posted.saml_response, roleIndex=DEVELOPER, name="")
    assert response.status_code == 303
    assert response.headers["location"] == "/aws/console"
    text = text_of(client.get("/aws/console").text)
    assert f"arn:aws:sts::{DEV}:assumed-role/Developer/alice@corp.example" in text
    assert f"corp-dev ({DEV})" in text


def test_role_index_not_in_the_assertion_is_refused(client):
    """A role ARN alice's assertion does not carry gets the 400 page, no session."""
    posted = saml_response(client, "alice")
    response = post(client, posted.saml_response,
                    roleIndex=f"arn:aws:iam::{DEV}:role/Admin")
    assert response.status_code == 400
    assert AWS_TEXT in text_of(response.text)
    assert "role-choice" in response.text
    assert "aws_console=" not in response.headers.get("set-cookie", "")
    # Nothing was consumed: a real choice still works.
    assert post(client, posted.saml_response, roleIndex=ADMIN).status_code == 303


def test_empty_role_index_shows_the_page_again(client):
    """Submitting without picking a role re-shows the choice with a message."""
    posted = saml_response(client, "alice")
    response = post(client, posted.saml_response, roleIndex="")
    assert response.status_code == 200
    assert "Select a role to sign in." in response.text


def test_replayed_response_is_refused_after_a_session(client):
    """Once a session was issued, the same SAMLResponse is a replay (400)."""
    posted = saml_response(client, "alice")
    assert post(client, posted.saml_response, roleIndex=ADMIN).status_code == 303
    again = post(client, posted.saml_response, roleIndex=ADMIN)
    assert again.status_code == 400
    assert AWS_TEXT in text_of(again.text)
    assert "already" in again.text and "replay" in again.text


# --- failures: AWS's sentence, then the diagnosis ---------------------------------------------


def test_tampered_response_shows_invalid_saml_page_with_rule(client):
    """A Role value edited after signing fails the signature check, said plainly."""
    posted = saml_response(client, "bob")
    xml = base64.b64decode(posted.saml_response)
    tampered = xml.replace(b"role/ReadOnly,", b"role/Admin,")
    assert tampered != xml
    response = post(client, base64.b64encode(tampered).decode())
    assert response.status_code == 400
    doc = lxml.html.fromstring(response.text)
    assert AWS_TEXT in " ".join(doc.text_content().split())
    assert doc.xpath("string(//*[@id='aws-error']/a/@href)") == "/idp/logout"
    assert "signature" in doc.xpath("string(//*[@id='rule'])")
    received = " ".join(doc.xpath("string(//*[@id='received'])").split())
    assert "Untrusted" in received
    assert "http://idp.test/idp/metadata" in received  # Issuer as received
    assert "urn:amazon:webservices" in received  # Audience as received
    assert f"arn:aws:iam::{PROD}:role/Admin" in received  # the tampered value, shown


def test_a_non_success_status_is_diagnosed_as_the_status(client, clock):
    """An SP-initiated IsPassive request with nobody signed in comes back NoPassive: the
    console says the IdP answered with that status, not that the Role attribute is missing."""
    xml = authn_request(clock, IsPassive="true")
    answer = client.get("/idp/sso", params={"SAMLRequest": redirect_value(xml)})
    posted = auto_post(answer.text)
    response = post(client, posted.saml_response)
    assert response.status_code == 400
    doc = lxml.html.fromstring(response.text)
    assert doc.xpath("string(//*[@id='rule'])").strip().startswith("status")
    assert "NoPassive" in response.text


def test_lowercase_role_attribute_is_diagnosed_as_case_sensitive(client, keypair):
    """A correctly signed Response whose attribute is .../role (lowercase) is explained."""
    posted = saml_response(client, "bob")
    lower = "https://aws.amazon.com/SAML/Attributes/role"
    saml = resigned(posted.saml_response, keypair, rename_attribute(ROLE_ATTR, lower))
    response = post(client, saml)
    assert response.status_code == 400
    text = text_of(response.text)
    assert AWS_TEXT in text
    assert f"attribute names are case-sensitive: found {lower}" in text


def test_role_value_without_provider_is_diagnosed(client, keypair):
    """A Role value that is only a role ARN is explained as not role-arn,provider-arn."""
    saml = resigned(saml_response(client, "bob").saml_response, keypair,
                    set_role_values(READ_ONLY))
    response = post(client, saml)
    assert response.status_code == 400
    assert "role-value" in response.text
    assert "it must be role-arn,provider-arn" in text_of(response.text)


def test_unknown_provider_is_diagnosed(client, keypair):
    """A provider ARN the simulated IAM does not have: AWS's own words, plus the ARN."""
    missing = f"arn:aws:iam::{PROD}:saml-provider/NoSuchIdP"
    saml = resigned(saml_response(client, "bob").saml_response, keypair,
                    set_role_values(f"{READ_ONLY},{missing}"))
    response = post(client, saml)
    assert response.status_code == 400
    assert f"Specified provider doesn't exist: {missing}" in text_of(response.text)


def test_provider_first_order_is_accepted(client, keypair):
    """Provider,role order (as AWS's own AD FS guides emit it) is accepted, as AWS does."""
    saml = resigned(saml_response(client, "bob").saml_response, keypair,
                    set_role_values(f"{PROD_PROVIDER},{READ_ONLY}"))
    assert post(client, saml).status_code == 303


def test_sts_refusal_after_verification_keeps_the_layout(client, keypair):
    """An STS refusal after verification (no RoleSessionName) keeps the same layout."""
    saml = resigned(saml_response(client, "bob").saml_response, keypair,
                    lambda root: remove_attribute(root, SESSION_NAME_ATTR))
    response = post(client, saml)
    assert response.status_code == 400
    text = text_of(response.text)
    assert AWS_TEXT in text
    assert "InvalidIdentityToken: RoleSessionName is required in AuthnResponse" in text


def test_lowercase_role_session_name_is_diagnosed(client, keypair):
    """RoleSessionName spelled in the wrong case: STS's words plus the near miss."""
    saml = resigned(saml_response(client, "bob").saml_response, keypair, rename_attribute(
        SESSION_NAME_ATTR, "https://aws.amazon.com/SAML/Attributes/rolesessionname"))
    response = post(client, saml)
    assert response.status_code == 400
    text = text_of(response.text)
    assert "RoleSessionName is required in AuthnResponse" in text
    assert ("attribute names are case-sensitive: found "
            "https://aws.amazon.com/SAML/Attributes/rolesessionname") in text


def test_only_providers_that_verify_contribute_roles(client, client_factory, tmp_path):
    """corp-dev's provider trusts another IdP: alice is offered only corp-prod's roles."""
    metadata = client.get("/idp/metadata").content.replace(
        b'entityID="http://idp.test/idp/metadata"', b'entityID="https://other.example/idp"')
    assert b"https://other.example/idp" in metadata
    (tmp_path / "other.xml").write_bytes(metadata)
    other = client_factory(directory_override=account_options(
        DEV, provider_metadata=str(tmp_path / "other.xml")))
    posted = saml_response(other, "alice")
    doc = lxml.html.fromstring(post(other, posted.saml_response).text)
    assert doc.xpath("//fieldset/div[@class='saml-account']//div[@class='saml-account-name']"
                     "/text()") == [f"Account: corp-prod ({PROD})"]
    assert doc.xpath("//input[@name='roleIndex']/@value") == [ADMIN, READ_ONLY]
    refused = post(other, posted.saml_response, roleIndex=DEVELOPER)
    assert refused.status_code == 400
    assert "role-choice" in refused.text


def test_no_named_provider_verifies_gives_the_first_error(client_factory, tmp_path, client):
    """When every named provider refuses, the page shows the first verifier error."""
    metadata = client.get("/idp/metadata").content.replace(
        b'entityID="http://idp.test/idp/metadata"', b'entityID="https://other.example/idp"')
    (tmp_path / "other.xml").write_bytes(metadata)
    other = client_factory(directory_override=account_options(
        PROD, provider_metadata=str(tmp_path / "other.xml")))
    response = post(other, saml_response(other, "bob").saml_response)
    assert response.status_code == 400
    assert lxml.html.fromstring(response.text).xpath("string(//*[@id='rule'])") == "issuer"


def account_options(account: str, **options: object):
    """The demo directory with ``options`` added to ``account``."""
    return edited_demo(lambda demo: demo["accounts"][account].update(options))


def test_trust_policy_denial_is_a_403_page(client_factory):
    """A trust policy pinned to real AWS's SAML:aud refuses the simulator's console: 403."""
    policy = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
              '"sts:AssumeRoleWithSAML", "Principal": {"Federated": '
              f'"{PROD_PROVIDER}"}}, "Condition": {{"StringEquals": '
              '{"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]}')

    def pin_read_only(demo):
        demo["accounts"][PROD]["roles"]["ReadOnly"]["trust_policy"] = json.loads(policy)

    client = client_factory(directory_override=edited_demo(pin_read_only))
    response = post(client, saml_response(client, "bob").saml_response)
    assert response.status_code == 403
    text = text_of(response.text)
    assert AWS_TEXT in text
    assert "trust-policy" in text
    assert "AccessDenied: Not authorized to perform sts:AssumeRoleWithSAML" in text
    assert "trust policy denies it" in text


def test_account_without_alias_is_shown_by_id(client_factory):
    """"Account: 444455556666" when the account has no alias (as in saml2aws testdata/saml.html)."""
    client = client_factory(directory_override=edited_demo(
        lambda demo: demo["accounts"][DEV].pop("alias")))
    response = post(client, saml_response(client, "alice").saml_response)
    doc = lxml.html.fromstring(response.text)
    names = doc.xpath("//fieldset/div[@class='saml-account']/div/div[@class='saml-account-name']"
                      "/text()")
    assert names == [f"Account: corp-prod ({PROD})", f"Account: {DEV}"]


@pytest.mark.parametrize("value", ["not base64!!", base64.b64encode(b"<x>").decode(),
                                   base64.b64encode(b"<a><b></a>").decode(), "QUJD"])
def test_garbage_is_a_400_page_never_a_500(client, value):
    """Undecodable or non-SAML input gets the error page with a readable reason."""
    response = post(client, value)
    assert response.status_code == 400
    assert AWS_TEXT in text_of(response.text)


def test_missing_saml_response_is_a_400_page(client):
    """A form without SAMLResponse is refused with the same page."""
    response = client.post("/aws/saml", data={"RelayState": "x"}, follow_redirects=False)
    assert response.status_code == 400
    assert "no SAMLResponse" in response.text


# --- RelayState deep links --------------------------------------------------------------------


def test_console_deep_link_relay_state_is_followed(client):
    """RelayState https://console.aws.amazon.com/s3/home lands on /aws/console/s3/home."""
    posted = saml_response(client, "bob", relay_state="https://console.aws.amazon.com/s3/home")
    assert posted.relay_state == "https://console.aws.amazon.com/s3/home"
    response = post(client, posted.saml_response, relay_state=posted.relay_state)
    assert response.status_code == 303
    assert response.headers["location"] == "/aws/console/s3/home"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "/aws/console/s3/home" in text_of(page.text)


def test_foreign_relay_state_is_ignored(client):
    """RelayState pointing off-site never becomes a redirect target."""
    posted = saml_response(client, "bob")
    response = post(client, posted.saml_response, relay_state="https://evil.example/")
    assert response.status_code == 303
    assert response.headers["location"] == "/aws/console"


# --- the console session ----------------------------------------------------------------------


def test_expired_session_sends_back_to_the_idp(client, clock):
    """Past the credentials' expiration the console redirects to /idp/init."""
    post(client, saml_response(client, "bob").saml_response)
    assert client.get("/aws/console").status_code == 200
    clock.advance(3600)
    response = client.get("/aws/console", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/idp/init"


def test_no_or_bad_cookie_sends_back_to_the_idp_keeping_the_page(client):
    """Without a valid session cookie the console page asks the IdP for a new sign-in."""
    response = client.get("/aws/console/s3/home?region=us-east-1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/idp/init?RelayState=%2Faws%2Fconsole%2Fs3%2Fhome%3Fregion%3Dus-east-1")
    client.cookies.set("aws_console", "forged.value.sig", domain="idp.test", path="/aws")
    response = client.get("/aws/console", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/idp/init"


def test_sign_out_clears_the_session(client):
    """POST /aws/logout drops the cookie; the console then sends you back to the IdP."""
    post(client, saml_response(client, "bob").saml_response)
    console_page = client.get("/aws/console")
    assert console_page.status_code == 200
    token = lxml.html.fromstring(console_page.text).xpath(
        "string(//input[@name='csrf_token']/@value)")
    forged = client.post("/aws/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and "still signed in" in forged.text
    assert client.get("/aws/console").status_code == 200, "a forged sign-out changes nothing"
    response = client.post("/aws/logout", data={"csrf_token": token})
    assert response.status_code == 200
    doc = lxml.html.fromstring(response.text)
    assert doc.xpath("string(//a[@id='sign-in-again']/@href)") == "/idp/init"
    assert 'aws_console=""' in response.headers["set-cookie"]
    assert client.get("/aws/console", follow_redirects=False).status_code == 303


def test_a_cookie_copied_before_sign_out_is_dead_after_it(client):
    """Sign-out is revoked on the server: replaying the old console cookie opens nothing."""
    post(client, saml_response(client, "bob").saml_response)
    stolen = client.cookies.get("aws_console")
    page = client.get("/aws/console")
    token = lxml.html.fromstring(page.text).xpath("string(//input[@name='csrf_token']/@value)")
    assert client.post("/aws/logout", data={"csrf_token": token}).status_code == 200
    client.cookies.set("aws_console", stolen, domain="idp.test", path="/aws")
    assert client.get("/aws/console", follow_redirects=False).status_code == 303


def test_switch_role_with_the_idp_session_gives_the_role_page(client):
    """"Choose another role at the IdP" re-enters at /idp/init: a fresh assertion, the role
    page."""
    posted = saml_response(client, "alice")
    post(client, posted.saml_response, roleIndex=ADMIN)
    page = lxml.html.fromstring(client.get("/aws/console").text)
    switch = page.xpath("string(//a[@id='idp-roles']/@href)")
    again = auto_post(client.get(switch, follow_redirects=True).text)
    assert again.saml_response != posted.saml_response
    response = post(client, again.saml_response)
    assert response.status_code == 200 and "saml_form" in response.text
