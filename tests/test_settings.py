"""``Settings.from_env`` reads ``IDP_*`` variables exactly: a typo is an error, never a default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from idp.errors import ConfigError
from idp.settings import Settings

BOOLEAN_HELP = "is not a boolean (use 1/0, true/false, yes/no or on/off)"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True), ("true", True), ("TRUE", True), ("True", True), ("yes", True),
        ("YES", True), ("on", True), ("On", True), (" true ", True), ("\tyes\n", True),
        ("0", False), ("false", False), ("FALSE", False), ("False", False), ("no", False),
        ("NO", False), ("off", False), ("Off", False), (" false ", False), ("\toff\n", False),
    ],
)
def test_boolean_spellings(raw, expected):
    """Every accepted spelling, any case, surrounding whitespace ignored, reads both ways."""
    settings = Settings.from_env({"IDP_ADMIN": raw})
    assert settings.admin is expected


@pytest.mark.parametrize("raw", ["flase", "2", "enabled", "ture", "-1", "y", "n", "   ", "o n"])
def test_boolean_typo_is_an_error_not_false(raw):
    """A misspelt boolean is refused with the variable, its value and the accepted forms."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"IDP_ADMIN": raw})
    assert str(caught.value) == f"environment: IDP_ADMIN={raw!r} {BOOLEAN_HELP}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("aws", "aws"), ("STRICT", "strict"), (" off ", "off"), ("1", "strict"),
     ("on", "strict"), ("true", "strict"), ("yes", "strict"), ("0", "off"), ("false", "off"),
     ("no", "off")],
)
def test_replay_protection_modes(raw, expected):
    """The three modes, and the boolean words it took before it had modes, with the meaning
    they had: "on" was one redemption in all (strict)."""
    assert Settings.from_env({"IDP_REPLAY_PROTECTION": raw}).replay_protection == expected
    assert Settings(replay_protection=raw).replay_protection == expected


@pytest.mark.parametrize(("value", "expected"), [(True, "strict"), (False, "off")])
def test_replay_protection_as_a_python_boolean(value, expected):
    """Code written when the field was a bool keeps working, with that meaning."""
    assert Settings(replay_protection=value).replay_protection == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["flase", "2", "enabled", "console", "", "o n"])
def test_replay_protection_typo_never_turns_it_off(raw):
    """The security case: IDP_REPLAY_PROTECTION=flase must not turn it off."""
    with pytest.raises(ConfigError) as caught:
        Settings(replay_protection=raw)
    assert str(caught.value) == (f"settings: replay protection {raw!r} must be aws, strict or "
                                 "off (--replay-protection, IDP_REPLAY_PROTECTION)")


@pytest.mark.parametrize(
    "name", ["IDP_REPLAY_PROTECTION", "IDP_PORT", "IDP_BASE_URL", "IDP_CERTS_DIR", "IDP_CONFIG"]
)
def test_empty_value_keeps_the_default(name):
    """``IDP_X=`` is the same as leaving the variable unset."""
    assert Settings.from_env({name: ""}) == Settings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("8080", 8080), (" 8443 ", 8443), ("0080", 80), ("65535", 65535), ("1\n", 1)],
)
def test_integers(raw, expected):
    """ASCII digits, surrounding whitespace ignored."""
    assert Settings.from_env({"IDP_PORT": raw}).port == expected


@pytest.mark.parametrize(
    "raw",
    ["80a", "3_600", "+1", " 1 0", "1e3", "٣", "٣٠٠", "\uff18\uff10", "1.0", "0x50", "-", "--1",
     "1-", "   "],
)
def test_integer_refuses_anything_but_ascii_digits(raw):
    """Forms Python's int() would take (underscores, '+', non-ASCII digits) are refused too."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"IDP_PORT": raw})
    assert str(caught.value) == f"environment: IDP_PORT={raw!r} is not a whole number"


def test_integer_error_names_the_variable_it_came_from():
    """The message names the field's own variable, not a fixed one."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"IDP_CLOCK_SKEW": "60s"})
    assert str(caught.value) == "environment: IDP_CLOCK_SKEW='60s' is not a whole number"


