"""``idp.vendors`` and where the surfaces are switched on: ``--compat`` (``Settings.compat``),
``compat:`` in the directory file, and their union in the running simulator's services; plus
the TLS settings (``tls``, ``tls_port``, ``connect_proxy``) and ``replay_protection``."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.clock import SettableClock
from idp.directory import demo_yaml, load_directory, parse_directory
from idp.errors import ConfigError
from idp.settings import Settings
from idp.vendors import Vendor, parse_vendors
from idp.web.runtime import Runtime
from tests.support.demo import AWS_ACS

ALL = frozenset(Vendor)


# --- parse_vendors -----------------------------------------------------------------------------


def test_the_four_surfaces_and_their_names():
    assert {v.value for v in Vendor} == {"okta", "adfs", "shibboleth", "ecp"}


@pytest.mark.parametrize(("names", "expected"), [
    ("okta", {Vendor.OKTA}),
    ("okta,adfs", {Vendor.OKTA, Vendor.ADFS}),
    (" OKTA , ,Ecp,", {Vendor.OKTA, Vendor.ECP}),
    ("okta,okta", {Vendor.OKTA}),
    ("okta,adfs,shibboleth,ecp", ALL),
    ("", set()),
    (" , ", set()),
    (["shibboleth", " ADFS "], {Vendor.SHIBBOLETH, Vendor.ADFS}),
    (("ecp",), {Vendor.ECP}),
    ([], set()),
    (iter(["okta"]), {Vendor.OKTA}),
])
def test_parse_vendors(names, expected):
    assert parse_vendors(names) == frozenset(expected)


@pytest.mark.parametrize("names", ["saml2aws", "okta,saml2aws", ["okta", "Saml2aws "],
                                   "okta;adfs", "azure"])
def test_an_unknown_surface_is_named_with_the_choices(names):
    with pytest.raises(ConfigError) as caught:
        parse_vendors(names, source="--compat")
    message = str(caught.value)
    assert message.startswith("--compat: unknown compat surface ")
    assert "choose from okta, adfs, shibboleth, ecp" in message
    bad = next(n.strip() for n in (names.split(",") if isinstance(names, str) else names)
               if n.strip().lower() not in {"okta", "adfs", "shibboleth", "ecp"})
    assert repr(bad) in message


# --- Settings ----------------------------------------------------------------------------------


def test_settings_compat_is_parsed_into_vendors():
    assert Settings().vendors == frozenset()
    assert Settings(compat="okta, ADFS").vendors == {Vendor.OKTA, Vendor.ADFS}
    assert Settings.from_env({"IDP_COMPAT": "ecp,shibboleth"}).vendors == {
        Vendor.ECP, Vendor.SHIBBOLETH}


def test_an_unknown_surface_fails_at_start_up():
    with pytest.raises(ConfigError, match="unknown compat surface 'foo'"):
        Settings(compat="okta,foo")
    with pytest.raises(ConfigError, match="unknown compat surface 'foo'"):
        Settings.from_env({"IDP_COMPAT": "foo"})


@pytest.mark.parametrize(("options", "url", "plain"), [
    ({}, "http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ({"tls": True}, "https://127.0.0.1:8443", "http://127.0.0.1:8000"),
    ({"tls": True, "port": 9000, "tls_port": 9443}, "https://127.0.0.1:9443",
     "http://127.0.0.1:9000"),
    ({"connect_proxy": 9080}, "https://127.0.0.1:8443", "http://127.0.0.1:8000"),
    ({"tls": True, "host": "::1"}, "https://[::1]:8443", "http://[::1]:8000"),
    ({"tls": True, "host": "localhost", "tls_port": 4443}, "https://localhost:4443",
     "http://localhost:8000"),
    ({"tls": True, "base_url": "https://idp.example.test/sim/"},
     "https://idp.example.test/sim", "https://idp.example.test/sim"),
    ({"tls_port": 9443}, "http://127.0.0.1:8000", "http://127.0.0.1:8000"),  # tls off
])
def test_public_and_plain_urls(options, url, plain):
    settings = Settings(**options)
    assert (settings.url, settings.plain_url) == (url, plain)
    assert settings.entity_id == f"{url}/idp/metadata"
    assert settings.console_acs_url == f"{url}/aws/saml"
    assert settings.secure_cookies is url.startswith("https://")


def test_the_connect_proxy_turns_tls_on_from_the_environment_too():
    settings = Settings.from_env({"IDP_CONNECT_PROXY": "9080", "IDP_TLS_PORT": "9443"})
    assert settings.tls and settings.connect_proxy == 9080
    assert settings.url == "https://127.0.0.1:9443"
    assert Settings.from_env({"IDP_TLS": "yes"}).url == "https://127.0.0.1:8443"


@pytest.mark.parametrize(("options", "message"), [
    ({"tls": True, "port": 8443}, "must differ"),
    ({"connect_proxy": 8000}, "must differ"),
    ({"connect_proxy": 9443, "tls_port": 9443}, "must differ"),
    ({"connect_proxy": 9080, "workers": 2}, "one worker"),
    ({"tls": True, "workers": 3}, "one worker"),
    ({"tls": True, "tls_port": 65536}, "tls port must be 1..65535"),
    ({"connect_proxy": 0}, "connect proxy must be 1..65535"),
    ({"connect_proxy": -1}, "connect proxy must be 1..65535"),
])
def test_tls_mistakes_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**options)


def test_tls_port_of_a_plain_server_is_not_checked_against_the_port():
    """Without TLS the TLS port is unused, so it may equal the plain port."""
    assert Settings(port=8443).tls_port == 8443


@pytest.mark.parametrize("word", ["", "once", "always", "2", "aws,strict"])
def test_an_unknown_replay_protection_word_is_refused(word):
    with pytest.raises(ConfigError, match="must be aws, strict or off"):
        Settings(replay_protection=word)


# --- compat: in the directory file ---------------------------------------------------------------


def parse(text: str, source: str = "dir.yaml"):
    return parse_directory(text, aws_acs=AWS_ACS, source=source)


def test_the_demo_and_a_file_without_compat_enable_nothing(directory):
    assert directory.compat == frozenset()
    assert parse("users: {}\n").compat == frozenset()


@pytest.mark.parametrize(("text", "expected"), [
    ("compat: [okta, adfs]\n", {Vendor.OKTA, Vendor.ADFS}),
    ("compat:\n  - shibboleth\n  - ECP\n", {Vendor.SHIBBOLETH, Vendor.ECP}),
    ("compat: okta\n", {Vendor.OKTA}),
    ("compat: ' Adfs '\n", {Vendor.ADFS}),
    ("compat: [okta, okta]\n", {Vendor.OKTA}),
    ("compat: []\n", set()),
    ("compat: [okta, adfs, shibboleth, ecp]\n", ALL),
])
def test_compat_in_the_file(text, expected):
    assert parse(text).compat == frozenset(expected)


def test_compat_sits_beside_the_rest_of_a_directory():
    text = demo_yaml() + "\ncompat: [adfs]\n"
    directory = parse(text)
    assert directory.compat == {Vendor.ADFS}
    assert set(directory.users) == {"alice", "bob", "carol", "dave"}


def test_an_unknown_surface_in_the_file_names_file_and_line(tmp_path: Path):
    path = tmp_path / "directory.yaml"
    path.write_text("users:\n  bob:\n    password: pw\n    email: bob@corp.example\n"
                    "compat:\n  - okta\n  - saml2aws\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_directory(path, aws_acs=AWS_ACS)
    message = str(caught.value)
    assert message.startswith(f"{path}:5: unknown compat surface 'saml2aws'"), message
    assert "choose from okta, adfs, shibboleth, ecp" in message
    assert (caught.value.source, caught.value.line) == (str(path), 5)


def test_an_unknown_single_surface_in_the_file_names_its_line():
    with pytest.raises(ConfigError, match=r"^dir\.yaml:2: unknown compat surface 'okat'"):
        parse("users: {}\ncompat: okat\n")


@pytest.mark.parametrize(("text", "message"), [
    ("compat: {okta: true}\n", "compat must be a list"),
    ("compat: [[okta]]\n", "each entry of compat must be a single value"),
    ("compat: [okta, '']\n", "must not be empty"),
    ("compat: [okta]\ncompat: [adfs]\n", "duplicate key 'compat'"),
    ("kompat: [okta]\n", "unknown key 'kompat'"),
])
def test_malformed_compat_is_refused_with_its_line(text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse(text)
    assert caught.value.line is not None


def test_config_check_accepts_a_file_with_compat(tmp_path: Path, capsys):
    from idp.cli import main

    path = tmp_path / "directory.yaml"
    path.write_text(demo_yaml() + "\ncompat: okta\n", encoding="utf-8")
    assert main(["config", "--check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


# --- the running simulator: settings' compat plus the file's --------------------------------------


@pytest.fixture
def with_compat_file(tmp_path: Path):
    def make(compat_line: str | None) -> Path:
        path = tmp_path / "directory.yaml"
        path.write_text(demo_yaml() + (f"\n{compat_line}\n" if compat_line else ""),
                        encoding="utf-8")
        return path
    return make


@pytest.mark.parametrize(("setting", "line", "expected"), [
    (None, None, set()),
    ("okta", None, {Vendor.OKTA}),
    (None, "compat: [adfs, ecp]", {Vendor.ADFS, Vendor.ECP}),
    ("okta", "compat: [adfs]", {Vendor.OKTA, Vendor.ADFS}),
    ("okta,adfs", "compat: adfs", {Vendor.OKTA, Vendor.ADFS}),
    ("shibboleth", "compat: []", {Vendor.SHIBBOLETH}),
])
def test_the_services_serve_the_union(settings, clock, with_compat_file, setting, line,
                                      expected):
    runtime = Runtime(settings.with_overrides(compat=setting, config=with_compat_file(line)),
                      clock=SettableClock(source=clock))
    try:
        assert runtime.services.vendors == frozenset(expected)
    finally:
        runtime.close()


def test_the_union_outlives_directory_edits_and_reset(settings, clock, with_compat_file):
    runtime = Runtime(settings.with_overrides(compat="okta",
                                              config=with_compat_file("compat: [ecp]")),
                      clock=SettableClock(source=clock))
    try:
        runtime.edit(lambda document, _directory: document.without_user("dave"))
        assert "dave" not in runtime.directory.users
        assert runtime.services.vendors == {Vendor.OKTA, Vendor.ECP}
        runtime.reset()
        assert runtime.services.vendors == {Vendor.OKTA, Vendor.ECP}
    finally:
        runtime.close()


def test_the_demo_directory_serves_only_the_settings_surfaces(settings, clock):
    runtime = Runtime(settings.with_overrides(compat="ecp"), clock=SettableClock(source=clock))
    try:
        assert runtime.services.vendors == {Vendor.ECP}
    finally:
        runtime.close()
