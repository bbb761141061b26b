"""``role_value_order``: the AWS SP's Role values as ``role,provider`` (AWS's documented order,
the default) or ``provider,role`` (what aws-okta-processor, samlkeygen and aws-saml-login read);
the console and STS accept both, as AWS does."""

from __future__ import annotations

import base64

import pytest

from idp.aws import attributes
from idp.aws.console import open_session, select_roles
from idp.clock import FixedClock
from idp.directory import Directory
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import ConfigError
from idp.keys import KeyPair
from idp.saml.providers import RoleValueOrder
from idp.settings import Settings
from idp.store import StateStore
from idp.xml import parse
from tests.support import builders
from tests.support.demo import edited_demo
from tests.support.sts import assume_role_params

ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
ADMIN = "arn:aws:iam::111122223333:role/Admin"
PROD_PROVIDER = "arn:aws:iam::111122223333:saml-provider/CorpIdP"


def _with_order(order: str) -> Directory:
    return edited_demo(lambda demo: demo.update(service_providers=[
        {"entity_id": AWS_ENTITY_ID, "role_value_order": order}]))


def _role_values(directory: Directory) -> tuple[str, ...]:
    sp = directory.service_provider(AWS_ENTITY_ID)
    user = directory.user("carol")
    assert sp is not None and user is not None
    released = {a.name: a.values for a in attributes.release(user, directory, sp)}
    return released[ROLE]


def test_the_default_is_role_then_provider(directory: Directory) -> None:
    assert _role_values(directory) == (f"{ADMIN},{PROD_PROVIDER}",)


@pytest.mark.parametrize("spelling", ["provider,role", "provider, role", " provider ,role "])
def test_provider_first_when_configured(spelling: str) -> None:
    directory = _with_order(spelling)
    sp = directory.service_provider(AWS_ENTITY_ID)
    assert sp is not None and sp.role_value_order is RoleValueOrder.PROVIDER_ROLE
    assert _role_values(directory) == (f"{PROD_PROVIDER},{ADMIN}",)


@pytest.mark.parametrize("bad", ["role", "role,provider,role", "arn,role", ""])
def test_anything_else_is_refused_with_the_line(bad: str) -> None:
    with pytest.raises(ConfigError, match="role_value_order"):
        _with_order(bad)


def test_console_and_sts_accept_provider_first(settings: Settings, keypair: KeyPair,
                                               clock: FixedClock, store: StateStore) -> None:
    directory = _with_order("provider,role")
    idp = builders.identity_provider(settings, directory, keypair, clock)
    xml = idp.mint("carol", role="Admin")
    values = [v.text for v in parse(xml).iter("{*}AttributeValue")
              if v.getparent() is not None and v.getparent().get("Name") == ROLE]
    assert values == [f"{PROD_PROVIDER},{ADMIN}"]
    saml = base64.b64encode(xml).decode("ascii")
    federation = builders.federation(settings, directory, keypair, clock, replay=store)
    assert open_session(federation, select_roles(federation, saml), ADMIN).claims.role_arn == ADMIN
    sts = builders.sts(settings, directory, keypair, clock, replay=store)
    result = sts.assume_role_with_saml(assume_role_params(saml, ADMIN, PROD_PROVIDER))
    assert result.claims.role_arn == ADMIN
