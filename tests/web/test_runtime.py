"""``Runtime``: the running simulator's state. An edit or a key rollover builds a whole new
``Services`` and swaps it in, or changes nothing; ``reset`` goes back to the start; and
``read_directory`` reads the configured file."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.clock import FixedClock, SettableClock
from idp.directory import Directory, demo_yaml
from idp.directory.editor import DirectoryDocument
from idp.errors import ConfigError, DirectoryEditError, KeyStoreError
from idp.exchanges import ExchangeKind, Outcome
from idp.faults import Fault
from idp.keys import KeyPair, KeyStore, generate_pair
from idp.settings import Settings
from idp.web.runtime import Runtime, read_directory
from idp.web.state import Services
from tests.support.demo import AWS_ACS, AWS_ENTITY_ID, BASE_URL, DEV_PROVIDER, PROD_PROVIDER

REAL = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
LATER = REAL + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def demo_document() -> DirectoryDocument:
    """The demo as data, read once (reading hashes its passwords); documents are values."""
    document, _ = DirectoryDocument.read(demo_yaml(), aws_acs=AWS_ACS, source="<demo>")
    return document


@pytest.fixture
def settings(certs_dir: Path, tmp_path: Path) -> Settings:
    """This test's own folders, holding a copy of the session's signing pair."""
    certs = tmp_path / "certs"
    certs.mkdir(mode=0o700)
    for name in ("signing.key", "signing.crt"):
        shutil.copy2(certs_dir / name, certs / name)
    return Settings(base_url=BASE_URL, certs_dir=certs, data_dir=tmp_path / "data")


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(offset=60, source=FixedClock(REAL))


@pytest.fixture
def runtime(settings: Settings, demo_document: DirectoryDocument,
            clock: SettableClock) -> Iterator[Runtime]:
    made = Runtime(settings, document=demo_document, clock=clock)
    yield made
    made.close()


def published(services: Services) -> list[str]:
    """The certificates the IdP publishes, in metadata order."""
    return [pair.cert_b64 for pair in services.identity_provider.keys]


def trusted(services: Services, provider: str = PROD_PROVIDER) -> tuple[str, ...]:
    """The certificates the AWS side's SAML provider trusts."""
    found = services.federation.iam.saml_provider(provider)
    assert found is not None
    return found.trust.certificates


def add_erin(document: DirectoryDocument, directory: Directory) -> DirectoryDocument:
    return document.with_user("erin", password="erin-pw", roles=["ReadOnly"],
                              directory=directory)


# --- edits ----------------------------------------------------------------------------------


def test_an_edit_swaps_in_new_services_that_see_it(runtime):
    before = runtime.services
    runtime.edit(add_erin)
    after = runtime.services
    assert after is not before
    assert before.identity_provider.directory.user("erin") is None
    assert after.identity_provider.directory.user("erin") is not None
    assert after.identity_provider.directory is runtime.directory
    assert runtime.directory.user("erin") is not None
    assert "erin" in runtime.document.data["users"]
    assert after.authenticator.directory is runtime.directory
    assert after.federation.iam.role("arn:aws:iam::111122223333:role/ReadOnly") is not None


def test_an_edit_keeps_every_long_lived_part(runtime):
    before = runtime.services
    runtime.edit(add_erin)
    after = runtime.services
    for part in ("settings", "clock", "store", "console_sessions", "session_secret",
                 "exchanges", "faults"):
        assert getattr(after, part) is getattr(before, part), part
    assert after.federation.credentials is before.federation.credentials is runtime.credentials
    assert after.identity_provider.faults is runtime.faults
    assert after.identity_provider.exchanges is runtime.exchanges
    assert published(after) == published(before)


