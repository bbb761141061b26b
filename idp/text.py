"""Checks on text decoded from JSON, shared by the JSON APIs (the admin API, Okta's).

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``, RFC 8259 §8.2); Python decodes it to a
``str`` that no UTF-8 encoder takes, so it could not be written to YAML, hashed as a password
or logged. Such a body is refused where it is read.
"""

from __future__ import annotations

__all__ = ["has_lone_surrogate"]


def has_lone_surrogate(value: object) -> bool:
    """Whether any string in ``value`` (decoded JSON: keys and values, at any depth) holds an
    unpaired surrogate. Iterative: a document nested as deep as the JSON parser allows does
    not exhaust the stack here."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
