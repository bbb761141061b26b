"""The settings that move the simulated clock (``clock_offset``, ``frozen_clock``) and serve
the admin API (``admin``): from the constructor, ``IDP_*`` variables and ``idp serve`` flags."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from idp import cli
from idp.clock import SettableClock
from idp.errors import ConfigError
from idp.settings import Settings

MAX_OFFSET = 100 * 366 * 86400
NEW_YEAR_2030 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``IDP_*`` variable of the developer's shell leaks into ``Settings.from_env()``."""
    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)
    return monkeypatch


def serve_settings(*flags: str) -> Settings:
    """What ``idp serve FLAGS`` runs with."""
    return cli._settings(cli._parser().parse_args(["serve", *flags]))


# --- frozen_clock ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T00:00:00Z", NEW_YEAR_2030),
        ("2030-01-01T00:00:00z", NEW_YEAR_2030),
        ("2030-01-01T00:00:00+00:00", NEW_YEAR_2030),
        ("2030-01-01T02:00:00+02:00", NEW_YEAR_2030),
        ("2029-12-31T19:00:00-05:00", NEW_YEAR_2030),
        ("  2030-01-01T00:00:00Z\n", NEW_YEAR_2030),
        ("2030-01-01T00:00:00.250Z", NEW_YEAR_2030 + dt.timedelta(milliseconds=250)),
    ],
)
def test_frozen_clock_accepts_iso_8601_instants_with_a_time_zone(text, expected):
    settings = Settings(frozen_clock=text)
    assert settings.frozen_instant == expected
    assert settings.frozen_instant.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", ["2030-01-01T00:00:00", "2030-01-01", "2030-01-01 00:00"])
def test_frozen_clock_without_a_time_zone_is_refused(text):
    with pytest.raises(ConfigError, match="needs a time zone"):
        Settings(frozen_clock=text)


@pytest.mark.parametrize("text", ["nope", "", "   ", "2030-13-01T00:00:00Z", "yesterday",
                                  "2030-01-01T00:00:00+25:00", "1893456000"])
def test_frozen_clock_garbage_is_refused_with_an_example(text):
    with pytest.raises(ConfigError) as caught:
        Settings(frozen_clock=text)
    assert str(caught.value) == (f"settings: frozen clock {text!r} is not an ISO 8601 instant "
                                 "(for example 2030-01-01T00:00:00Z)")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_frozen_clock_out_of_range_is_a_config_error(text):
    with pytest.raises(ConfigError, match="frozen clock"):
        Settings(frozen_clock=text)


def test_no_frozen_clock_means_a_ticking_clock():
    settings = Settings()
    assert settings.frozen_clock is None and settings.frozen_instant is None
    clock = settings.clock()
    assert isinstance(clock, SettableClock) and not clock.frozen


def test_clock_is_frozen_at_the_instant_and_wins_over_the_offset():
    settings = Settings(frozen_clock="2030-01-01T00:00:00Z", clock_offset=3600)
    clock = settings.clock()
    assert clock.frozen and clock.now() == NEW_YEAR_2030
    clock.advance(60)
    clock.reset()  # the settings' instant is what the clock was created with
    assert clock.now() == NEW_YEAR_2030


def test_each_clock_call_is_a_new_clock():
    settings = Settings(frozen_clock="2030-01-01T00:00:00Z")
    first, second = settings.clock(), settings.clock()
    first.advance(60)
    assert first is not second and second.now() == NEW_YEAR_2030


# --- clock_offset ---------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, -1, MAX_OFFSET, -MAX_OFFSET])
def test_clock_offset_within_about_a_hundred_years_is_accepted(offset):
    settings = Settings(clock_offset=offset)
    assert settings.clock_offset == offset
    assert abs(settings.clock().offset - offset) < 1


@pytest.mark.parametrize("offset", [MAX_OFFSET + 1, -MAX_OFFSET - 1, 10**12])
def test_clock_offset_beyond_the_bound_is_refused(offset):
    with pytest.raises(ConfigError, match="clock offset must be within"):
        Settings(clock_offset=offset)


# --- admin ----------------------------------------------------------------------------------


def test_admin_is_off_by_default_and_allowed_with_one_worker():
    assert Settings().admin is False
    assert Settings(admin=True).admin is True
    assert Settings(admin=False, workers=4).workers == 4


@pytest.mark.parametrize("workers", [2, 64])
def test_admin_with_several_workers_is_refused(workers):
    with pytest.raises(ConfigError, match="run it with one worker"):
        Settings(admin=True, workers=workers)


# --- IDP_* variables ------------------------------------------------------------------------


def test_from_env_reads_the_clock_and_admin_variables():
    settings = Settings.from_env({"IDP_CLOCK_OFFSET": "-3600", "IDP_ADMIN": "yes",
                                  "IDP_FROZEN_CLOCK": "2030-01-01T00:00:00Z"})
    assert settings.clock_offset == -3600
    assert settings.admin is True
    assert settings.frozen_instant == NEW_YEAR_2030


