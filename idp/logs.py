"""Log lines that say what happened and cannot be forged: one event, one line.

Refusals are logged with what the client sent (a StatusMessage, a path, a form value). A value
with a line break would print a second line that looks like the server's own (CWE-117,
"Improper Output Neutralization for Logs"), so ``OneLineFormatter`` escapes control characters
in the message; a traceback attached with ``log.exception`` keeps its lines.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["OneLineFormatter", "one_line"]

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every control character (CR, LF, tab, ESC...) as a visible escape."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


class OneLineFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose message part is always a single line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)
