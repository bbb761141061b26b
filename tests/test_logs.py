"""``idp.logs``: one event, one log line, whatever the client sent."""

from __future__ import annotations

import logging
import sys

import pytest

from idp.logs import OneLineFormatter, one_line


@pytest.mark.parametrize(("sent", "logged"), [
    ("a\nFAKE LINE", "a\\nFAKE LINE"),
    ("\r\t\x1b[31m", "\\r\\t\\x1b[31m"),
    ("\x9b31m\x85", "\\x9b31m\\x85"),  # C1 controls: CSI, NEL
    ("\u2028\u2029", "\\u2028\\u2029"),  # Unicode line and paragraph separators
    ("abc\u202edef\u2066", "abc\\u202edef\\u2066"),  # bidirectional overrides and isolates
    ("lit\\nINFO", "lit\\\\nINFO"),  # a sent backslash-n is not a sent newline
    ("é, ü, 日本", "é, ü, 日本"),  # ordinary text stays readable
])
def test_what_a_client_sent_is_one_visible_line(sent, logged):
    assert one_line(sent) == logged


def test_the_formatter_keeps_a_forged_line_on_the_real_one():
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("idp.console", logging.INFO, __file__, 1,
                               "refused: %s", ("x\nINFO idp.console: console sign-in accepted",),
                               None)
    line = formatter.format(record)
    assert "\n" not in line
    assert line.endswith("x\\nINFO idp.console: console sign-in accepted")


def test_a_traceback_keeps_its_lines_each_marked():
    """Even an exception whose message holds a line break cannot print a bare log line."""
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError("bad 'x\nINFO idp.console: console sign-in accepted for admin'")
    except ValueError:
        record = logging.LogRecord("idp", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    first, *rest = formatter.format(record).splitlines()
    assert first == "ERROR idp: failed"
    assert rest[0] == "| Traceback (most recent call last):"
    assert all(line.startswith("| ") for line in rest)
    assert "| INFO idp.console: console sign-in accepted for admin'" in rest
