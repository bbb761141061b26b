"""The pytest plugin in a project of its own (a subprocess run of pytest, as a user runs it):
fixtures come from the installed distribution's ``pytest11`` entry point, state does not leak
between tests, and a test that closes the shared simulator does not break the next one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.projects import TIMEOUT, clean_env, run

PROJECT = '''
import datetime as dt

import pytest


def test_1_leaves_a_mess(saml_idp):
    saml_idp.add_user("erin", roles=["ReadOnly"])
    saml_idp.clock.advance(7200)
    saml_idp.inject_fault("expired", count=5)
    first = saml_idp.mint("bob")
    pytest.shared = (saml_idp.base_url, first)


def test_2_sees_a_clean_simulator(saml_idp):
    url, _ = pytest.shared
    assert saml_idp.base_url == url                     # the same one, reset
    assert saml_idp.runtime.directory.user("erin") is None
    assert abs(saml_idp.clock.offset) < 5
    assert saml_idp.exchanges() == []
    assert saml_idp.login("bob").credentials            # no fault left over


def test_3_closes_it(saml_idp):
    with saml_idp as sim:
        assert sim.login("bob").credentials


def test_4_still_has_one(saml_idp, aws_credentials):
    assert aws_credentials("bob").access_key_id.startswith("ASIA")


@pytest.mark.saml_idp({"accounts": {"999988887777": {"saml_provider": "Okta",
                                                     "roles": {"Deployer": {}}}},
                       "users": {"zoe": {"password": "zoe-pw", "email": "zoe@x.example",
                                         "roles": ["arn:aws:iam::999988887777:role/Deployer"]}}})
def test_5_own_directory(saml_idp):
    assert saml_idp.login("zoe", "zoe-pw").role.endswith(":role/Deployer")


def test_6_factory(saml_idp, saml_idp_factory):
    other = saml_idp_factory(clock=dt.datetime(2030, 6, 1, tzinfo=dt.UTC))
    assert other.base_url != saml_idp.base_url and other.clock.now().year == 2030
'''


def test_the_plugin_in_a_project_of_its_own(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_plugin_use.py").write_text(PROJECT)
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "--rootdir", str(project), str(project)], project, clean_env(tmp_path))
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout


def test_the_plugin_can_be_disabled(tmp_path: Path) -> None:
    """``-p no:idp`` turns it off (the entry point's name is ``idp``)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_x.py").write_text("def test_x(saml_idp):\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "no:idp", "--rootdir", str(project), str(project)],
                            cwd=project, env=clean_env(tmp_path), capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 1 and "fixture 'saml_idp' not found" in result.stdout
