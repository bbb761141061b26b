"""The IAM twin: accounts, SAML providers, roles, users, access keys and MFA devices.

One module per concern::

    metadata  IdP metadata as IAM reads it (entityID, signing certificates, validUntil)
    model     the typed state, built from one JSON document
    seed      the document a directory starts with
    store     the document in the shared state store: versioned, compare-and-set
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from idp.aws.iam.metadata import read_metadata_file
from idp.aws.iam.model import (
    AccessKey,
    AccountState,
    IamGroup,
    IamRole,
    IamState,
    IamUser,
    MfaDevice,
    OidcProvider,
    SamlProvider,
)
from idp.aws.iam.seed import fingerprint, seed_document
from idp.aws.iam.store import IamStore
from idp.clock import Clock, SystemClock
from idp.directory.model import Directory
from idp.keys import KeyPair
from idp.saml.validation import TrustedIssuer
from idp.store import StateStore

__all__ = [
    "AccessKey",
    "AccountState",
    "Iam",
    "IamGroup",
    "IamRole",
    "IamState",
    "IamUser",
    "MfaDevice",
    "OidcProvider",
    "SamlProvider",
    "read_metadata_file",
]

T = TypeVar("T")


class Iam:
    """The IAM twin as STS, the console and the IAM API see it: always the current state.

    Seeded from ``directory`` (unless ``store`` already holds a state grown from it;
    ``edited``: the directory was edited while serving, so what it adds joins the stored state
    instead of replacing it; ``later``: seed on the first read, for a store about to be
    cleared); a provider holding this IdP's own metadata trusts
    ``own_entity_id`` with ``own_keys``.
    """

    def __init__(self, directory: Directory, own_entity_id: str, own_keys: tuple[KeyPair, ...],
                 *, store: StateStore | None = None, clock: Clock | None = None,
                 edited: bool = False, later: bool = False) -> None:
        own = TrustedIssuer(entity_id=own_entity_id,
                            certificates=tuple(k.cert_pem for k in own_keys))
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.documents = IamStore(store, own, directory.oidc_issuer)
        now: dt.datetime = self.clock.now()
        def make() -> dict[str, Any]:
            return seed_document(directory, now)

        if later:
            self.documents.remember(fingerprint(directory), make)
        else:
            self.documents.seed(fingerprint(directory), make, merge=edited)

    def state(self) -> IamState:
        """The current state (another worker's change is seen here on the next call)."""
        return self.documents.state()

    def change(self, edit: Callable[[dict[str, Any], IamState], T]) -> T:
        """Change the document (``IamStore.change``)."""
        return self.documents.change(edit)

    def saml_provider(self, arn: str) -> SamlProvider | None:
        return self.state().saml_provider(arn)

    def role(self, arn: str) -> IamRole | None:
        """The role with this ARN."""
        return self.state().role(arn)

    def account_alias(self, account_id: str) -> str | None:
        account = self.state().account(account_id)
        return account.alias if account is not None else None
