"""The instance metadata twin's protocol: IMDSv2 session tokens, the paths, the answers.

Served per instance under ``/imds/INSTANCE_ID/`` (``idp.web.imds_routes``), so
``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:8000/imds/i-0123456789abcdef0`` points
an unmodified SDK at one instance (botocore appends ``latest/...`` to that base). Behaviour
follows the EC2 User Guide ("Use the Instance Metadata Service to access instance metadata",
"Retrieve instance metadata", "Instance metadata categories", "Retrieve security credentials
from instance metadata", "Instance identity documents") and what botocore's
``IMDSFetcher``/``InstanceMetadataFetcher`` (``utils.py``) send and expect:

* ``PUT latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` 1-21600 answers a
  session token (``text/plain``, the TTL echoed in the same header). A missing or bad TTL is
  400 (botocore then gives up on the instance), a PUT carrying ``X-Forwarded-For`` is 403
  (IMDS refuses proxied token requests), a versioned token path (``2021-03-23/api/token``) is
  403 and any other PUT 405 (for those three botocore falls back to IMDSv1).
* Tokens are stateless: ``base64(version || issued || expires || nonce || HMAC)``, the MAC
  over those and the instance ID with a key derived from the simulator's secret. A token is
  valid for its instance only, from its issue time (moving the clock back before it makes it
  invalid) until its TTL runs out on the simulator's clock.
* GETs (and HEADs): a present token must be valid, else 401 (whatever the mode); without a
  token, 401 when the instance has ``http_tokens: required``, served when ``optional``
  (IMDSv1). A 401 is final for botocore: it retries, never asks for a new token.
* Paths: ``latest/`` (or a dated version such as ``2021-03-23/``), ``meta-data/`` and its
  listing, ``ami-id``, ``instance-id``, ``instance-type``, ``local-ipv4``,
  ``placement/availability-zone``, ``placement/region``, ``iam/info``,
  ``iam/security-credentials/`` (exactly the role name, no newline: botocore reads the whole
  body as the name), ``iam/security-credentials/ROLE`` and
  ``dynamic/instance-identity/document``. Listings are newline-separated, directories end in
  ``/``. An instance without a role has no ``iam/``. Anything else, and an unknown instance,
  is 404 with IMDS's HTML error body; methods other than GET, HEAD and PUT are 405.
* Credentials are AWS's document (``Code``, ``LastUpdated``, ``Type`` ``AWS-HMAC``,
  ``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration``), pretty-printed as IMDS
  prints it. When EC2 may not assume the role (``idp.aws.workloads``) the answer is still 200,
  ``{"Code": "AssumeRoleUnauthorizedAccess", "Message": "EC2 cannot assume the role ...",
  "LastUpdated": ...}``: botocore finds the credential fields missing and reports no
  credentials.

The hop limit. EC2 sends the token PUT's response with an IP TTL of the instance's
``HttpPutResponseHopLimit``; a caller further away (a container on bridge networking is one
hop more) never receives it. The twin models it with the instance's ``hops``: when ``hops >
hop_limit`` the PUT's answer is ``dropped`` and the route holds the request, answering
nothing, until the client gives up (botocore: ``AWS_METADATA_SERVICE_TIMEOUT``, 1 s by
default, then IMDSv1, which ``http_tokens: required`` refuses with 401). A held request is
released after ``HOLD_SECONDS`` with the 403 botocore also treats as "no token", so no
connection is held for long. The GET answers are not limited (the hop limit is only on PUT
responses).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import struct
from dataclasses import dataclass, field, replace
from typing import Final

from idp.aws.workloads import Issued, Refused, Workloads, aws_time
from idp.directory.model import Instance

__all__ = [
    "HOLD_SECONDS",
    "MAX_TTL_SECONDS",
    "TOKEN_HEADER",
    "TTL_HEADER",
    "MetadataAnswer",
    "MetadataRequest",
    "MetadataService",
    "unauthorized_message",
]

TOKEN_HEADER: Final = "X-aws-ec2-metadata-token"  # noqa: S105 (a header name)
TTL_HEADER: Final = "X-aws-ec2-metadata-token-ttl-seconds"
MIN_TTL_SECONDS: Final = 1
MAX_TTL_SECONDS: Final = 21_600
#: How long a PUT whose answer the hop limit drops is held before it is released.
HOLD_SECONDS: Final = 3.0
#: Longer paths, tokens and TTL values are refused unread.
MAX_PATH_CHARS: Final = 1024
MAX_TOKEN_CHARS: Final = 128
MAX_TTL_CHARS: Final = 16

_TOKEN_VERSION: Final = 1
_TOKEN_FIXED: Final = struct.Struct(">BQQ8s")  # version, issued, expires, nonce
_TAG_BYTES: Final = 32
_TOKEN_BYTES: Final = _TOKEN_FIXED.size + _TAG_BYTES
_VERSION_RE: Final = re.compile(r"latest|1\.0|\d{4}-\d{2}-\d{2}", re.ASCII)
_DIGITS_RE: Final = re.compile(r"[0-9]{1,10}", re.ASCII)
_TOKEN_PATH: Final = "latest/api/token"  # noqa: S105 (a path)
_TROUBLESHOOTING: Final = ("Please see documentation at "
                           "http://docs.amazonwebservices.com/IAM/latest/UserGuide/"
                           "RolesTroubleshooting.html.")
_REASONS: Final = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                   404: "Not Found", 405: "Method Not Allowed"}
_ALLOW_ALL: Final = (("Allow", "GET, HEAD, PUT"),)


def unauthorized_message(role: str) -> str:
    """IMDS's message when EC2 cannot assume the instance profile's role (two spaces)."""
    return f"EC2 cannot assume the role {role}.  {_TROUBLESHOOTING}"


@dataclass(frozen=True)
class MetadataRequest:
    """What of an HTTP request the metadata service reads."""

    method: str
    path: str
    """The path after ``/imds/INSTANCE_ID/`` (``latest/meta-data/``), percent-decoded."""
    token: str | None = None
    """``X-aws-ec2-metadata-token``."""
    ttl: str | None = None
    """``X-aws-ec2-metadata-token-ttl-seconds``."""
    forwarded: bool = False
    """The request carried ``X-Forwarded-For``."""


@dataclass(frozen=True)
class MetadataAnswer:
    status: int
    body: str
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = field(default=())
    dropped: bool = False
    """The hop limit drops this answer: the caller never receives it."""


def _error(status: int, headers: tuple[tuple[str, str], ...] = ()) -> MetadataAnswer:
    """IMDS's HTML error page (the ``<title>404 - Not Found</title>`` document)."""
    title = f"{status} - {_REASONS[status]}"
    body = ('<?xml version="1.0" encoding="iso-8859-1"?>\n'
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
            '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
            f" <head>\n  <title>{title}</title>\n </head>\n"
            f" <body>\n  <h1>{title}</h1>\n </body>\n</html>\n")
    return MetadataAnswer(status, body, "text/html", headers)