def raise_runtime_error(document: DirectoryDocument, directory: Directory) -> DirectoryDocument:
    raise RuntimeError("the change itself failed")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda doc, _d: doc.without_user("nobody"), DirectoryEditError),
        (lambda doc, d: doc.with_user("alice", password="pw", directory=d), DirectoryEditError),
        (lambda doc, _d: doc.with_user("erin", password="pw", groups=["no-such-group"]),
         DirectoryEditError),
        (lambda doc, _d: doc.with_role("bad name!"), DirectoryEditError),
        (raise_runtime_error, RuntimeError),
    ],
    ids=["refused-by-the-edit", "refused-by-the-edit-2", "refused-at-build",
         "refused-at-build-2", "the-change-raises"],
)
def test_a_failing_edit_changes_nothing(runtime, change, error):
    services, directory, document = runtime.services, runtime.directory, runtime.document
    with pytest.raises(error):
        runtime.edit(change)
    assert runtime.services is services
    assert runtime.directory is directory
    assert runtime.document is document


def test_edits_build_on_each_other(runtime):
    runtime.edit(add_erin)
    runtime.edit(lambda doc, d: doc.with_grant("erin", "Developer", d))
    erin = runtime.directory.user("erin")
    assert erin is not None
    assert [g.role_arn.rsplit("/", 1)[1] for g in runtime.directory.roles_for(erin)] == \
        ["ReadOnly", "Developer"]


# --- key rollover ---------------------------------------------------------------------------


def test_stage_promote_retire_rebuild_services_with_the_published_keys(runtime, keypair):
    original = keypair.cert_b64
    assert published(runtime.services) == [original]

    staged = runtime.stage_key()
    assert published(runtime.services) == [original, staged.cert_b64]
    assert trusted(runtime.services) == (keypair.cert_pem, staged.cert_pem)
    assert trusted(runtime.services, DEV_PROVIDER) == (keypair.cert_pem, staged.cert_pem)
    assert set(runtime.keys) == {"signing", "next"}

    before = runtime.services
    assert runtime.promote_key().cert_b64 == staged.cert_b64
    assert runtime.services is not before
    assert runtime.services.identity_provider.signing_key.cert_b64 == staged.cert_b64
    assert published(runtime.services) == [staged.cert_b64, original]
    assert set(runtime.keys) == {"signing", "previous"}

    assert runtime.retire_key().cert_b64 == original
    assert published(runtime.services) == [staged.cert_b64]
    assert trusted(runtime.services) == (staged.cert_pem,)
    assert set(runtime.keys) == {"signing"}
    assert runtime.services.store is before.store  # the long-lived parts stay

    runtime.edit(add_erin)  # a later edit keeps the rolled-over keys
    assert published(runtime.services) == [staged.cert_b64]


@pytest.mark.parametrize("step", ["promote_key", "retire_key"])
def test_a_refused_rollover_step_changes_nothing(runtime, step):
    services, keys = runtime.services, runtime.keys
    with pytest.raises(KeyStoreError):
        getattr(runtime, step)()
    assert runtime.services is services
    assert {s: p.cert_b64 for s, p in runtime.keys.items()} == \
        {s: p.cert_b64 for s, p in keys.items()}


def test_keys_is_a_copy(runtime):
    runtime.keys.clear()
    assert "signing" in runtime.keys


# --- reset ----------------------------------------------------------------------------------