def test_huge_integer_is_refused_not_a_crash():
    """More digits than int() converts is the same error, not a ValueError."""
    raw = "9" * 5000
    with pytest.raises(ConfigError, match=r"IDP_WORKERS='9+' is not a whole number"):
        Settings.from_env({"IDP_WORKERS": raw})


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("IDP_PORT", "-1", "settings: port must be 1..65535, not -1"),
        ("IDP_WORKERS", "-3", "settings: workers must be 1..64, not -3"),
        ("IDP_CLOCK_SKEW", " -5 ", "settings: clock_skew must not be negative"),
        ("IDP_MAX_REQUEST_BYTES", "-1", "settings: max_request_bytes must not be negative"),
    ],
)
def test_negative_integer_reaches_the_range_checks(name, raw, message):
    """A negative number parses; the settings' own range check reports it."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: raw})
    assert str(caught.value) == message


def test_path_variables(tmp_path):
    """Path fields become ``Path`` objects, optional ones included."""
    config = tmp_path / "directory.yaml"
    settings = Settings.from_env({"IDP_CERTS_DIR": "keys", "IDP_CONFIG": str(config)})
    assert settings.certs_dir == Path("keys")
    assert settings.config == config


@pytest.mark.parametrize("raw", ["   ", "\t", "a\0b"])
def test_blank_path_is_refused(raw):
    """A path that is only whitespace (or holds a NUL) is an error, not the current directory."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"IDP_DATA_DIR": raw})
    assert str(caught.value) == f"environment: IDP_DATA_DIR={raw!r} is not a path"


def test_strings_are_taken_as_given():
    """String fields are not stripped or reinterpreted."""
    settings = Settings.from_env({"IDP_HOST": " localhost ", "IDP_BASE_URL": "https://idp.test/"})
    assert settings.host == " localhost "
    assert settings.base_url == "https://idp.test/"


def test_unknown_idp_variables_are_ignored():
    """Other tools share the prefix (the test suite uses IDP_FUZZ_PROFILE)."""
    env = {"IDP_FUZZ_PROFILE": "nightly", "IDP_NOT_A_SETTING": "flase", "IDP_PORT": "9000"}
    assert Settings.from_env(env) == Settings(port=9000)


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("IDP_REPLAY_PROTECTION", "off")
    monkeypatch.setenv("IDP_WORKERS", "4")
    settings = Settings.from_env()
    assert settings.replay_protection == "off"
    assert settings.workers == 4


def test_to_env_round_trips_every_field(tmp_path):
    """What ``idp serve --workers N`` hands its workers rebuilds the same settings."""
    settings = Settings(
        host="::1",
        port=8443,
        base_url="https://idp.example.test/sub",
        config=tmp_path / "directory.yaml",
        certs_dir=tmp_path / "certs",
        data_dir=tmp_path / "data",
        workers=4,
        key_size=3072,
        clock_skew=0,
        assertion_lifetime=120,
        sp_session_lifetime=3600,
        idp_session_lifetime=600,
        metadata_validity_days=30,
        max_request_bytes=1024,
        replay_protection="strict",
        trusted_proxies="10.0.0.0/8,::1",
        header_timeout=3,
        body_timeout=4,
        max_connections=64,
        clock_offset=-30,
        frozen_clock="2030-01-01T00:00:00Z",
        compat="okta,ecp",
        state="redis://:pw@redis.example.test:6380/3",
    )
    defaults = Settings()
    for name in settings.__dataclass_fields__:
        if name in ONE_WORKER:  # round-tripped below
            continue
        assert getattr(settings, name) != getattr(defaults, name), name
    env = settings.to_env()
    assert env["IDP_REPLAY_PROTECTION"] == "strict"
    assert Settings.from_env(env) == settings


#: Fields that need one worker process, round-tripped by the next test.
ONE_WORKER = ("admin", "tls", "tls_port", "connect_proxy")


def test_to_env_round_trips_the_one_worker_fields():
    settings = Settings(admin=True, tls=True, tls_port=9443, connect_proxy=9080,
                        certs_dir=Path("/c"), data_dir=Path("/d"))
    assert all(getattr(settings, n) != getattr(Settings(), n) for n in ONE_WORKER)
    assert Settings.from_env(settings.to_env()) == settings