def test_from_env_empty_values_keep_the_defaults():
    settings = Settings.from_env({"IDP_CLOCK_OFFSET": "", "IDP_FROZEN_CLOCK": "",
                                  "IDP_ADMIN": ""})
    assert (settings.clock_offset, settings.frozen_clock, settings.admin) == (0, None, False)


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("IDP_CLOCK_OFFSET", "1h", "environment: IDP_CLOCK_OFFSET='1h' is not a whole number"),
        ("IDP_CLOCK_OFFSET", "+60", "environment: IDP_CLOCK_OFFSET='+60' is not a whole number"),
        ("IDP_CLOCK_OFFSET", "1e3", "environment: IDP_CLOCK_OFFSET='1e3' is not a whole number"),
        ("IDP_CLOCK_OFFSET", str(MAX_OFFSET + 1), "clock offset must be within"),
        ("IDP_ADMIN", "enabled", "environment: IDP_ADMIN='enabled' is not a boolean"),
        ("IDP_FROZEN_CLOCK", "tomorrow", "frozen clock 'tomorrow' is not an ISO 8601 instant"),
        ("IDP_FROZEN_CLOCK", "2030-01-01T00:00:00", "needs a time zone"),
    ],
)
def test_from_env_refuses_malformed_values(variable, raw, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: raw})
    assert message in str(caught.value)


def test_from_env_refuses_admin_with_several_workers():
    with pytest.raises(ConfigError, match="one worker"):
        Settings.from_env({"IDP_ADMIN": "1", "IDP_WORKERS": "2"})


def test_to_env_round_trips_the_new_fields():
    settings = Settings(clock_offset=-90, frozen_clock="2030-01-01T00:00:00Z", admin=True)
    env = settings.to_env()
    assert (env["IDP_CLOCK_OFFSET"], env["IDP_FROZEN_CLOCK"], env["IDP_ADMIN"]) == \
        ("-90", "2030-01-01T00:00:00Z", "1")
    rebuilt = Settings.from_env(env)
    assert (rebuilt.clock_offset, rebuilt.frozen_clock, rebuilt.admin) == (-90,
                                                                          settings.frozen_clock,
                                                                          True)


# --- idp serve flags ------------------------------------------------------------------------


def test_serve_without_the_flags_keeps_the_defaults(clean_env):
    settings = serve_settings()
    assert (settings.clock_offset, settings.frozen_clock, settings.admin) == (0, None, False)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--clock-offset", "3600"], 3600),
        (["--clock-offset", "-86400"], -86400),
        (["--clock-offset=-5"], -5),
    ],
)
def test_serve_clock_offset_flag(clean_env, flags, expected):
    assert serve_settings(*flags).clock_offset == expected


def test_serve_frozen_clock_and_admin_flags(clean_env):
    settings = serve_settings("--frozen-clock", "2030-01-01T00:00:00Z", "--admin")
    assert settings.frozen_instant == NEW_YEAR_2030
    assert settings.admin is True
    assert settings.clock().now() == NEW_YEAR_2030


def test_serve_flags_beat_the_environment(clean_env):
    clean_env.setenv("IDP_CLOCK_OFFSET", "100")
    clean_env.setenv("IDP_FROZEN_CLOCK", "2040-01-01T00:00:00Z")
    settings = serve_settings("--clock-offset", "0", "--frozen-clock", "2030-01-01T00:00:00Z")
    assert settings.clock_offset == 0  # an explicit 0 is a value, not "unset"
    assert settings.frozen_instant == NEW_YEAR_2030


def test_serve_without_admin_flag_keeps_the_environments_admin(clean_env):
    clean_env.setenv("IDP_ADMIN", "1")
    assert serve_settings().admin is True


def test_serve_admin_flag_with_several_workers_is_refused(clean_env):
    with pytest.raises(ConfigError, match="one worker"):
        serve_settings("--admin", "--workers", "2")


def test_serve_bad_frozen_clock_is_refused_in_settings(clean_env):
    with pytest.raises(ConfigError, match="frozen clock 'nope'"):
        serve_settings("--frozen-clock", "nope")


def test_serve_clock_offset_must_be_a_whole_number(clean_env, capsys):
    with pytest.raises(SystemExit) as caught:
        cli._parser().parse_args(["serve", "--clock-offset", "1.5"])
    assert caught.value.code == 2
    assert "--clock-offset" in capsys.readouterr().err


def test_idp_serve_with_a_bad_frozen_clock_exits_2_before_anything_else(tmp_path: Path):
    """One line on stderr, exit 2, and it fails before keys are made or the port is bound
    (the port is taken: binding first would fail fast with another message)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    certs = tmp_path / "certs"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "idp", "serve", "--frozen-clock", "nope", "--certs-dir",
             str(certs), "--host", "127.0.0.1", "--port", port],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "idp: error: settings: frozen clock 'nope' is not an ISO 8601 instant "
        "(for example 2030-01-01T00:00:00Z)"
    ]
    assert not certs.exists()
    assert not (tmp_path / "data").exists()