def _text(body: str) -> MetadataAnswer:
    return MetadataAnswer(200, body)


def _listing(*entries: str) -> MetadataAnswer:
    return MetadataAnswer(200, "\n".join(entries))


def _document(data: dict[str, object]) -> MetadataAnswer:
    """JSON as IMDS prints it: two-space indent, ``"key" : value``."""
    return MetadataAnswer(200, json.dumps(data, indent=2, separators=(",", " : ")))


class MetadataService:
    """The metadata service of every instance in the directory (see the module docstring)."""

    def __init__(self, workloads: Workloads) -> None:
        self.workloads = workloads
        self._key = workloads.key("imds-token")

    # --- tokens -------------------------------------------------------------------------

    def new_token(self, instance: Instance, ttl_seconds: int) -> str:
        """A session token for ``instance``, valid ``ttl_seconds`` from now."""
        issued = int(self.workloads.clock.now().timestamp())
        fixed = _TOKEN_FIXED.pack(_TOKEN_VERSION, issued, issued + ttl_seconds,
                                  secrets.token_bytes(8))
        return base64.b64encode(fixed + self._tag(fixed, instance.id)).decode("ascii")

    def token_valid(self, instance: Instance, token: str) -> bool:
        """The token was issued here for this instance, and now is within its lifetime."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return False
        try:
            raw = base64.b64decode(token.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            return False
        if len(raw) != _TOKEN_BYTES:
            return False
        fixed, tag = raw[:_TOKEN_FIXED.size], raw[_TOKEN_FIXED.size:]
        if not hmac.compare_digest(tag, self._tag(fixed, instance.id)):
            return False
        version, issued, expires, _ = _TOKEN_FIXED.unpack(fixed)
        now = self.workloads.clock.now().timestamp()
        return bool(version == _TOKEN_VERSION and issued <= now < expires)

    def _tag(self, fixed: bytes, instance_id: str) -> bytes:
        return hmac.new(self._key, fixed + instance_id.encode("ascii", "replace"),
                        hashlib.sha256).digest()

    # --- requests -----------------------------------------------------------------------

    def answer(self, instance_id: str, request: MetadataRequest) -> MetadataAnswer:
        """The answer to ``request`` on the instance ``instance_id``'s metadata service."""
        instance = self.workloads.instance(instance_id)
        if instance is None or len(request.path) > MAX_PATH_CHARS:
            return _error(404)
        if request.method == "PUT":
            answer = self._put(instance, request)
            if instance.hops > instance.hop_limit:
                return replace(_error(403), dropped=True)
            return answer
        if request.method not in ("GET", "HEAD"):
            return _error(405, _ALLOW_ALL)
        if request.path == _TOKEN_PATH:
            return _error(405, (("Allow", "PUT"),))
        if request.token is not None:
            if not self.token_valid(instance, request.token):
                return _error(401)
        elif instance.http_tokens == "required":
            return _error(401)
        return self._get(instance, request.path)

    def _put(self, instance: Instance, request: MetadataRequest) -> MetadataAnswer:
        if request.path != _TOKEN_PATH:
            version, _, rest = request.path.partition("/")
            versioned = _VERSION_RE.fullmatch(version) is not None and rest == "api/token"
            return _error(403) if versioned else _error(405, (("Allow", "GET, HEAD"),))
        if request.forwarded:
            return _error(403)
        ttl = request.ttl
        if (ttl is None or len(ttl) > MAX_TTL_CHARS or not _DIGITS_RE.fullmatch(ttl)
                or not MIN_TTL_SECONDS <= int(ttl) <= MAX_TTL_SECONDS):
            return _error(400)
        seconds = int(ttl)
        return MetadataAnswer(200, self.new_token(instance, seconds),
                              headers=((TTL_HEADER, str(seconds)),))

    def _get(self, instance: Instance, path: str) -> MetadataAnswer:
        if path == "":
            return _listing("latest")
        version, _, rest = path.partition("/")
        if _VERSION_RE.fullmatch(version) is None:
            return _error(404)
        if rest in ("", "/"):
            return _listing("dynamic", "meta-data")
        category, _, item = rest.partition("/")
        if category == "meta-data":
            return self._meta_data(instance, item)
        if category == "dynamic":
            return self._dynamic(instance, item)
        return _error(404)

    def _meta_data(self, instance: Instance, item: str) -> MetadataAnswer:
        simple = {
            "ami-id": instance.image_id,
            "instance-id": instance.id,
            "instance-type": instance.instance_type,
            "local-ipv4": instance.private_ip,
            "placement/availability-zone": instance.zone,
            "placement/region": instance.region,
        }
        if item in simple:
            return _text(simple[item])
        if item in ("", "/"):
            entries = ["ami-id", "instance-id", "instance-type", "local-ipv4", "placement/"]
            if instance.role_arn is not None:
                entries.insert(1, "iam/")
            return _listing(*entries)
        if item in ("placement", "placement/"):
            return _listing("availability-zone", "region")
        if instance.role_arn is None or not (item == "iam" or item.startswith("iam/")):
            return _error(404)
        rest = item.removeprefix("iam")
        return self._iam(instance, instance.role_arn, rest.removeprefix("/"))

    def _iam(self, instance: Instance, role_arn: str, item: str) -> MetadataAnswer:
        role = role_arn.rsplit("/", 1)[-1]
        if item == "":
            return _listing("info", "security-credentials/")
        if item in ("security-credentials", "security-credentials/"):
            return _text(role)
        if item == f"security-credentials/{role}":
            return self._credentials(instance)
        if item == "info":
            return self._info(instance, role_arn)
        return _error(404)

    def _credentials(self, instance: Instance) -> MetadataAnswer:
        outcome = self.workloads.instance_credentials(instance)
        if isinstance(outcome, Refused):
            return _refusal(outcome)
        return _document({
            "Code": "Success",
            "LastUpdated": aws_time(outcome.issued_at),
            "Type": "AWS-HMAC",
            "AccessKeyId": outcome.credentials.access_key_id,
            "SecretAccessKey": outcome.credentials.secret_access_key,
            "Token": outcome.credentials.session_token,
            "Expiration": aws_time(outcome.expiration),
        })

    def _info(self, instance: Instance, role_arn: str) -> MetadataAnswer:
        outcome: Issued | Refused = self.workloads.instance_credentials(instance)
        if isinstance(outcome, Refused):
            return _refusal(outcome)
        profile = instance.profile_name or role_arn.rsplit("/", 1)[-1]
        arn = f"arn:aws:iam::{instance.account_id}:instance-profile/{profile}"
        return _document({
            "Code": "Success",
            "LastUpdated": aws_time(outcome.issued_at),
            "InstanceProfileArn": arn,
            "InstanceProfileId": _profile_id(arn),
        })

    def _dynamic(self, instance: Instance, item: str) -> MetadataAnswer:
        if item in ("", "/"):
            return _listing("instance-identity/")
        if item in ("instance-identity", "instance-identity/"):
            return _listing("document")
        if item != "instance-identity/document":
            return _error(404)
        return _document({
            "accountId": instance.account_id,
            "architecture": "x86_64",
            "availabilityZone": instance.zone,
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": instance.image_id,
            "instanceId": instance.id,
            "instanceType": instance.instance_type,
            "kernelId": None,
            "pendingTime": aws_time(self.workloads.started),
            "privateIp": instance.private_ip,
            "ramdiskId": None,
            "region": instance.region,
            "version": "2017-09-30",
        })


def _refusal(refused: Refused) -> MetadataAnswer:
    return _document({
        "Code": "AssumeRoleUnauthorizedAccess",
        "Message": unauthorized_message(refused.role_name),
        "LastUpdated": aws_time(refused.at),
    })


def _profile_id(profile_arn: str) -> str:
    """``AIPA`` + 17 base32 characters of SHA-256(ARN): stable, 21 characters like IAM's."""
    digest = hashlib.sha256(profile_arn.encode("utf-8")).digest()
    return "AIPA" + base64.b32encode(digest).decode("ascii")[:17]
