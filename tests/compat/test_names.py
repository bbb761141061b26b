"""``idp.compat.names``: the user names AD FS and Okta login pages accept, mapped to the
directory's users (and left as typed, stripped, when they name nobody)."""

from __future__ import annotations

import pytest

from idp.compat.names import MAX_NAME_CHARS, directory_name
from tests.support.demo import edited_demo


@pytest.mark.parametrize("raw", [
    "bob",
    "  bob\t",
    "CORP\\bob",
    "corp.example\\bob",
    "A\\B\\bob",  # DOMAIN\user: only the last segment is the user
    "bob@corp.example",  # the user's email
    "BOB@Corp.Example",  # emails compare case-insensitively
    "  bob@corp.example  ",
    "bob@CORP",  # a user principal name: the domain is not checked
    "bob@some.other.example",
])
def test_every_accepted_spelling_names_bob(directory, raw):
    assert directory_name(directory, raw) == "bob"


@pytest.mark.parametrize("raw", [
    "mallory",
    "mallory@corp.example",
    "@corp.example",  # no local part
    "CORP\\mallory",
    "CORP\\",
])
def test_a_name_of_nobody_comes_back_as_typed_but_stripped(directory, raw):
    """An unknown name is passed on as typed (it then fails the password check like any
    other), not as some part of it."""
    assert directory_name(directory, f"  {raw}\n") == raw


def test_user_names_are_case_sensitive_outside_emails(directory):
    """``BOB`` is not a directory user name; only the email compares without case."""
    assert directory_name(directory, "BOB") == "BOB"
    assert directory_name(directory, "BOB@CORP.EXAMPLE") == "bob"


def test_a_directory_user_name_wins_over_any_reading_of_it():
    """A user literally called ``CORP\\svc`` or ``svc@corp.example`` is that user."""
    def edit(data):
        data["users"]["CORP\\svc"] = {"password": "pw", "email": "svc1@corp.example"}
        data["users"]["svc@corp.example"] = {"password": "pw", "email": "svc2@corp.example"}
        data["users"]["svc"] = {"password": "pw", "email": "svc3@corp.example"}

    directory = edited_demo(edit)
    assert directory_name(directory, "CORP\\svc") == "CORP\\svc"
    assert directory_name(directory, "svc@corp.example") == "svc@corp.example"
    assert directory_name(directory, "OTHER\\svc") == "svc"
    assert directory_name(directory, "svc3@corp.example") == "svc"


def test_an_email_names_its_owner_before_a_user_of_that_local_part():
    """alice's email is ``bob@corp.example``: that is alice, not the UPN of bob; a UPN with
    another domain still names bob."""
    def edit(data):
        data["users"]["alice"]["email"] = "bob@corp.example"
        data["users"]["bob"]["email"] = "robert@corp.example"

    directory = edited_demo(edit)
    assert directory_name(directory, "bob@corp.example") == "alice"
    assert directory_name(directory, "ROBERT@corp.example") == "bob"
    assert directory_name(directory, "bob@CORP") == "bob"
    assert directory_name(directory, "alice@corp.example") == "alice"  # as a UPN now


def test_an_email_two_users_share_names_neither_by_email():
    """``team@corp.example`` belongs to bob and dave: it is nobody's (a UPN at most)."""
    def edit(data):
        data["users"]["bob"]["email"] = "team@corp.example"
        data["users"]["dave"]["email"] = "TEAM@corp.example"

    directory = edited_demo(edit)
    assert directory_name(directory, "team@corp.example") == "team@corp.example"
    assert directory_name(directory, "bob@corp.example") == "bob"  # bob's UPN still works


def test_an_overlong_name_never_names_a_user(directory):
    """Names longer than ``MAX_NAME_CHARS`` are refused before any lookup: even if their
    first 256 characters would read as bob's UPN, they are nobody."""
    upn = "bob@" + "x" * MAX_NAME_CHARS
    assert directory_name(directory, upn) != "bob"
    down_level = "CORP\\bob" + " " * MAX_NAME_CHARS + "!"
    assert directory_name(directory, down_level) != "bob"


def test_a_name_of_exactly_the_limit_is_looked_up(directory):
    upn = "bob@" + "x" * (MAX_NAME_CHARS - 4)
    assert len(upn) == MAX_NAME_CHARS
    assert directory_name(directory, upn) == "bob"

