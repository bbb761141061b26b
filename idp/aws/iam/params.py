"""The IAM API's Query parameters: strings in, checked values out, AWS's words on failure.

Constraints are those of the input shapes in botocore's ``iam/2010-05-08/service-2.json``
(``userNameType`` 1-64 ``[\\w+=,.@-]+``, ``pathType``, ``maxItemsType`` 1-1000, …). A broken
constraint is IAM's ``ValidationError`` (400) worded as AWS words it (the field in
lowerCamelCase)::

    1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint:
    Member must satisfy regular expression pattern: [\\w+=,.@-]+

A missing required member reads ``Value null at 'userName' failed to satisfy constraint:
Member must not be null``. Lists arrive as ``X.member.N`` (an empty list as ``X=``), tags as
``Tags.member.N.Key``/``.Value`` (Smithy "AWS query protocol", list and structure
serialization).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from idp.aws.errors import ValidationError
from idp.aws.vocabulary import SEPARATORS

__all__ = ["SHAPES", "Constraint", "Params"]


@dataclass(frozen=True)
class Constraint:
    """A string shape of the model: length bounds and an optional pattern."""

    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    sensitive: bool = False
    """Never echoed in a message (``passwordType`` is ``sensitive`` in the model)."""

    python: str | None = None
    """The pattern as Python reads it, where the model's (Java) spelling differs."""

    def regex(self) -> re.Pattern[str] | None:
        if self.python is not None:
            return _compiled(self.python, 0)
        # Java's \w is ASCII: [a-zA-Z0-9_].
        return _compiled(self.pattern, re.ASCII) if self.pattern is not None else None


