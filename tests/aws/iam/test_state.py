"""The IAM twin's state: seeded from the directory, kept in the shared store, changed by
compare-and-set, the same for every worker and across restarts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from idp.aws.iam import Iam
from idp.aws.iam.model import unique_id
from idp.aws.iam.seed import fingerprint
from idp.aws.iam.store import IamStore
from idp.directory.model import Directory
from idp.keys import KeyPair
from idp.store import SqliteStore, StateStore
from tests.support.demo import edited_demo

ENTITY = "http://idp.test/idp/metadata"
BREAK_GLASS = "arn:aws:iam::111122223333:role/BreakGlass"


def iam(directory: Directory, keypair: KeyPair, store: StateStore | None, clock: Any) -> Iam:
    return Iam(directory, ENTITY, (keypair,), store=store, clock=clock)


def add_user(name: str):
    def edit(data: dict[str, Any], state: Any) -> str:
        data["accounts"]["111122223333"]["users"][name] = {
            "path": "/", "created": "2026-01-01T00:00:00Z", "password_hash": None,
            "access_keys": [], "policies": {}, "groups": [], "tags": []}
        return name
    return edit


def test_the_demo_seeds_users_keys_devices_roles_and_providers(directory, keypair, clock):
    state = iam(directory, keypair, None, clock).state()
    key = state.access_key("AKIAOPSUSEREXAMPLE00")
    assert key is not None and (key.account_id, key.user_name, key.active) == (
        "444455556666", "ops", True)
    assert key.secret == "opsUser/DemoSecretAccessKey/000000000000"
    dev = state.account("444455556666")
    assert dev is not None and dev.user("OPS") is dev.user("ops")  # names fold case
    (device,) = dev.mfa_of("ops")
    assert device.serial == "arn:aws:iam::444455556666:mfa/ops"
    assert device.seed == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    role = state.role(BREAK_GLASS)
    assert role is not None and role.id == unique_id("AROA", BREAK_GLASS) and len(role.id) == 21
    assert state.role("arn:aws:iam::111122223333:role/Nope") is None
    assert state.role("arn:aws:iam::111122223333:role/x/BreakGlass") is None  # wrong path
    assert state.account_by_alias("vendor").id == "999988887777"
    provider = state.saml_provider("arn:aws:iam::111122223333:saml-provider/CorpIdP")
    assert provider is not None and provider.trust.entity_id == ENTITY
    assert provider.metadata is None  # this IdP's own metadata, whatever its keys become


def test_a_change_is_seen_by_another_worker_and_after_a_restart(directory, keypair, clock,
                                                                 store, tmp_path):
    first = iam(directory, keypair, store, clock)
    second_store = SqliteStore(store.path, clock)
    try:
        second = iam(directory, keypair, second_store, clock)
        assert first.change(add_user("carol")) == "carol"
        assert second.state().account("111122223333").user("carol") is not None
    finally:
        second_store.close()
    store.close()
    reopened = SqliteStore(store.path, clock)
    try:
        again = iam(directory, keypair, reopened, clock)  # same directory: keeps the change
        assert again.state().account("111122223333").user("carol") is not None
    finally:
        reopened.close()


def test_a_changed_directory_starts_iam_over(directory, keypair, clock, store, caplog):
    iam(directory, keypair, store, clock).change(add_user("carol"))
    other = edited_demo(lambda demo: demo["accounts"]["111122223333"]["roles"].update(
        {"Extra": {}}))
    assert fingerprint(other) != fingerprint(directory)
    fresh = iam(other, keypair, store, clock)
    prod = fresh.state().account("111122223333")
    assert prod.user("carol") is None and prod.role("Extra") is not None
    assert "starting IAM over" in caplog.text


def _ops_password(password: str):
    def edit(demo: dict[str, Any]) -> None:
        ops = demo["accounts"]["444455556666"]["iam_users"]["ops"]
        ops.pop("password_hash")
        ops["password"] = password
    return edit


def test_a_reload_keeps_the_state_and_a_changed_password_starts_over():
    """Plain IAM passwords hash the same at every load (a salt fixed by account and name), so
    reloading the same file keeps the IAM state; changing the password in it does not."""
    first, again = edited_demo(_ops_password("pw-1")), edited_demo(_ops_password("pw-1"))
    changed = edited_demo(_ops_password("pw-2"))
    assert fingerprint(first) == fingerprint(again)
    assert fingerprint(changed) != fingerprint(first)


def test_a_refused_edit_changes_nothing(directory, keypair, clock, store):
    twin = iam(directory, keypair, store, clock)
    before = store.document("iam")

    def broken(data: dict[str, Any], state: Any) -> None:
        data["accounts"]["111122223333"]["roles"]["Bad"] = {"created": "2026-01-01T00:00:00Z",
                                                            "trust_policy": "{not json"}

    with pytest.raises(ValueError):
        twin.change(broken)

    def refusing(data: dict[str, Any], state: Any) -> None:
        data["accounts"].clear()
        raise LookupError("no")

    with pytest.raises(LookupError):
        twin.change(refusing)
    assert store.document("iam") == before


def test_concurrent_changes_all_land(directory, keypair, clock, store):
    """Writers racing over one document retry on the newer version: no change is lost."""
    stores = [SqliteStore(store.path, clock) for _ in range(4)]
    twins = [iam(directory, keypair, s, clock) for s in stores]
    try:
        threads = [threading.Thread(target=twin.change, args=(add_user(f"user{i}"),))
                   for i, twin in enumerate(twins)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        users = twins[0].state().account("111122223333").users
        assert {f"user{i}" for i in range(4)} <= set(users)
    finally:
        for s in stores:
            s.close()


def test_reading_rebuilds_only_when_the_version_moves(directory, keypair, clock, store):
    twin = iam(directory, keypair, store, clock)
    assert twin.state() is twin.state()
    twin.change(add_user("erin"))
    assert twin.state().account("111122223333").user("erin") is not None


def test_an_unseeded_store_says_so(keypair):
    from idp.saml.validation import TrustedIssuer

    with pytest.raises(LookupError, match="not been seeded"):
        IamStore(None, TrustedIssuer(entity_id=ENTITY, certificates=())).state()


def test_the_own_oidc_issuer_follows_the_base_url_and_changes_are_kept(keypair, clock, store,
                                                                         caplog):
    """The seed names the simulator's own issuer symbolically: a state saved on port 8000 is
    kept on port 9000 (no "starting IAM over"), and its own provider, CiDeploy's trust
    policy and the condition keys there name the new issuer."""
    on_8000 = edited_demo(lambda demo: None, aws_acs="http://127.0.0.1:8000/aws/saml")
    on_9000 = edited_demo(lambda demo: None, aws_acs="http://127.0.0.1:9000/aws/saml")
    assert fingerprint(on_8000) == fingerprint(on_9000)
    iam(on_8000, keypair, store, clock).change(add_user("carol"))
    moved = iam(on_9000, keypair, store, clock).state()
    assert moved.account("111122223333").user("carol") is not None
    assert "starting IAM over" not in caplog.text
    dev = moved.account("444455556666")
    assert [p.url for p in dev.oidc_providers.values()] == ["http://127.0.0.1:9000/oidc"]
    provider = moved.oidc_provider("arn:aws:iam::444455556666:oidc-provider/127.0.0.1:9000/oidc")
    assert provider is not None and provider.client_ids == ("sts.amazonaws.com",)
    trust = dev.role("CiDeploy").trust_text
    assert "127.0.0.1:9000/oidc:sub" in trust and "8000" not in trust and "${" not in trust
