"""The layering is a contract: the protocol core never imports the web framework."""

from __future__ import annotations

import subprocess
import sys

import pytest

import idp


@pytest.mark.parametrize("module", ["idp.saml.assertions", "idp.saml.requests", "idp.sso",
                                    "idp.aws.attributes", "idp.directory", "idp.authn.login"])
def test_core_does_not_import_starlette_or_pysaml2(module):
    """Importing the core in a fresh interpreter pulls in neither starlette nor pysaml2."""
    code = (f"import sys, {module}; "
            "bad = [m for m in ('starlette', 'saml2', 'jinja2') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_saml_core_knows_nothing_about_aws():
    """idp.saml modules never import idp.aws (AWS semantics sit on top)."""
    code = ("import sys, idp.saml.assertions, idp.saml.requests, idp.saml.metadata, "
            "idp.saml.bindings; print([m for m in sys.modules if m.startswith('idp.aws')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_pinned():
    """idp exports exactly create_app, Settings and __version__."""
    assert sorted(idp.__all__) == ["Settings", "__version__", "create_app"]