@lru_cache(maxsize=64)
def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_NAME: Final = r"[\w+=,.@-]+"
#: The string shapes the operations read (botocore IAM model).
SHAPES: Final[dict[str, Constraint]] = {
    "userNameType": Constraint(1, 64, _NAME),
    "existingUserNameType": Constraint(1, 128, _NAME),
    "roleNameType": Constraint(1, 64, _NAME),
    "groupNameType": Constraint(1, 128, _NAME),
    "policyNameType": Constraint(1, 128, _NAME),
    "pathType": Constraint(1, 512, r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"),
    "pathPrefixType": Constraint(1, 512, r"\u002F[\u0021-\u007F]*"),
    "markerType": Constraint(1, 320, r"[\u0020-\u00FF]+"),
    "SAMLProviderNameType": Constraint(1, 128, r"[\w._-]+"),
    "SAMLMetadataDocumentType": Constraint(1000, 10_000_000),
    "OpenIDConnectProviderUrlType": Constraint(1, 255),
    "clientIDType": Constraint(1, 255),
    "thumbprintType": Constraint(40, 40),
    "arnType": Constraint(20, 2048),
    "accessKeyIdType": Constraint(16, 128, r"[\w]+"),
    "serialNumberType": Constraint(9, 256, r"[\w+=/:,.@-]+"),
    "authenticationCodeType": Constraint(6, 6, r"[\d]+"),
    "virtualMFADeviceName": Constraint(1, None, _NAME),
    "accountAliasType": Constraint(3, 63, r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$"),
    "passwordType": Constraint(1, 128, r"[\u0009\u000A\u000D\u0020-\u00FF]+",
                               sensitive=True),
    "roleDescriptionType": Constraint(None, 1000,
                                      r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*"),
    "policyDocumentType": Constraint(1, 131072, r"[\u0009\u000A\u000D\u0020-\u00FF]+"),
    # \p{L}\p{Z}\p{N}: letters, separators, digits (Unicode \w is letters, digits and _).
    "tagKeyType": Constraint(1, 128, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+",
                             python=f"[\\w{SEPARATORS}.:/=+\\-@]+"),
    "tagValueType": Constraint(0, 256, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*",
                               python=f"[\\w{SEPARATORS}.:/=+\\-@]*"),
    "statusType": Constraint(enum=("Active", "Inactive", "Expired")),
    "assignmentStatusType": Constraint(enum=("Assigned", "Unassigned", "Any")),
}

#: Integers (``maxItemsType``, ``roleMaxSessionDurationType``): (min, max).
INTEGERS: Final[dict[str, tuple[int, int]]] = {
    "maxItemsType": (1, 1000),
    "roleMaxSessionDurationType": (3600, 43200),
}

_WHOLE: Final = re.compile(r"[+-]?[0-9]{1,18}")
#: Where a value is echoed in a message it is cut here (the whole 10 MB document is not).
_ECHO: Final = 256
_TAGS_MAX: Final = 50


def _field(member: str) -> str:
    """The member's name as AWS's validation messages spell it (lowerCamelCase)."""
    leading = re.match(r"[A-Z]+", member)
    if leading is None:
        return member
    run = leading.group(0)
    # "SAMLMetadataDocument" -> "sAMLMetadataDocument" (only the first letter is lowered,
    # as botocore-generated Java models do).
    return run[0].lower() + member[1:] if run else member


def _echo(value: str) -> str:
    return value if len(value) <= _ECHO else value[:_ECHO] + "…"


def _fail(value: str | None, where: str, constraint: str, *,
             sensitive: bool = False) -> ValidationError:
    shown = "null " if value is None else "" if sensitive else f"'{_echo(value)}' "
    return ValidationError(f"1 validation error detected: Value {shown}at '{where}' failed to "
                           f"satisfy constraint: {constraint}")


def check(value: str, shape: str, where: str) -> str:
    """``value`` if it satisfies the string shape ``shape``; else AWS's ``ValidationError``."""
    rule = SHAPES[shape]

    def _failure(value: str | None, where: str, constraint: str) -> ValidationError:
        return _fail(value, where, constraint, sensitive=rule.sensitive)

    if rule.enum:
        if value not in rule.enum:
            raise _failure(value, where,
                           f"Member must satisfy enum value set: [{', '.join(rule.enum)}]")
        return value
    if rule.min is not None and len(value) < rule.min:
        raise _failure(value, where,
                       f"Member must have length greater than or equal to {rule.min}")
    if rule.max is not None and len(value) > rule.max:
        raise _failure(value, where, f"Member must have length less than or equal to {rule.max}")
    regex = rule.regex()
    if regex is not None and regex.fullmatch(value) is None:
        raise _failure(value, where,
                       f"Member must satisfy regular expression pattern: {rule.pattern}")
    return value


class Params:
    """One request's parameters (the first value of each name, as the route read them)."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def optional(self, name: str, shape: str) -> str | None:
        """The member if sent, checked; ``None`` if absent."""
        value = self.raw.get(name)
        if value is None:
            return None
        return check(value, shape, _field(name))

    def required(self, name: str, shape: str) -> str:
        value = self.raw.get(name)
        if value is None:
            raise _fail(None, _field(name), "Member must not be null")
        return check(value, shape, _field(name))

    def integer(self, name: str, shape: str) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        where = _field(name)
        if _WHOLE.fullmatch(value.strip()) is None:
            raise ValidationError(f"1 validation error detected: Value '{_echo(value)}' at "
                                  f"'{where}' failed to satisfy constraint: Member must be an "
                                  "integer")
        number = int(value)
        low, high = INTEGERS[shape]
        if number < low:
            raise _fail(str(number), where,
                           f"Member must have value greater than or equal to {low}")
        if number > high:
            raise _fail(str(number), where,
                           f"Member must have value less than or equal to {high}")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValidationError(f"1 validation error detected: Value '{_echo(value)}' at "
                              f"'{_field(name)}' failed to satisfy constraint: Member must be "
                              "a boolean")

    def string_list(self, name: str, shape: str, *, max_items: int = _TAGS_MAX,
                    required: bool = False) -> tuple[str, ...]:
        """``X.member.1``, ``X.member.2``, … (in order, without gaps); ``X=`` is empty."""
        values: list[str] = []
        while (value := self.raw.get(f"{name}.member.{len(values) + 1}")) is not None:
            values.append(value)
            if len(values) > max_items:
                break
        where = _field(name)
        if not values and required and name not in self.raw:
            raise _fail(None, where, "Member must not be null")
        if len(values) > max_items:
            raise ValidationError(f"1 validation error detected: Value at '{where}' failed to "
                                  "satisfy constraint: Member must have length less than or "
                                  f"equal to {max_items}")
        return tuple(check(v, shape, f"{where}.{i}.member")
                     for i, v in enumerate(values, start=1))

    def tags(self, name: str = "Tags", *, required: bool = False
             ) -> tuple[tuple[str, str], ...]:
        """``Tags.member.N.Key`` / ``.Value`` pairs, at most 50."""
        pairs: list[tuple[str, str]] = []
        while True:
            index = len(pairs) + 1
            key = self.raw.get(f"{name}.member.{index}.Key")
            value = self.raw.get(f"{name}.member.{index}.Value")
            if key is None and value is None:
                break
            where = f"tags.{index}.member"
            if key is None:
                raise _fail(None, f"{where}.key", "Member must not be null")
            if value is None:
                raise _fail(None, f"{where}.value", "Member must not be null")
            pairs.append((check(key, "tagKeyType", f"{where}.key"),
                          check(value, "tagValueType", f"{where}.value")))
            if len(pairs) > _TAGS_MAX:
                raise ValidationError(
                    "1 validation error detected: Value at 'tags' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {_TAGS_MAX}")
        if not pairs and required and name not in self.raw:
            raise _fail(None, "tags", "Member must not be null")
        return tuple(pairs)

    def paging(self) -> tuple[str | None, int]:
        """``Marker`` and ``MaxItems`` (default 100)."""
        marker = self.optional("Marker", "markerType")
        items = self.integer("MaxItems", "maxItemsType")
        return marker, 100 if items is None else items
