"""``create_app``: what importing ``idp.web.app`` loads, what a started app has not loaded yet,
and the key pair a first start makes while the routes are imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from idp.keys import KeyStore
from idp.settings import Settings
from idp.web.app import create_app


def _loaded_after(code: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has in ``sys.modules`` after ``code``."""
    script = (f"import json, sys\n{code}\n"
              f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_module_loads_neither_the_routes_nor_the_core():
    """``import idp.web.app`` costs Starlette and the settings; ``create_app`` loads the rest."""
    watched = ("idp.web.runtime", "idp.web.idp_routes", "idp.web.sts_routes", "idp.sso",
               "idp.directory", "idp.aws", "idp.saml", "idp.keys", "jinja2", "yaml", "signxml")
    assert _loaded_after("import idp.web.app", watched) == []


def test_a_started_app_has_not_loaded_what_only_some_requests_need(tmp_path):
    """pyotp waits for a TOTP check, botocore for a SigV4 Region, segno for a QR code; Jinja2
    is loaded (the first login must not grow the worker's memory)."""
    code = ("from pathlib import Path\nfrom idp.settings import Settings\n"
            "from idp.web.app import create_app\n"
            f"create_app(Settings(certs_dir=Path({str(tmp_path / 'certs')!r}), "
            f"data_dir=Path({str(tmp_path / 'data')!r})))")
    assert _loaded_after(code, ("jinja2", "pyotp", "botocore", "segno")) == ["jinja2"]


def test_a_first_start_makes_one_key_pair_that_the_app_signs_with(tmp_path: Path):
    certs = tmp_path / "certs"
    settings = Settings(certs_dir=certs, data_dir=tmp_path / "data")
    app = create_app(settings)
    on_disk = KeyStore(certs).load()
    signing = app.state.runtime.keys["signing"]
    assert signing.cert_b64 == on_disk.cert_b64
    again = create_app(settings)
    assert again.state.runtime.keys["signing"].cert_b64 == on_disk.cert_b64
    with TestClient(app) as client:
        assert on_disk.cert_b64 in client.get("/idp/metadata").text


def test_pages_render_with_the_environment_made_at_start(settings):
    with TestClient(create_app(settings)) as client:
        page = client.get("/idp/login")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in page.headers
