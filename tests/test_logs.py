"""``idp.logs``: one event, one log line, whatever the client sent."""

from __future__ import annotations

import logging

from idp.logs import OneLineFormatter, one_line


def test_control_characters_become_visible_escapes():
    assert one_line("a\nFAKE LINE\r\x1b[31m\u2028é") == "a\\nFAKE LINE\\r\\x1b[31m\\u2028é"


def test_the_formatter_keeps_a_forged_line_on_the_real_one():
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("idp.console", logging.INFO, __file__, 1,
                               "refused: %s", ("x\nINFO idp.console: console sign-in accepted",),
                               None)
    line = formatter.format(record)
    assert "\n" not in line
    assert line.endswith("x\\nINFO idp.console: console sign-in accepted")


def test_a_traceback_keeps_its_lines():
    formatter = OneLineFormatter("%(message)s")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("idp", logging.ERROR, __file__, 1, "failed\nhere", (),
                                   sys.exc_info())
    text = formatter.format(record)
    assert text.startswith("failed\\nhere\nTraceback")
