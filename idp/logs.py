"""Log lines that say what happened and cannot be forged: one event, one line.

Refusals are logged with what the client sent (a StatusMessage, a path, a form value). A value
with a line break would print a second line that looks like the server's own (CWE-117,
"Improper Output Neutralization for Logs"), so ``OneLineFormatter`` escapes control characters
in the message (C0 and C1 controls, Unicode line separators, bidirectional overrides, and the
backslash itself, so an escape cannot be faked either); a traceback attached with
``log.exception`` keeps its lines, each marked with ``| `` so that none reads as a log line of
its own, whatever the exception's message holds.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

__all__ = ["OneLineFormatter", "one_line"]

_UNSAFE: Final = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED: Final = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` with every control character (CR, LF, tab, ESC...), Unicode line separator
    and bidirectional override as a visible escape, and ``\\`` doubled."""
    return _UNSAFE.sub(_escape, text)


class OneLineFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose message part is always a single line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return "\n".join("| " + line for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join("| " + line for line in super().formatStack(stack_info).splitlines())
