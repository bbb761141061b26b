"""IAM Query-protocol XML (API version 2010-05-08), built with lxml.

The success envelope (IAM API Reference, "Making Query requests"; Smithy "AWS query
protocol")::

    <{Op}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
      <{Op}Result>…</{Op}Result>             (absent for operations without output)
      <ResponseMetadata><RequestId>uuid</RequestId></ResponseMetadata>
    </{Op}Response>

Lists are ``<Name><member>…</member></Name>``, booleans ``true``/``false``, timestamps ISO 8601
UTC, blobs base64. The ``ErrorResponse`` is ``idp.aws.wire.error_response``'s shape in this
namespace (``error_response`` here).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Final

from lxml import etree

from idp.aws.errors import AwsError
from idp.aws.iam.results import IamResult, Value

__all__ = ["IAM_NAMESPACE", "error_response", "response"]

IAM_NAMESPACE: Final = "https://iam.amazonaws.com/doc/2010-05-08/"
#: Characters XML 1.0 cannot carry; values may echo request input.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{IAM_NAMESPACE}}}{tag}")
    if text is not None:
        child.text = _NOT_XML.sub("\ufffd", text)
    return child


def _root(tag: str) -> etree._Element:
    return etree.Element(f"{{{IAM_NAMESPACE}}}{tag}",
                         nsmap={None: IAM_NAMESPACE})  # type: ignore[dict-item]


def _text(value: str | int | bool | dt.datetime | bytes) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _write(parent: etree._Element, tag: str, value: Value) -> None:
    if value is None:
        return
    element = _sub(parent, tag)
    if isinstance(value, dict):
        for name, member in value.items():
            _write(element, name, member)
    elif isinstance(value, list):
        for item in value:
            _write(element, "member", item)
    else:
        element.text = _NOT_XML.sub("\ufffd", _text(value))


def response(result: IamResult, request_id: str) -> bytes:
    """The ``{Op}Response`` document for a successful call."""
    root = _root(f"{result.action}Response")
    if result.body is not None:
        _write(root, f"{result.action}Result", result.body)
    metadata = _sub(root, "ResponseMetadata")
    _sub(metadata, "RequestId", request_id)
    return etree.tostring(root, encoding="utf-8")


def error_response(err: AwsError, request_id: str) -> bytes:
    """The ``ErrorResponse`` document; send it with ``err.http_status``."""
    root = _root("ErrorResponse")
    error = _sub(root, "Error")
    _sub(error, "Type", err.fault_type)
    _sub(error, "Code", err.code)
    _sub(error, "Message", err.message)
    _sub(root, "RequestId", request_id)
    return etree.tostring(root, encoding="utf-8")
