"""The built-in demo directory as tests see it: its names, and edited copies of it.

The constants are the demo's contract (README, "The demo directory"): the base URL the
in-process app runs at, the two accounts, their roles and SAML providers, the users and their
passwords, carol's TOTP secret, and the AWS attribute names. ``edited_demo`` derives a
directory from the demo by editing it as data (load the YAML, let the test change a dict, dump
and parse it), so a test says what it changes rather than which lines of text it rewrites.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import yaml

from idp.aws.vocabulary import AwsAttribute
from idp.directory import Directory, demo_yaml, parse_directory

#: Where the in-process app runs (``client_factory``'s TestClient base URL).
BASE_URL: Final = "http://idp.test"
IDP_ENTITY_ID: Final = f"{BASE_URL}/idp/metadata"
SSO_URL: Final = f"{BASE_URL}/idp/sso"
#: The console twin's ACS: the AWS SP's default ACS in the demo.
AWS_ACS: Final = f"{BASE_URL}/aws/saml"
STS_URL: Final = f"{BASE_URL}/aws/sts"
AWS_ENTITY_ID: Final = "urn:amazon:webservices"

#: The two accounts (``corp-prod`` and ``corp-dev``), each with the provider ``CorpIdP``.
PROD: Final = "111122223333"
DEV: Final = "444455556666"
ADMIN: Final = f"arn:aws:iam::{PROD}:role/Admin"
READ_ONLY: Final = f"arn:aws:iam::{PROD}:role/ReadOnly"
DEVELOPER: Final = f"arn:aws:iam::{DEV}:role/Developer"
PROD_PROVIDER: Final = f"arn:aws:iam::{PROD}:saml-provider/CorpIdP"
DEV_PROVIDER: Final = f"arn:aws:iam::{DEV}:saml-provider/CorpIdP"
#: bob's one Role value (``role-arn,provider-arn``).
BOB_ROLE: Final = f"{READ_ONLY},{PROD_PROVIDER}"

#: The users' passwords (``USER-password``), and the RoleSessionNames they get (their email).
PASSWORDS: Final = {user: f"{user}-password" for user in ("alice", "bob", "carol", "dave")}
ALICE_EMAIL: Final = "alice@corp.example"
BOB_EMAIL: Final = "bob@corp.example"
#: carol's TOTP secret (she signs in with password and a one-time code).
CAROL_SECRET: Final = "MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB"

#: The demo's IAM identities (README, "IAM users and roles"): fixed test values.
VENDOR: Final = "999988887777"
PROD_ADMIN: Final = ("AKIAPRODADMINEXAMPLE", "prodAdmin/DemoSecretAccessKey/0000000000")
DEV_ADMIN: Final = ("AKIADEVADMINEXAMPLE0", "devAdmin/DemoSecretAccessKey/00000000000")
OPS: Final = ("AKIAOPSUSEREXAMPLE00", "opsUser/DemoSecretAccessKey/000000000000")
AUDITOR: Final = ("AKIAVENDORAUDITOR000", "vendorAuditor/DemoSecretAccessKey/000000")
OPS_MFA: Final = f"arn:aws:iam::{DEV}:mfa/ops"
OPS_SEED: Final = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
BREAK_GLASS: Final = f"arn:aws:iam::{PROD}:role/BreakGlass"
VENDOR_AUDIT: Final = f"arn:aws:iam::{PROD}:role/VendorAudit"
DEPLOYER: Final = f"arn:aws:iam::{DEV}:role/Deployer"

#: The SAML attribute names AWS reads.
ATTR: Final = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTR: Final = AwsAttribute.ROLE.value
SESSION_NAME_ATTR: Final = AwsAttribute.ROLE_SESSION_NAME.value
SESSION_DURATION_ATTR: Final = AwsAttribute.SESSION_DURATION.value
SOURCE_IDENTITY_ATTR: Final = AwsAttribute.SOURCE_IDENTITY.value
PRINCIPAL_TAG_PREFIX: Final = AwsAttribute.PRINCIPAL_TAG_PREFIX.value

DemoEdit = Callable[[dict[str, Any]], object]


def demo_text(edit: DemoEdit | None = None) -> str:
    """The demo directory as YAML, after ``edit`` changed it as data (a fresh copy each call).

    ``edit`` gets the parsed document (``accounts``, ``groups``, ``users``,
    ``service_providers``) and changes it in place. Use the demo's own text
    (``idp.directory.demo_yaml``) instead only where a test asserts file line numbers.
    """
    data: dict[str, Any] = yaml.safe_load(demo_yaml())
    if edit is not None:
        edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def edited_demo(edit: DemoEdit, *, aws_acs: str = AWS_ACS, base: Path | None = None,
                source: str = "<test>") -> Directory:
    """The demo directory with ``edit`` applied (see ``demo_text``), parsed as the IdP would.

    ``base`` is the folder relative file names (``provider_metadata``) are read from.
    """
    return parse_directory(demo_text(edit), aws_acs=aws_acs, source=source, base=base)
