"""The baseline the HTTP rows are compared with: a bare Starlette app on uvicorn, no more.

It does per request what a minimal SAML IdP / SP written straight on the libraries would do:

- ``GET /sso``: build one SAML 2.0 Response with an Assertion (lxml), sign the Assertion
  with signxml (RSA-SHA256, exclusive C14N, enveloped), base64 it and answer the auto-POST
  HTML page (SAML Bindings §3.5, the HTTP-POST binding);
- ``POST /sts``: read ``SAMLAssertion`` from the form, verify its signature with signxml's
  ``XMLVerifier`` against the pre-shared certificate, answer an STS-shaped XML document;
- ``POST /saml``: read ``SAMLResponse``, verify it the same way, answer 303 (a console sign-in);
- ``GET /healthz``: ``ok``.

No sessions, no policy, no time or audience checks: the floor a real implementation builds on.
Its key and certificate are read from ``--certs-dir`` (``ref.key``, ``ref.crt``), made there
first if missing (as ``idp serve`` makes its own).

Run: ``python -m benchmarks.reference_app --port 8001 --certs-dir DIR`` (binds 127.0.0.1).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import secrets
from pathlib import Path

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, XMLVerifier  # type: ignore[attr-defined]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
ISSUER = "http://127.0.0.1/reference/idp"
ACS = "https://signin.aws.amazon.com/saml"
ROLE = ("arn:aws:iam::111122223333:role/ReadOnly,"
        "arn:aws:iam::111122223333:saml-provider/CorpIdP")
KEY_FILE = "ref.key"
CERT_FILE = "ref.crt"


def ensure_keys(folder: Path) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) from ``folder``, made there (RSA-2048) if missing."""
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    if not (key_path.exists() and cert_path.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reference-idp")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365))
                .sign(key, hashes.SHA256()))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path.read_bytes(), cert_path.read_bytes()


def _instant(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_assertion(now: dt.datetime) -> etree._Element:
    """One AWS-shaped Assertion: Issuer, Subject, Conditions, AuthnStatement, Role attributes."""
    later = _instant(now + dt.timedelta(minutes=5))
    assertion = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml": SAML}, attrib={
        "ID": "_" + secrets.token_hex(16), "Version": "2.0", "IssueInstant": _instant(now)})
    etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = ISSUER
    subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
    name_id = etree.SubElement(subject, f"{{{SAML}}}NameID", attrib={
        "Format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"})
    name_id.text = "bob"
    confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation",
                                    attrib={"Method": "urn:oasis:names:tc:SAML:2.0:cm:bearer"})
    etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData",
                     attrib={"NotOnOrAfter": later, "Recipient": ACS})
    conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions", attrib={
        "NotBefore": _instant(now - dt.timedelta(minutes=1)), "NotOnOrAfter": later})
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = "urn:amazon:webservices"
    statement = etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement", attrib={
        "AuthnInstant": _instant(now), "SessionIndex": "_" + secrets.token_hex(8)})
    context = etree.SubElement(statement, f"{{{SAML}}}AuthnContext")
    etree.SubElement(context, f"{{{SAML}}}AuthnContextClassRef").text = (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    attributes = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
    for name, value in (("https://aws.amazon.com/SAML/Attributes/Role", ROLE),
                        ("https://aws.amazon.com/SAML/Attributes/RoleSessionName",
                         "bob@corp.example")):
        attribute = etree.SubElement(attributes, f"{{{SAML}}}Attribute", attrib={"Name": name})
        etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
    return assertion


class Reference:
    """The key, certificate and the three handlers."""

    def __init__(self, key_pem: bytes, cert_pem: bytes) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the reference app signs with RSA")
        self.key = key
        self.cert_pem = cert_pem.decode("ascii")
        self.cert = x509.load_pem_x509_certificate(cert_pem)

    def response_xml(self) -> bytes:
        """A Response whose Assertion is signed (signxml), serialised."""
        now = dt.datetime.now(dt.UTC)
        signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
            build_assertion(now), key=self.key, cert=self.cert_pem)
        response = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP, "saml": SAML},
                                 attrib={"ID": "_" + secrets.token_hex(16), "Version": "2.0",
                                         "IssueInstant": _instant(now), "Destination": ACS})
        etree.SubElement(response, f"{{{SAML}}}Issuer").text = ISSUER
        status = etree.SubElement(response, f"{{{SAMLP}}}Status")
        etree.SubElement(status, f"{{{SAMLP}}}StatusCode",
                         attrib={"Value": "urn:oasis:names:tc:SAML:2.0:status:Success"})
        response.append(signed)
        return etree.tostring(response)

    def verify(self, encoded: str) -> None:
        """signxml's verification of the posted (base64) document; raises if it fails."""
        XMLVerifier().verify(base64.b64decode(encoded), x509_cert=self.cert)

    async def sso(self, request: Request) -> Response:
        value = base64.b64encode(self.response_xml()).decode("ascii")
        page = ('<!DOCTYPE html><html><body onload="document.forms[0].submit()">'
                f'<form method="POST" action="{html.escape(ACS)}">'
                f'<input type="hidden" name="SAMLResponse" value="{value}"/>'
                '<input type="hidden" name="RelayState" value=""/>'
                '<noscript><button type="submit">Continue</button></noscript>'
                "</form></body></html>")
        return HTMLResponse(page)

    async def sts(self, request: Request) -> Response:
        form = await request.form()
        value = form.get("SAMLAssertion")
        if not isinstance(value, str):
            return PlainTextResponse("no SAMLAssertion", status_code=400)
        try:
            self.verify(value)
        except Exception as exc:
            return PlainTextResponse(f"invalid: {exc}", status_code=403)
        body = ('<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<AssumeRoleWithSAMLResult><Credentials>"
                f"<AccessKeyId>ASIA{secrets.token_hex(8).upper()}</AccessKeyId>"
                f"<SecretAccessKey>{secrets.token_urlsafe(30)}</SecretAccessKey>"
                f"<SessionToken>{secrets.token_urlsafe(96)}</SessionToken>"
                "<Expiration>2030-01-01T00:00:00Z</Expiration>"
                "</Credentials></AssumeRoleWithSAMLResult></AssumeRoleWithSAMLResponse>")
        return Response(body, media_type="text/xml")

    async def saml(self, request: Request) -> Response:
        form = await request.form()
        value = form.get("SAMLResponse")
        if not isinstance(value, str):
            return PlainTextResponse("no SAMLResponse", status_code=400)
        try:
            self.verify(value)
        except Exception as exc:
            return PlainTextResponse(f"invalid: {exc}", status_code=403)
        return RedirectResponse("/console", status_code=303)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def make_app(certs_dir: Path) -> Starlette:
    reference = Reference(*ensure_keys(certs_dir))
    return Starlette(routes=[
        Route("/healthz", _healthz),
        Route("/sso", reference.sso),
        Route("/sts", reference.sts, methods=["POST"]),
        Route("/saml", reference.saml, methods=["POST"]),
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certs-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(make_app(args.certs_dir), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
