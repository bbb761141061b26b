"""The README's "IAM users and roles" walkthrough runs as written (``readme-test: iam-shell``
blocks, in order, in one working directory) against a real ``idp serve`` on the demo, with the
venv's ``idp``, ``aws`` and ``python`` first on PATH and no real AWS configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.projects import readme_blocks, readme_walkthrough

IMPORT, PROFILES, REFUSALS = readme_blocks("iam-shell")


@pytest.mark.live
def test_the_iam_walkthrough_runs_as_written(tmp_path: Path) -> None:
    with readme_walkthrough(tmp_path) as (server, shell):
        workdir = tmp_path / "server"
        imported = shell(IMPORT)
        assert imported[-1] == "arn:aws:iam::111122223333:saml-provider/CorpIdP"
        assert (workdir / "metadata" / "idp-metadata.xml").is_file()

        deployer, read_only, break_glass, vendor_audit = shell(PROFILES)
        assert deployer.startswith("arn:aws:sts::444455556666:assumed-role/Deployer/")
        assert read_only.startswith("arn:aws:sts::111122223333:assumed-role/ReadOnly/")
        assert break_glass.startswith("arn:aws:sts::111122223333:assumed-role/BreakGlass/")
        assert vendor_audit.startswith("arn:aws:sts::111122223333:assumed-role/VendorAudit/")

        lines = shell(REFUSALS)
        assert len(lines) == 5, lines
        role = "arn:aws:iam::111122223333:role/"
        for line, who, target in zip(lines, ["999988887777:user/auditor"] * 2
                                     + ["444455556666:user/ops"] * 2,
                                     ["VendorAudit", "VendorAudit", "BreakGlass", "ReadOnly"],
                                     strict=False):
            assert "(AccessDenied) when calling the AssumeRole operation: User: " \
                f"arn:aws:iam::{who} is not authorized to perform: sts:AssumeRole on " \
                f"resource: {role}{target}" in line, line
        assert "(ValidationError)" in lines[4]
        assert lines[4].endswith("The requested DurationSeconds exceeds the 1 hour session "
                                 "limit for roles assumed by role chaining.")

        # The federation the import restored: a fresh sign-in redeems at STS again.
        assert "Specified provider" not in server.output()
