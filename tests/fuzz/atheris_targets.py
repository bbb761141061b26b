"""Coverage-guided fuzzing (atheris/libFuzzer) of the byte-level parsers.

Run through ``scripts/fuzz`` (or directly)::

    .venv/bin/python tests/fuzz/atheris_targets.py TARGET -runs=20000 [libFuzzer flags]

TARGET is one of ``redirect``, ``post``, ``sts``, ``sigv4``, ``directory``. The invariant is the
one the Hypothesis suite checks: a value or an ``IdPError``; any other exception is a crash and
libFuzzer writes the input to ``crash-*``. Not a pytest module (no ``test_`` prefix).
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports():
    from idp.aws.credentials import CredentialIssuer
    from idp.aws.federation import AwsFederation
    from idp.aws.iam import Iam
    from idp.aws.sigv4 import SignedRequest, verify_request
    from idp.aws.sts import Sts
    from idp.clock import FixedClock
    from idp.directory import demo_directory, parse_directory
    from idp.errors import IdPError
    from idp.keys import KeyStore
    from idp.settings import Settings
    from idp.sso import IdentityProvider

BASE_URL = "http://idp.test"
CLOCK = FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
CERTS = Path(tempfile.mkdtemp(prefix="idp-atheris-"))
KeyStore(CERTS).create(f"{BASE_URL}/idp/metadata")
KEYS = (KeyStore(CERTS).load(),)
SETTINGS = Settings(base_url=BASE_URL, certs_dir=CERTS, data_dir=CERTS)
DIRECTORY = demo_directory(aws_acs=f"{BASE_URL}/aws/saml")
IDP = IdentityProvider(SETTINGS, DIRECTORY, KEYS, CLOCK)
STS = Sts(AwsFederation(
    iam=Iam(DIRECTORY, SETTINGS.entity_id, KEYS),
    credentials=CredentialIssuer(b"atheris-credential-secret-32byte", CLOCK), clock=CLOCK,
    console_url=f"{BASE_URL}/aws/saml"))


def _redirect(fdp: atheris.FuzzedDataProvider) -> None:
    # The bytes are the XML: deflate + base64 them, so the fuzzer works on the parser, not
    # on getting past base64 and DEFLATE (the Hypothesis suite mangles those).
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
    xml = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8192))
    value = base64.b64encode(squeezer.compress(xml) + squeezer.flush()).decode("ascii")
    query = urlencode({"SAMLRequest": value, "RelayState": fdp.ConsumeUnicodeNoSurrogates(40)})
    IDP.receive_redirect(dict(parse_qsl(query)), query)


def _post(fdp: atheris.FuzzedDataProvider) -> None:
    xml = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8192))
    IDP.receive_post(base64.b64encode(xml).decode("ascii"), None)


def _sts(fdp: atheris.FuzzedDataProvider) -> None:
    xml = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16384))
    STS.assume_role_with_saml({
        "RoleArn": "arn:aws:iam::111122223333:role/ReadOnly",
        "PrincipalArn": "arn:aws:iam::111122223333:saml-provider/CorpIdP",
        "SAMLAssertion": base64.b64encode(xml).decode("ascii"),
        "DurationSeconds": fdp.ConsumeUnicodeNoSurrogates(8) or "3600",
    })


def _sigv4(fdp: atheris.FuzzedDataProvider) -> None:
    headers = [(fdp.ConsumeUnicodeNoSurrogates(20), fdp.ConsumeUnicodeNoSurrogates(200))
               for _ in range(fdp.ConsumeIntInRange(0, 6))]
    headers += [("Authorization", fdp.ConsumeUnicodeNoSurrogates(300)),
                ("X-Amz-Date", fdp.ConsumeUnicodeNoSurrogates(20))]
    verify_request(SignedRequest(method="POST", url=fdp.ConsumeUnicodeNoSurrogates(60),
                                 headers=headers, body=fdp.ConsumeBytes(64)),
                   credentials=STS.federation.credentials, clock=CLOCK)


def _directory(fdp: atheris.FuzzedDataProvider) -> None:
    parse_directory(fdp.ConsumeUnicodeNoSurrogates(4096), aws_acs=f"{BASE_URL}/aws/saml")


TARGETS: dict[str, Callable[[atheris.FuzzedDataProvider], None]] = {
    "redirect": _redirect, "post": _post, "sts": _sts, "sigv4": _sigv4, "directory": _directory,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv[1]]

    def one_input(data: bytes) -> None:
        try:
            target(atheris.FuzzedDataProvider(data))
        except IdPError:
            pass  # an intended refusal

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
