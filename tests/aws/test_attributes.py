"""What the IdP sends AWS for a directory user: never a value AWS would refuse."""

from __future__ import annotations

import pytest

from idp.aws.attributes import release
from idp.aws.vocabulary import AwsAttribute
from idp.directory import parse_directory
from idp.errors import AttributeReleaseError, ConfigError

ACS = "http://idp.test/aws/saml"
DIRECTORY = """\
accounts:
  "111122223333":
    roles: {{Admin: {{}}}}
groups:
  admins:
    roles: ["arn:aws:iam::111122223333:role/Admin"]
    principal_tags: {{Team: platform, Site: berlin}}
users:
  erin:
    password: erin-password
    email: erin@corp.example
    groups: [admins]
    principal_tags: {user_tags}
"""


def tags_of(user_tags: str) -> dict[str, str]:
    directory = parse_directory(DIRECTORY.format(user_tags=user_tags), aws_acs=ACS)
    user = directory.user("erin")
    assert user is not None
    sp = directory.service_provider("urn:amazon:webservices")
    assert sp is not None
    prefix = AwsAttribute.PRINCIPAL_TAG_PREFIX.value
    return {a.name[len(prefix):]: a.values[0]
            for a in release(user, directory, sp) if a.name.startswith(prefix)}


def test_user_tags_override_group_tags_whatever_the_case():
    """AWS tag keys ignore case: the user's ``team`` replaces the group's ``Team``, once."""
    assert tags_of("{team: other}") == {"Site": "berlin", "team": "other"}
    assert tags_of("{Team: other}") == {"Team": "other", "Site": "berlin"}


@pytest.mark.parametrize("user_tags", ['{Team: "a\\tb"}', '{"semi;colon": x}',
                                       '{"new\\nline": x}'])
def test_a_tag_aws_would_refuse_is_not_sent(user_tags):
    """The IdP answers with a page (409) rather than a Response STS would refuse."""
    with pytest.raises(AttributeReleaseError, match="session tag"):
        tags_of(user_tags)


def test_a_control_character_is_refused_when_the_directory_loads():
    """XML cannot carry it: refused with its line before anything is signed (was a 500)."""
    with pytest.raises(ConfigError, match=r"<config>:13: .*control character"):
        tags_of('{"Cost\\vCenter": x}')


def test_tag_keys_differing_only_in_case_are_refused_at_load():
    with pytest.raises(ConfigError, match="differ only in case"):
        tags_of("{Team: a, team: b}")
