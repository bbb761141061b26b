"""``idp.web.links``: links are root-relative, prefixed by the base URL's path, and never
built from ``Host``."""

from __future__ import annotations

from tests.support.http import csrf


def test_links_carry_the_base_path(client_factory):
    """Behind a proxy that serves the simulator under /sim, every redirect and form action
    starts with /sim (the browser stays on the proxy's origin)."""
    client = client_factory(base_url="https://sso.example/sim")
    redirect = client.get("/idp/init", follow_redirects=False)
    assert redirect.headers["location"].startswith("/sim/idp/login?pending=")
    page = client.get("/idp/login")
    assert 'action="/sim/idp/login"' in page.text
    assert csrf(page.text)


def test_host_header_changes_no_link(client):
    redirect = client.get("/idp/init", headers={"Host": "evil.example"}, follow_redirects=False)
    assert redirect.headers["location"].startswith("/idp/login?pending=")
    page = client.get("/idp/logout", headers={"Host": "evil.example"})
    assert "evil.example" not in page.text
