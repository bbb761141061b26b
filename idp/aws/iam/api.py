"""The IAM API's operations, framework-free: ``IamApi.call(action, params, caller)``.

Operations live one family per module (``ops_providers``, ``ops_oidc``, ``ops_roles``,
``ops_policies``, ``ops_users``, ``ops_groups``, ``ops_mfa``, ``ops_aliases``); each checks
its parameters (``idp.aws.iam.params``), authorizes ``iam:<Action>`` on its resource for the
caller, then reads or changes the caller's account through ``Iam.change`` (all or nothing). The
answer is an ``IamResult`` that ``idp.aws.iam.wire`` writes as XML. Every refusal is logged at
INFO with what the simulator found (AWS's messages never say why).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from idp.aws.errors import AwsError, InternalFailure, InvalidAction
from idp.aws.iam import (
    Iam,
    ops_aliases,
    ops_groups,
    ops_mfa,
    ops_oidc,
    ops_policies,
    ops_providers,
    ops_roles,
    ops_users,
)
from idp.aws.iam.context import Call, Operation
from idp.aws.iam.params import Params
from idp.aws.iam.results import IamResult
from idp.aws.mfa import MfaCodes
from idp.aws.principals import Caller
from idp.clock import Clock

__all__ = ["API_VERSION", "OPERATIONS", "IamApi"]

log = logging.getLogger("idp.iam")

API_VERSION: Final = "2010-05-08"

OPERATIONS: Final[dict[str, Operation]] = {
    **ops_providers.OPERATIONS,
    **ops_oidc.OPERATIONS,
    **ops_roles.OPERATIONS,
    **ops_policies.OPERATIONS,
    **ops_users.OPERATIONS,
    **ops_groups.OPERATIONS,
    **ops_mfa.OPERATIONS,
    **ops_aliases.OPERATIONS,
}


class IamApi:
    """The IAM operations over one ``Iam`` (the state STS and the console read too)."""

    def __init__(self, iam: Iam, clock: Clock, mfa: MfaCodes) -> None:
        self.iam = iam
        self.clock = clock
        self.mfa = mfa

    def call(self, action: str, params: Mapping[str, str], caller: Caller) -> IamResult:
        """Run ``action`` for ``caller`` (already authenticated); ``AwsError`` on refusal."""
        operation = OPERATIONS.get(action)
        try:
            if operation is None:
                raise InvalidAction(f"Could not find operation {action} for version "
                                    f"{API_VERSION}")
            call = Call(action=action, params=Params(params), caller=caller, iam=self.iam,
                        clock=self.clock, mfa=self.mfa)
            body = operation(call)
            if not call.authorized:  # every operation authorizes; a bug if one did not
                raise InternalFailure(detail=f"{action} did not authorize the caller")
        except AwsError as exc:
            log.info("IAM %s by %s refused: %s: %s%s", action, caller.arn, exc.code,
                     exc.message, f" ({exc.detail})" if exc.detail else "")
            raise
        return IamResult(action=action, body=body)
