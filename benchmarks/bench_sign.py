"""How fast the IdP builds and signs an AWS Response, against a naive baseline, same run.

Run: .venv/bin/python benchmarks/bench_sign.py [--rounds N]

Prints medians (ms) for:
- respond:       IdentityProvider.respond() with the key object loaded once (what the IdP does);
- respond+load:  the same, but re-reading the PEM private key first (the baseline to avoid);
- sign only:     sign_element() on a prepared Assertion;
- parse request: decode + parse + resolve one Redirect-binding AuthnRequest;
- verify:        the SP-side pipeline (idp.saml.validation.verify_response) on that Response,
                 the work the console and STS do per sign-in, against the signing cost.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from idp.authn.login import new_principal
from idp.clock import SystemClock, format_instant
from idp.directory import demo_directory
from idp.keys import KeyStore
from idp.saml import requests as saml_requests
from idp.saml.bindings import decode_redirect
from idp.saml.validation import TrustedIssuer, ValidationPolicy, verify_response
from idp.settings import Settings
from idp.sso import IdentityProvider


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    clock = SystemClock()
    certs = Path(tempfile.mkdtemp()) / "certs"
    settings = Settings(certs_dir=certs)
    store = KeyStore(certs)
    pair = store.ensure(settings.entity_id)
    directory = demo_directory(aws_acs=settings.console_acs_url)
    idp = IdentityProvider(settings, directory, (pair,), clock)
    pending, _ = idp.idp_initiated(None, None)
    principal = new_principal(directory.user("alice"), mfa=False, clock=clock)
    pem = (certs / "signing.key").read_bytes()

    def respond_with_reload() -> object:
        serialization.load_pem_private_key(pem, password=None)
        return idp.respond(pending, principal)

    request_xml = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" '
        f'IssueInstant="{format_instant(clock.now())}"><saml:Issuer>urn:amazon:webservices'
        "</saml:Issuer></samlp:AuthnRequest>"
    ).encode()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    encoded = base64.b64encode(deflater.compress(request_xml) + deflater.flush()).decode()

    def parse_request() -> object:
        request, _ = saml_requests.parse_authn_request(decode_redirect(encoded, max_bytes=65536))
        return saml_requests.resolve_acs(request, directory.service_providers[request.issuer])

    form = idp.respond(pending, principal)
    xml = base64.b64decode(form.saml_value)
    trust = TrustedIssuer(settings.entity_id, (pair.cert_pem,))

    def verify() -> object:
        policy = ValidationPolicy(
            now=clock.now(), accepted_recipients=frozenset({settings.console_acs_url}),
            accepted_audiences=frozenset({"urn:amazon:webservices"}))
        return verify_response(xml, trust=trust, policy=policy)

    respond = median_ms(lambda: idp.respond(pending, principal), rounds)
    verified = median_ms(verify, rounds)
    baseline = median_ms(respond_with_reload, rounds)
    parse = median_ms(parse_request, rounds)
    print(f"rounds={rounds}")
    print(f"respond (key loaded once)   median {respond:7.2f} ms  ({1000 / respond:6.0f}/s)")
    print(f"respond + PEM reload        median {baseline:7.2f} ms  ({1000 / baseline:6.0f}/s)")
    print(f"ratio baseline/respond      {baseline / respond:7.2f}x")
    print(f"parse Redirect AuthnRequest median {parse:7.3f} ms")
    print(f"verify Response (SP side)   median {verified:7.2f} ms  ({1000 / verified:6.0f}/s)")
    print(f"ratio verify/respond        {verified / respond:7.2f}x")


if __name__ == "__main__":
    main()