def test_reset_restores_directory_keys_clock_and_empties_the_state(runtime, settings, clock):
    directory, document = runtime.directory, runtime.document
    certs = settings.certs_dir
    key_bytes, cert_bytes = (certs / "signing.key").read_bytes(), (certs / "signing.crt"
                                                                   ).read_bytes()
    initial = published(runtime.services)
    start = clock.now()

    runtime.edit(add_erin)
    runtime.stage_key()
    runtime.promote_key()
    clock.freeze(LATER)
    assert runtime.store.claim("assertion", "id-1", LATER + dt.timedelta(hours=1))
    runtime.faults.add(Fault.EXPIRED, sp=AWS_ENTITY_ID)
    runtime.faults.remember(AWS_ENTITY_ID, "erin", b"<Response/>")
    runtime.exchanges.record(ExchangeKind.RESPONSE, Outcome.SENT, message=b"<Response/>",
                             user="erin")

    runtime.reset()

    assert runtime.directory is directory and runtime.document is document
    assert runtime.directory.user("erin") is None
    assert runtime.services.identity_provider.directory is directory
    assert published(runtime.services) == initial
    assert set(runtime.keys) == {"signing"}
    assert (certs / "signing.key").read_bytes() == key_bytes
    assert (certs / "signing.crt").read_bytes() == cert_bytes
    assert sorted(p.name for p in certs.glob("*.crt")) == ["oidc-signing.crt", "signing.crt"]
    assert not (certs / "previous.key").exists() and not (certs / "next.key").exists()
    assert not clock.frozen and clock.now() == start
    assert not runtime.store.claimed("assertion", "id-1")
    assert runtime.faults.planned() == [] and runtime.faults.last(AWS_ENTITY_ID, "erin") is None
    assert runtime.exchanges.entries() == []


def test_reset_restores_a_staged_key_present_at_start(settings, demo_document, clock,
                                                     keypair):
    """The start state is what was on disk at start, a staged key included."""
    staged = generate_pair("staged", 2048, clock)
    KeyStore(settings.certs_dir, clock=clock).restore({"signing": keypair, "next": staged})
    runtime = Runtime(settings, document=demo_document, clock=clock)
    try:
        initial = published(runtime.services)
        assert initial == [keypair.cert_b64, staged.cert_b64]
        runtime.promote_key()
        runtime.retire_key()
        assert published(runtime.services) == [staged.cert_b64]
        runtime.reset()
        assert published(runtime.services) == initial
        assert set(runtime.keys) == {"signing", "next"}
        assert (settings.certs_dir / "next.crt").exists()
        assert not (settings.certs_dir / "previous.crt").exists()
    finally:
        runtime.close()


def test_reset_leaves_a_clock_that_cannot_be_reset_alone(settings, demo_document):
    fixed = FixedClock(REAL)
    runtime = Runtime(settings, document=demo_document, clock=fixed)
    try:
        fixed.advance(60)
        runtime.reset()
        assert runtime.clock is fixed and fixed.now() == REAL + dt.timedelta(seconds=60)
    finally:
        runtime.close()


def test_the_default_clock_comes_from_the_settings(settings, demo_document):
    frozen = settings.with_overrides(frozen_clock="2030-01-01T00:00:00Z")
    runtime = Runtime(frozen, document=demo_document)
    try:
        assert isinstance(runtime.clock, SettableClock)
        assert runtime.clock.now() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        runtime.clock.advance(3600)
        runtime.reset()
        assert runtime.clock.now() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        assert runtime.services.clock is runtime.clock
    finally:
        runtime.close()


# --- a Runtime from a Directory object ------------------------------------------------------


def test_a_runtime_built_from_a_directory_object_refuses_edits(settings, directory, clock):
    runtime = Runtime(settings, directory=directory, clock=clock)
    try:
        assert runtime.directory is directory
        services = runtime.services
        with pytest.raises(DirectoryEditError, match="given a Directory object") as caught:
            runtime.edit(add_erin)
        assert "start it from YAML" in str(caught.value)
        with pytest.raises(DirectoryEditError, match="given a Directory object"):
            runtime.document  # noqa: B018
        assert runtime.services is services
        runtime.reset()  # still resets
        assert runtime.directory is directory
    finally:
        runtime.close()


def test_a_runtime_reads_the_configured_file(settings, tmp_path):
    config = tmp_path / "dir.yaml"
    config.write_text("users:\n  bob:\n    password: pw\n    email: bob@x.example\n")
    runtime = Runtime(settings.with_overrides(config=config),
                      clock=SettableClock(source=FixedClock(REAL)))
    try:
        assert runtime.directory.source == str(config)
        assert list(runtime.directory.users) == ["bob"]
        assert "password" not in runtime.document.data["users"]["bob"]
        runtime.edit(lambda doc, _d: doc.without_user("bob"))
        assert runtime.directory.users == {}
    finally:
        runtime.close()


