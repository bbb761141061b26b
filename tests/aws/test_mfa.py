"""Virtual MFA codes: RFC 6238 with ±1 step, once per device across workers; EnableMFADevice's
two consecutive codes."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from idp.aws.iam.model import MfaDevice
from idp.aws.mfa import MfaCodes
from idp.store import SqliteStore
from tests.support.demo import OPS_SEED as SEED


def device(seed=SEED, enabled=True, name="ops"):
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return MfaDevice(account_id="444455556666", name=name, path="/", seed=seed,
                     user_name="ops", enabled=when if enabled else None, created=when)


def code(clock, offset=0, seed=SEED):
    return pyotp.TOTP(seed).at(clock.now().timestamp() + offset)


@pytest.fixture
def codes(clock, store):
    return MfaCodes(clock, store)


def test_a_code_works_once(codes, clock):
    assert codes.check(device(), code(clock)) is None
    assert codes.check(device(), code(clock)) == "reused"


def test_another_worker_sees_the_use(codes, clock, store, tmp_path):
    other = MfaCodes(clock, SqliteStore(tmp_path / "state.sqlite3", clock))
    assert codes.check(device(), code(clock)) is None
    assert other.check(device(), code(clock)) == "reused"


def test_devices_are_independent(codes, clock):
    assert codes.check(device(), code(clock)) is None
    assert codes.check(device(name="other"), code(clock)) is None


@pytest.mark.parametrize("offset, verdict", [(-30, None), (30, None), (-60, "invalid"),
                                             (60, "invalid")])
def test_drift_of_one_step(codes, clock, offset, verdict):
    assert codes.check(device(), code(clock, offset)) == verdict


def test_an_older_code_after_a_newer_one_is_refused(codes, clock):
    assert codes.check(device(), code(clock)) is None
    assert codes.check(device(), code(clock, -30)) == "reused"
    assert codes.check(device(), code(clock, 30)) is None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef",
                                 "\uff11\uff12\uff13\uff14\uff15\uff16"])
def test_malformed_codes_are_invalid(codes, bad):
    assert codes.check(device(), bad) == "invalid"


def test_disabled_device_and_unreadable_seed(codes, clock):
    assert codes.check(device(enabled=False), code(clock)) == "invalid"
    assert codes.check(device(seed="!!!"), "123456") == "invalid"


def test_without_a_store_marks_are_kept_in_memory(clock):
    codes = MfaCodes(clock, None)
    assert codes.check(device(), code(clock)) is None
    assert codes.check(device(), code(clock)) == "reused"


def test_consecutive_codes(codes, clock):
    assert codes.consecutive(SEED, code(clock, -30), code(clock))
    assert codes.consecutive(SEED, code(clock), code(clock, 30))
    assert not codes.consecutive(SEED, code(clock), code(clock, -30))  # wrong order
    assert not codes.consecutive(SEED, code(clock), code(clock))
    assert not codes.consecutive(SEED, code(clock, -300), code(clock, -270))  # too old
    assert not codes.consecutive(SEED, "abc", code(clock))
    assert not codes.consecutive("!!!", "123456", "654321")
