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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the tests package

with atheris.instrument_imports():
    from idp.aws.sigv4 import SignedRequest, verify_request
    from idp.clock import FixedClock
    from idp.directory import demo_directory, parse_directory
    from idp.errors import IdPError
    from idp.keys import KeyStore
    from idp.settings import Settings
    from tests.support import builders
    from tests.support.demo import AWS_ACS, BASE_URL, PROD_PROVIDER, READ_ONLY

CLOCK = FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
CERTS = Path(tempfile.mkdtemp(prefix="idp-atheris-"))
KeyStore(CERTS).create(f"{BASE_URL}/idp/metadata")
KEYS = KeyStore(CERTS).load()
SETTINGS = Settings(base_url=BASE_URL, certs_dir=CERTS, data_dir=CERTS)
DIRECTORY = demo_directory(aws_acs=AWS_ACS)
IDP = builders.identity_provider(SETTINGS, DIRECTORY, KEYS, CLOCK)
STS = builders.sts(SETTINGS, DIRECTORY, KEYS, CLOCK)


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
        "RoleArn": READ_ONLY,
        "PrincipalArn": PROD_PROVIDER,
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
    parse_directory(fdp.ConsumeUnicodeNoSurrogates(4096), aws_acs=AWS_ACS)


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