# --- read_directory -------------------------------------------------------------------------


def test_read_directory_without_a_config_is_the_demo(settings):
    document, directory = read_directory(settings)
    assert directory.source == "<demo>"
    assert set(directory.users) == {"alice", "bob", "carol", "dave"}
    assert document.aws_acs == settings.console_acs_url and document.base is None


def test_read_directory_reads_relative_paths_from_the_files_folder(settings, tmp_path):
    config = tmp_path / "conf" / "dir.yaml"
    config.parent.mkdir()
    config.write_text("users: {}\n")
    document, directory = read_directory(settings.with_overrides(config=config))
    assert document.base == config.parent
    assert directory.source == str(config)


def test_read_directory_of_a_missing_file(settings, tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        read_directory(settings.with_overrides(config=missing))
    assert str(caught.value) == f"{missing}: cannot read config file: No such file or directory"


def test_read_directory_of_a_file_over_4_mib(settings, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (4 * 1024 * 1024) + b"\n")
    with pytest.raises(ConfigError) as caught:
        read_directory(settings.with_overrides(config=big))
    assert str(caught.value) == f"{big}: config file is larger than 4 MiB"


def test_read_directory_of_exactly_4_mib_is_read(settings, tmp_path):
    edge = tmp_path / "edge.yaml"
    edge.write_bytes(b"users: {}\n" + b"#" * (4 * 1024 * 1024 - 11) + b"\n")
    assert edge.stat().st_size == 4 * 1024 * 1024
    _, directory = read_directory(settings.with_overrides(config=edge))
    assert directory.users == {}


def test_read_directory_of_a_file_that_is_not_utf8(settings, tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"users: {}\n# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        read_directory(settings.with_overrides(config=latin))
    assert str(caught.value) == f"{latin}: config file is not UTF-8 (byte 15)"


def test_read_directory_reports_a_broken_file_with_its_line(settings, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("users:\n  bob: [\n")
    with pytest.raises(ConfigError) as caught:
        read_directory(settings.with_overrides(config=broken))
    assert str(caught.value).startswith(f"{broken}:")


def test_a_runtime_signs_with_the_pair_already_in_its_folder(runtime, keypair: KeyPair):
    """``ensure`` loads the existing pair: none is generated at start."""
    assert runtime.keys["signing"].cert_b64 == keypair.cert_b64


def test_a_key_step_or_reset_that_cannot_rebuild_changes_nothing(settings, clock, tmp_path):
    """The provider metadata a directory names vanishes: staging a key, or a reset, fails
    whole (key files on disk as before), and works again once the file is back."""
    other = tmp_path / "other.xml"
    other.write_bytes(Runtime(settings, clock=clock).services.identity_provider.metadata())
    config = tmp_path / "dir.yaml"
    config.write_text(demo_yaml().replace(
        "    saml_provider: CorpIdP\n    # The provider holds",
        "    saml_provider: CorpIdP\n    provider_metadata: other.xml\n    # The provider holds"))
    runtime = Runtime(settings.with_overrides(config=config), clock=clock)
    runtime.edit(add_erin)
    on_disk = sorted(p.name for p in settings.certs_dir.glob("*.crt"))
    other.unlink()
    with pytest.raises(ConfigError, match="provider metadata"):
        runtime.stage_key()
    with pytest.raises(ConfigError, match="provider metadata"):
        runtime.reset()
    assert sorted(p.name for p in settings.certs_dir.glob("*.crt")) == on_disk
    assert set(runtime.keys) == {"signing"} and runtime.directory.user("erin") is not None
    other.write_bytes(runtime.services.identity_provider.metadata())
    runtime.stage_key()
    assert set(runtime.keys) == {"signing", "next"}
    runtime.close()
