"""The STS API in-process (``idp.aws.sts.Sts``): every attack-corpus vector, answered exactly.

Each vector of ``tests.vectors.attacks`` starts from bob's genuine signed Response and goes
through ``Sts.assume_role_with_saml`` with the vector's RoleArn and PrincipalArn, replay
protection on. A refusal must be the ``AwsError`` the table names (code, HTTP status, fault
type ``Sender``, message) and, where the console names a verifier rule, carry that same rule;
an accepted vector must give credentials for the *full* signed identity. This is the precise
run; ``tests/attacks/test_corpus_sts.py`` is the same table end to end through boto3 and a
live server, and ``tests/saml/test_validation.py`` the verifier alone.
"""

from __future__ import annotations

import pytest

from idp.aws.errors import AwsError
from idp.aws.sts import Sts
from tests.support.sts import assume_role_params
from tests.vectors.attacks import VECTORS, ConsoleRefusal, Keys, StsAccept, stage


@pytest.mark.parametrize("name", list(VECTORS))
def test_sts_answers_each_vector(name: str, sts: Sts, bob_saml: str, attack_keys: Keys) -> None:
    """The vector gets exactly its AWS error, or credentials for the full signed identity."""
    vector = VECTORS[name]
    attack = vector.mutator(bob_saml, attack_keys)
    params = assume_role_params(attack.saml, attack.role_arn, attack.principal_arn)
    if attack.replay:
        assert sts.assume_role_with_saml(params).credentials.access_key_id.startswith("ASIA")
    expected = vector.sts
    if isinstance(expected, StsAccept):
        result = sts.assume_role_with_saml(params)
        assert result.credentials.access_key_id.startswith("ASIA")
        assert result.claims.session_name == expected.session_name
        assert result.claims.assumed_role_arn.endswith(f"/{expected.session_name}")
        assert result.claims.assumed_role_id.endswith(f":{expected.session_name}")
        if expected.subject is not None:
            assert result.subject == expected.subject
        return
    with pytest.raises(AwsError) as refused:
        sts.assume_role_with_saml(params)
    error = refused.value
    assert (error.code, error.http_status, error.fault_type) == (
        expected.code, expected.status, "Sender"), error.message
    if expected.exact:
        assert error.message == expected.message
    else:
        assert expected.message in error.message, error.message
    if stage(vector) == "verifier":
        assert isinstance(vector.console, ConsoleRefusal)
        assert error.rule == vector.console.rule
