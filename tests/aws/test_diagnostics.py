"""The console's diagnosis of an untrusted SAMLResponse (what AWS never says)."""

from __future__ import annotations

import base64

from idp.aws.diagnostics import summarize


def test_summarize_never_raises():
    """The untrusted summary copes with nothing, junk and non-SAML XML."""
    assert summarize(None).problem == "no SAMLResponse was posted"
    assert "base64" in (summarize("@@@").problem or "")
    assert "XML" in (summarize(base64.b64encode(b"<a>").decode()).problem or "")
    other = summarize(base64.b64encode(b"<foo/>").decode())
    assert other.problem == "the document is a foo, not a samlp:Response"
    doctype = base64.b64encode(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>').decode()
    assert "DOCTYPE" in (summarize(doctype).problem or "")
