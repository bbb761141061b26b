"""The README's "Roles for workloads" examples run as written (``readme-test: workloads-shell``
blocks, in order, in the server's working directory) against a real ``idp serve`` on the demo,
with the venv's ``idp`` and ``aws`` first on PATH and no real AWS configuration (the server's
URL in place of ``http://127.0.0.1:8000``, ``idp token``'s ``--base-url`` included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.projects import readme_blocks, readme_walkthrough

FLOWS, REFUSALS, PROVIDERS = readme_blocks("workloads-shell")


def _arns_after_wrote(lines: list[str]) -> list[Any]:
    """``idp token --out`` says what it wrote on its own line: those lines, then the rest."""
    wrote = [line for line in lines if line.startswith("wrote ")]
    return [wrote, *[line for line in lines if not line.startswith("wrote ")]]


@pytest.mark.live
def test_the_workload_examples_run_as_written(tmp_path: Path) -> None:
    with readme_walkthrough(tmp_path) as (server, shell):
        workdir = tmp_path / "server"
        wrote, instance, task, web_identity = _arns_after_wrote(shell(FLOWS))
        assert wrote == ["wrote token.jwt (iss " + server.url + "/oidc, sub "
                         "system:serviceaccount:prod:deployer, expires in 3600 s)"]
        assert instance == "arn:aws:sts::111122223333:assumed-role/WebServer/i-0123456789abcdef0"
        assert task == "arn:aws:sts::444455556666:assumed-role/Billing/billing-task"
        assert web_identity.startswith(
            "arn:aws:sts::444455556666:assumed-role/CiDeploy/botocore-session-")
        assert (workdir / "token.jwt").stat().st_mode & 0o777 == 0o600

        _, denied, audience = _arns_after_wrote(shell(REFUSALS))
        assert denied.endswith("(AccessDenied) when calling the AssumeRoleWithWebIdentity "
                               "operation: Not authorized to perform "
                               "sts:AssumeRoleWithWebIdentity"), denied
        assert audience.endswith("(InvalidIdentityToken) when calling the "
                                 "AssumeRoleWithWebIdentity operation: Incorrect token "
                                 "audience"), audience

        created, listed = shell(PROVIDERS)
        github = "arn:aws:iam::444455556666:oidc-provider/token.actions.githubusercontent.com"
        own = "arn:aws:iam::444455556666:oidc-provider/" + server.url.split("://", 1)[1] + "/oidc"
        assert created == github
        assert sorted(listed.split()) == sorted([github, own])
