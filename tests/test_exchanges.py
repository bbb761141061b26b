"""The exchange log: bounded, clipped, attributed to the user a Response was sent for, and
the trace of checks behind each console / STS decision."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from idp.clock import FixedClock
from idp.errors import Rule
from idp.exchanges import (
    _MAX_REMEMBERED,
    MAX_MESSAGE_BYTES,
    Check,
    Exchange,
    ExchangeKind,
    ExchangeLog,
    Outcome,
    checks_before,
    decode_message,
)

AT = dt.datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=dt.UTC)
AWS = "urn:amazon:webservices"
RESPONSE = b"<samlp:Response ID='r1'/>"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def log(clock: FixedClock) -> ExchangeLog:
    return ExchangeLog(clock)


def sent(log: ExchangeLog, message: bytes, user: str | None = "alice") -> Exchange:
    return log.record(ExchangeKind.RESPONSE, Outcome.SENT, message=message, user=user, sp=AWS)


# --- recording ------------------------------------------------------------------------------


def test_an_entry_keeps_what_it_was_given_and_the_clocks_time(log, clock):
    entry = log.record(ExchangeKind.RESPONSE, Outcome.SENT, message=RESPONSE, user="alice",
                       sp=AWS, fault="expired", facts={"role": "Admin"})
    assert entry == Exchange(id=1, at=AT, kind=ExchangeKind.RESPONSE, outcome=Outcome.SENT,
                             user="alice", sp=AWS, message=RESPONSE.decode(), fault="expired",
                             facts={"role": "Admin"})
    clock.advance(5)
    assert log.record(ExchangeKind.STS, Outcome.ACCEPTED).at == AT + dt.timedelta(seconds=5)


def test_facts_are_copied(log):
    facts = {"role": "Admin"}
    entry = log.record(ExchangeKind.STS, Outcome.ACCEPTED, facts=facts)
    facts["role"] = "changed"
    assert entry.facts == {"role": "Admin"}


def test_ids_increase_and_are_never_reused_after_clear(log):
    ids = [log.record(ExchangeKind.CONSOLE, Outcome.ACCEPTED).id for _ in range(3)]
    assert ids == [1, 2, 3]
    log.clear()
    assert log.entries() == []
    assert log.record(ExchangeKind.CONSOLE, Outcome.ACCEPTED).id == 4


def test_capacity_keeps_the_newest_entries_oldest_first(clock):
    log = ExchangeLog(clock, capacity=3)
    for n in range(5):
        log.record(ExchangeKind.STS, Outcome.ACCEPTED, detail=str(n))
    assert [e.detail for e in log.entries()] == ["2", "3", "4"]
    assert [e.id for e in log.entries()] == [3, 4, 5]


def test_the_default_capacity_is_a_thousand(log):
    for _ in range(1001):
        log.record(ExchangeKind.STS, Outcome.ACCEPTED)
    entries = log.entries()
    assert len(entries) == 1000 and entries[0].id == 2


def test_a_message_at_the_limit_is_kept_whole(log):
    message = b"x" * MAX_MESSAGE_BYTES
    assert log.record(ExchangeKind.RESPONSE, Outcome.SENT, message=message).message == \
        message.decode()


def test_a_longer_message_is_clipped_and_says_how_much_was_cut(log):
    message = b"y" * (MAX_MESSAGE_BYTES + 10)
    text = log.record(ExchangeKind.RESPONSE, Outcome.SENT, message=message).message
    assert text == "y" * MAX_MESSAGE_BYTES + "... (10 more bytes)"


def test_a_message_that_is_not_utf8_is_kept_with_replacement_characters(log):
    entry = log.record(ExchangeKind.CONSOLE, Outcome.REFUSED, message=b"\xff<x/>")
    assert entry.message == "\ufffd<x/>"


def test_no_message_is_none(log):
    assert log.record(ExchangeKind.STS, Outcome.ACCEPTED).message is None


# --- attribution ----------------------------------------------------------------------------


def test_a_decision_on_the_bytes_that_were_sent_names_their_user(log):
    sent(log, RESPONSE, "alice")
    decision = log.decision(ExchangeKind.STS, message=RESPONSE)
    assert decision.user == "alice"
    received = log.record(ExchangeKind.CONSOLE, Outcome.RECEIVED, message=RESPONSE)
    assert received.user == "alice"


def test_a_decision_on_other_bytes_names_nobody(log):
    sent(log, RESPONSE, "alice")
    assert log.decision(ExchangeKind.STS, message=RESPONSE + b" ").user is None
    assert log.decision(ExchangeKind.STS, message=None).user is None


def test_an_explicit_user_is_kept(log):
    sent(log, RESPONSE, "alice")
    entry = log.record(ExchangeKind.CONSOLE, Outcome.RECEIVED, message=RESPONSE, user="bob")
    assert entry.user == "bob"


def test_the_same_bytes_sent_again_for_another_user_name_the_latest(log):
    sent(log, RESPONSE, "alice")
    sent(log, RESPONSE, "bob")
    assert log.decision(ExchangeKind.CONSOLE, message=RESPONSE).user == "bob"


def test_a_message_sent_without_a_user_is_attributed_like_a_received_one(log):
    sent(log, RESPONSE, "alice")
    assert sent(log, RESPONSE, user=None).user == "alice"


def test_only_the_newest_senders_are_remembered(log):
    sent(log, b"first", "alice")
    sent(log, b"second", "bob")
    for n in range(_MAX_REMEMBERED - 2):
        sent(log, b"filler %d" % n, "carol")
    sent(log, b"first", "alice")  # sent again: now the newest
    sent(log, b"one more", "carol")  # pushes out the oldest remembered: "second"
    assert log.decision(ExchangeKind.STS, message=b"first").user == "alice"
    assert log.decision(ExchangeKind.STS, message=b"second").user is None
    assert log.decision(ExchangeKind.STS, message=b"filler 0").user == "carol"


def test_clear_forgets_the_senders_too(log):
    sent(log, RESPONSE, "alice")
    log.clear()
    assert log.decision(ExchangeKind.STS, message=RESPONSE).user is None


# --- filters --------------------------------------------------------------------------------


def test_entries_filter_by_user_and_kind(log):
    sent(log, b"a", "alice")
    sent(log, b"b", "bob")
    log.decision(ExchangeKind.STS, message=b"a")
    log.decision(ExchangeKind.CONSOLE, message=b"b", rule=Rule.AUDIENCE.value)
    log.record(ExchangeKind.AUTHN_REQUEST, Outcome.RECEIVED, message=b"<AuthnRequest/>")
    assert [e.id for e in log.entries(user="alice")] == [1, 3]
    assert [e.id for e in log.entries(kind="response")] == [1, 2]
    assert [e.id for e in log.entries(kind=ExchangeKind.CONSOLE)] == [4]
    assert [e.id for e in log.entries(user="bob", kind="console")] == [4]
    assert log.entries(user="bob", kind="sts") == []
    assert log.entries(user="nobody") == []
    assert [e.id for e in log.entries()] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("kind", ["responses", "STS", "", "decision"])
def test_an_unknown_kind_is_a_value_error(log, kind):
    with pytest.raises(ValueError, match="unknown exchange kind") as caught:
        log.entries(kind=kind)
    assert "authn-request, response, console, sts" in str(caught.value)


def test_entries_is_a_copy(log):
    log.record(ExchangeKind.STS, Outcome.ACCEPTED)
    log.entries().clear()
    assert len(log.entries()) == 1


# --- decisions and their traces -------------------------------------------------------------


def test_an_accepted_decision_passed_every_check(log):
    entry = log.decision(ExchangeKind.STS, message=RESPONSE, facts={"role": "ReadOnly"})
    assert entry.outcome is Outcome.ACCEPTED and entry.accepted
    assert entry.rule is None and entry.detail is None
    assert entry.checks == checks_before(None)
    assert all(check.passed for check in entry.checks)
    assert entry.facts == {"role": "ReadOnly"}


def test_a_refused_decision_names_the_rule_and_what_was_found(log):
    entry = log.decision(ExchangeKind.CONSOLE, message=RESPONSE, rule="audience",
                         found="no accepted audience (found: https://other)")
    assert entry.outcome is Outcome.REFUSED and not entry.accepted
    assert entry.rule == "audience"
    assert entry.detail == "no accepted audience (found: https://other)"
    assert entry.checks[-1] == Check("audience", False, "no accepted audience "
                                     "(found: https://other)")
    assert all(check.passed for check in entry.checks[:-1])


def test_checks_before_lists_every_earlier_rule_as_passed():
    every = [check.rule for check in checks_before(None)]
    assert every[0] == Rule.SAML_RESPONSE.value and every[-1] == Rule.TRUST_POLICY.value
    assert len(every) == len(set(every))
    trace = checks_before(Rule.SIGNATURE_INVALID.value, "digest mismatch")
    assert [c.rule for c in trace] == every[:every.index("signature-invalid") + 1]
    assert trace[-1] == Check("signature-invalid", False, "digest mismatch")


def test_checks_before_the_first_rule_is_that_rule_alone():
    assert checks_before(Rule.SAML_RESPONSE.value) == (Check("saml-response", False),)


def test_checks_before_a_rule_outside_the_order_is_that_rule_alone():
    assert checks_before("MissingParameter", "no RoleArn") == (
        Check("MissingParameter", False, "no RoleArn"),)


def test_the_console_reads_the_role_attribute_before_any_signature_check():
    """A console refusal at role-attribute claims no signature check passed (none ran)."""
    trace = checks_before(Rule.ROLE_ATTRIBUTE.value, kind=ExchangeKind.CONSOLE)
    passed = [check.rule for check in trace if check.passed]
    assert passed == ["form", "saml-response", "base64", "xml", "status"]
    sts = [check.rule for check in checks_before(None)]
    assert "role-choice" not in sts and sts.index("provider") < sts.index("xml")


def test_the_trace_orders_not_yet_valid_before_expired_as_the_verifier_checks():
    every = [check.rule for check in checks_before(None)]
    assert every.index("not-yet-valid") < every.index("expired")


# --- JSON and decoding ----------------------------------------------------------------------


def test_to_json_shape(log):
    entry = log.decision(ExchangeKind.STS, message=RESPONSE, rule="replay", found="seen",
                         facts={"code": "InvalidIdentityToken"})
    data = entry.to_json()
    assert list(data) == ["id", "at", "kind", "outcome", "user", "sp", "rule", "detail",
                          "fault", "facts", "checks", "message"]
    assert data["at"] == "2026-01-15T12:00:00.123Z"
    assert (data["kind"], data["outcome"], data["rule"], data["detail"]) == \
        ("sts", "refused", "replay", "seen")
    assert data["facts"] == {"code": "InvalidIdentityToken"}
    assert data["checks"][-1] == {"rule": "replay", "passed": False, "found": "seen"}
    assert data["checks"][0] == {"rule": "saml-response", "passed": True, "found": None}
    assert data["message"] == RESPONSE.decode()
    assert (data["user"], data["sp"], data["fault"]) == (None, None, None)


def test_decode_message():
    encoded = base64.b64encode(RESPONSE).decode()
    assert decode_message(encoded) == RESPONSE
    assert decode_message(encoded.encode()) == RESPONSE
    assert decode_message(encoded[:20] + "\r\n" + encoded[20:]) == RESPONSE  # wrapped lines
    assert decode_message(None) is None


@pytest.mark.parametrize("junk", ["abc", "A", "QUJD=x"])
def test_decode_message_on_badly_padded_base64_is_none(junk):
    assert decode_message(junk) is None


@pytest.mark.parametrize("junk", ["%%%%", "!!", "<xml/>"])
def test_decode_message_on_text_that_is_not_base64_is_none(junk):
    assert decode_message(junk) is None


def test_clipping_counts_bytes_so_wide_characters_cannot_grow_the_log(log):
    """An emoji is 4 bytes: 64 K of them are clipped at the byte limit, on a character edge."""
    text = log.record(ExchangeKind.STS, Outcome.REFUSED, message="😀".encode() * 65536).message
    assert text is not None
    kept = text.split("...")[0]
    assert len(kept.encode()) <= MAX_MESSAGE_BYTES and "\ufffd" not in kept
    assert text.endswith(f"({65536 * 4 - len(kept.encode())} more bytes)")