def test_tls_moves_the_public_url_and_keeps_the_plain_one():
    settings = Settings(port=9000, tls=True, tls_port=9443)
    assert (settings.url, settings.plain_url) == ("https://127.0.0.1:9443", "http://127.0.0.1:9000")
    assert settings.secure_cookies and settings.entity_id == "https://127.0.0.1:9443/idp/metadata"
    given = Settings(tls=True, base_url="https://idp.test:9443")
    assert given.url == given.plain_url == "https://idp.test:9443"
    assert Settings(connect_proxy=9080).tls  # the proxy's only destination is the TLS listener


@pytest.mark.parametrize(("options", "message"), [
    ({"tls": True, "tls_port": 8000}, "must differ"),
    ({"connect_proxy": 8443}, "must differ"),
    ({"tls": True, "workers": 2}, "one worker"),
    ({"tls_port": 0, "tls": True}, "tls port must be 1..65535"),
    ({"connect_proxy": 70000}, "connect proxy must be 1..65535"),
    ({"compat": "okta,saml2aws"}, "unknown compat surface 'saml2aws'"),
])
def test_tls_proxy_and_compat_mistakes(options, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**options)


def test_to_env_of_the_defaults_round_trips():
    """Relative default paths come back resolved; everything else is unchanged."""
    rebuilt = Settings.from_env(Settings().to_env())
    assert rebuilt == Settings(certs_dir=Path("certs").resolve(), data_dir=Path("data").resolve())


def test_a_field_of_an_unsupported_type_fails_loudly():
    """A new field whose type from_env cannot read is a TypeError, not silently a string."""

    @dataclass(frozen=True)
    class Extended(Settings):
        ratio: float = 0.5

    with pytest.raises(TypeError, match=r"Extended\.ratio has type .*float"):
        Extended.from_env({})


@pytest.mark.parametrize("listed", ["127.0.0.1", "10.0.0.0/8, 192.168.1.7", "::1,fd00::/8"])
def test_trusted_proxies_are_addresses_or_networks(listed):
    """``IDP_TRUSTED_PROXIES`` lists addresses and CIDR networks, comma-separated."""
    settings = Settings.from_env({"IDP_TRUSTED_PROXIES": listed})
    assert len(settings.trusted_proxy_networks) == len(listed.split(","))


def test_no_proxy_is_trusted_by_default():
    """Forwarded headers are believed from nobody unless the operator names a proxy."""
    assert Settings().trusted_proxy_networks == ()
    assert Settings.from_env({}).trusted_proxies is None


@pytest.mark.parametrize("listed", ["*", "localhost", "10.0.0.0/33", "127.0.0.1,,", "1.2.3"])
def test_a_trusted_proxy_that_is_not_an_address_is_refused(listed):
    """A typo must not silently trust nobody (or everybody): one clear error at start-up."""
    with pytest.raises(ConfigError, match="is not an IP address or CIDR network"):
        Settings.from_env({"IDP_TRUSTED_PROXIES": listed})


@pytest.mark.parametrize("name", ["header_timeout", "body_timeout", "max_connections"])
def test_time_and_connection_limits_are_positive(name):
    with pytest.raises(ConfigError, match=f"{name} must be at least 1"):
        Settings(**{name: 0})


def test_base_path_prefixes_links():
    assert Settings().base_path == ""
    assert Settings(base_url="https://sso.example/sim/").base_path == "/sim"


@pytest.mark.parametrize(("raw", "expected"), [
    ("", "sqlite"),
    ("sqlite", "sqlite"),
    ("redis://127.0.0.1", "redis://127.0.0.1:6379/0"),
    ("redis://127.0.0.1:6390/2", "redis://127.0.0.1:6390/2"),
])
def test_state_locations(raw, expected):
    assert Settings.from_env({"IDP_STATE": raw}).state == expected
    assert Settings(state=raw or "sqlite").state == expected


@pytest.mark.parametrize("raw", ["postgres://db/0", "redis://", "redis://h/x", "mysql"])
def test_a_bad_state_location_names_the_flag_and_the_variable(raw):
    with pytest.raises(ConfigError, match=r"\(--state, IDP_STATE\)$") as caught:
        Settings(state=raw)
    assert "expected sqlite or redis://" in str(caught.value)
