"""Every tool installs on a clean machine from the package registry, into its own virtualenv.

One test per tool, so that a tool whose install breaks (a new release of a dependency, a missing
Debian -dev package) is named in the failure with pip's own error, not skipped.
"""

from __future__ import annotations

import pytest

from tests.support.tools import TOOLS, installed

pytestmark = [pytest.mark.tools]


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_installs_from_the_package_registry(tool: str) -> None:
    venv = installed(tool).venv
    for executable in TOOLS[tool].executables:
        assert (venv / "bin" / executable).is_file(), f"{tool}: no {executable} in {venv}/bin"
