"""OpenID Connect providers: ``CreateOpenIDConnectProvider``, ``GetOpenIDConnectProvider``,
``ListOpenIDConnectProviders``, ``DeleteOpenIDConnectProvider``,
``AddClientIDToOpenIDConnectProvider``, ``RemoveClientIDFromOpenIDConnectProvider``,
``UpdateOpenIDConnectProviderThumbprint``, ``UpdateOpenIDConnectProvider`` and the provider
tags.

The rules are the IAM API Reference's (``CreateOpenIDConnectProvider``):

* ``Url``, 1-255 characters, "must begin with https://"; a path is allowed, a query is not;
  unique in the account ("You cannot register the same provider multiple times in a single
  Amazon Web Services account"): ``EntityAlreadyExists`` 409 "Provider with url URL already
  exists.". The simulator also takes ``http://`` on a loopback host (its own issuer is plain
  HTTP on loopback; ``idp.directory.loader.check_oidc_url`` is the one rule for both the
  directory file and this API). A port is accepted (the documentation says a URL "should not"
  carry one; the simulator's own issuer does). Only visible ASCII is taken, and a host must be
  a DNS name or an IP address. The URL is compared exactly (IAM: the URL is case-sensitive),
  scheme aside: ``https://host/`` and ``https://host`` are two providers. The ARN is
  ``arn:aws:iam::ACCOUNT:oidc-provider/`` + the URL without its scheme, path and trailing
  slash kept; ``GetOpenIDConnectProvider`` returns ``Url`` without the scheme too (AWS CLI
  example ``get-open-id-connect-provider``).
* ``ClientIDList``: each 1-255 characters, "You cannot register more than 100 client IDs with
  a single IAM OIDC provider" (``LimitExceeded``). Repeats are kept once: adding a client ID
  the provider has is no error ("This operation is idempotent",
  ``AddClientIDToOpenIDConnectProvider``), nor is removing one it lacks
  (``RemoveClientIDFromOpenIDConnectProvider``).
* ``ThumbprintList``: optional, at most five, each "the hex-encoded SHA-1 hash value of the
  X.509 certificate … always a 40-character string". The model checks the length
  (``ValidationError``); a character other than a hex digit is ``InvalidInput`` (a choice: AWS
  does not say what it does with one). Thumbprints are kept in lower case, each once.
* 100 providers per account (IAM User Guide, "IAM and AWS STS quotas").

AWS's documentation gives no message texts. "Provider with url URL already exists." is what
AWS answers in public error reports (e.g. Terraform's "creating IAM OIDC Provider … 409 …
EntityAlreadyExists"); "OpenIDConnect Provider not found for arn ARN", "Invalid Open ID Connect
Provider URL", "Thumbprint list must contain fewer than 5 entries." and "Cannot exceed quota
for ClientIdsPerOpenIdConnectProvider: 100" are moto's (``moto/iam/models.py``); the provider
quota, the hex check and a malformed ARN ("ARN ARN is not valid.", as for SAML providers) are
worded here in the same forms.

A provider is created without contacting the issuer (the simulator is offline; IAM would
fetch a thumbprint when none is given): ``OpenIdIdpCommunicationError`` never happens.
Identity Center and context-provider settings (``ContextProvider``,
``IdentityCenterInstanceArn``) are refused with ``InvalidInput``. A provider created, changed
or deleted here is what STS trusts for ``AssumeRoleWithWebIdentity`` from the next request on:
it reads the same state. Deleting one leaves the roles that name it as they are.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from idp.aws.errors import (
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from idp.aws.iam.context import Call, Operation, check_tags, stored_tags, tag_list
from idp.aws.iam.model import AccountState, OidcProvider, iso
from idp.aws.iam.ops_tags import Taggable, tag_operations
from idp.aws.iam.results import Struct
from idp.directory.loader import check_oidc_url

__all__ = ["OPERATIONS"]

PROVIDERS_PER_ACCOUNT: Final = 100
CLIENT_IDS_PER_PROVIDER: Final = 100
THUMBPRINTS_PER_PROVIDER: Final = 5
#: How many members of a list are read at all (a limit of this simulator; beyond it the
#: list is a ``ValidationError``, before the quotas above are checked).
_LIST_READ_LIMIT: Final = 1000
_PREFIX: Final = "oidc-provider/"
_ARN: Final = re.compile(r"arn:aws:iam::[0-9]{12}:oidc-provider/.+", re.ASCII | re.DOTALL)
_HEX40: Final = re.compile(r"[0-9a-fA-F]{40}", re.ASCII)
_VISIBLE: Final = re.compile(r"[\x21-\x7e]+", re.ASCII)
_DNS_NAME: Final = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?",
                              re.ASCII)
_URL_HINT: Final = ("Use the issuer's URL as its tokens' iss claim says it, e.g. "
                    "https://token.example.com or https://login.example.com/tenant (http:// "
                    "only on a loopback host such as this simulator's own BASE/oidc).")


def _invalid_url(problem: str) -> InvalidInput:
    return InvalidInput("Invalid Open ID Connect Provider URL.",
                        detail=f"the provider URL {problem}", hint=_URL_HINT)


def _host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None if _DNS_NAME.fullmatch(host) else "has a host that is not a DNS name"
    return None


def _url(url: str) -> tuple[str, str]:
    """``(URL as stored, URL without its scheme)``: the scheme in lower case, the rest as
    given. ``ValidationError`` without a scheme or a host (as AWS answers), ``InvalidInput``
    for any other URL IAM (or this simulator) refuses."""
    scheme, separator, rest = url.partition("://")
    if not separator or not rest or rest.startswith("/"):
        raise ValidationError("Invalid Open ID Connect Provider URL",
                              detail=f"{url[:255]!r} has no scheme or no host", hint=_URL_HINT)
    if _VISIBLE.fullmatch(url) is None:
        raise _invalid_url("has a space, a control character or a non-ASCII character")
    if any(c in url for c in "{}$"):
        # Not URI characters (RFC 3986 §2), and "${idp:oidc}" names the simulator's own
        # issuer in the stored state.
        raise _invalid_url("has a character a URL cannot hold: {, } or $")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises ValueError)
        problem = check_oidc_url(url)
    except ValueError as exc:
        raise _invalid_url(f"cannot be read as a URL ({exc})") from None
    if problem is None and parts.hostname is not None:
        problem = _host_problem(parts.hostname)
    if problem is not None:
        raise _invalid_url(problem)
    return f"{scheme.lower()}://{rest}", rest


def _arn(call: Call) -> tuple[str, str]:
    """``OpenIDConnectProviderArn``: the ARN and the provider's URL without its scheme;
    ``InvalidInput`` if it is not an OIDC provider ARN."""
    arn = call.params.required("OpenIDConnectProviderArn", "arnType")
    if _ARN.fullmatch(arn) is None:
        raise InvalidInput(f"ARN {arn} is not valid.",
                           detail="an OpenID Connect provider ARN is arn:aws:iam::ACCOUNT:"
                                  "oidc-provider/HOST[/PATH]")
    return arn, arn.split(":", 5)[5][len(_PREFIX):]


def _existing(account: AccountState, arn: str, host_path: str) -> OidcProvider:
    provider = account.oidc_provider(host_path)
    if provider is None:
        raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}",
                           detail=f"account {account.id} has no OpenID Connect provider "
                                  f"{host_path!r} (URLs are compared exactly)")
    return provider


def _client_ids(values: Sequence[str]) -> list[str]:
    """Each client ID once, in the order given; ``LimitExceeded`` past the quota."""
    unique = list(dict.fromkeys(values))
    if len(unique) > CLIENT_IDS_PER_PROVIDER:
        raise LimitExceeded("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: "
                            f"{CLIENT_IDS_PER_PROVIDER}",
                            detail=f"{len(unique)} distinct client IDs")
    return unique


def _thumbprints(values: Sequence[str]) -> list[str]:
    """Lower-case hex thumbprints, each once; ``InvalidInput`` for more than five or one that
    is not hex."""
    if len(values) > THUMBPRINTS_PER_PROVIDER:
        raise InvalidInput(
            f"Thumbprint list must contain fewer than {THUMBPRINTS_PER_PROVIDER} entries.",
            detail=f"{len(values)} thumbprints; at most {THUMBPRINTS_PER_PROVIDER} are kept")
    for value in values:
        if _HEX40.fullmatch(value) is None:
            raise InvalidInput("Thumbprint must be 40 hexadecimal characters.",
                               detail=f"{value!r} is not the hex SHA-1 of a certificate")
    return list(dict.fromkeys(v.lower() for v in values))


def _read_thumbprints(call: Call, *, required: bool = False) -> tuple[str, ...]:
    return call.params.string_list("ThumbprintList", "thumbprintType",
                                   max_items=_LIST_READ_LIMIT, required=required)


def _unsupported(call: Call) -> None:
    for name in ("ContextProvider", "IdentityCenterInstanceArn"):
        if any(key == name or key.startswith(f"{name}.") for key in call.params.raw):
            raise InvalidInput(f"{name} is not supported by this simulator.",
                               detail="Identity Center and context providers are not "
                                      "modelled")


def create_oidc_provider(call: Call) -> Struct | None:
    given = call.params.required("Url", "OpenIDConnectProviderUrlType")
    client_ids = call.params.string_list("ClientIDList", "clientIDType",
                                         max_items=_LIST_READ_LIMIT)
    thumbprints = _read_thumbprints(call)
    tags = call.params.tags()
    url, host_path = _url(given)
    arn = call.arn(_PREFIX, "", host_path)
    call.authorize(arn)
    _unsupported(call)
    check_tags(tags)
    audiences = _client_ids(client_ids)
    prints = _thumbprints(thumbprints)
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> None:
        if state.oidc_provider(host_path) is not None:
            raise EntityAlreadyExists(f"Provider with url {url} already exists.")
        if len(state.oidc_providers) >= PROVIDERS_PER_ACCOUNT:
            raise LimitExceeded("Cannot exceed quota for OpenIdConnectProvidersPerAccount: "
                                f"{PROVIDERS_PER_ACCOUNT}")
        account.setdefault("oidc", {})[host_path] = {
            "url": url, "client_ids": audiences, "thumbprints": prints, "created": iso(now),
            "tags": stored_tags(tags)}

    call.change(edit)
    body: Struct = {"OpenIDConnectProviderArn": arn}
    if tags:
        body["Tags"] = tag_list(tags)
    return body


def get_oidc_provider(call: Call) -> Struct | None:
    arn, host_path = _arn(call)
    call.authorize(arn)
    provider = _existing(call.account(), arn, host_path)
    body: Struct = {
        "Url": provider.host_path,
        "ClientIDList": list(provider.client_ids),
        "ThumbprintList": list(provider.thumbprints),
        "CreateDate": provider.created,
    }
    if provider.tags:
        body["Tags"] = tag_list(provider.tags)
    return body


def list_oidc_providers(call: Call) -> Struct | None:
    call.authorize("*")
    providers = sorted(call.account().oidc_providers.values(), key=lambda p: p.arn)
    return {"OpenIDConnectProviderList": [{"Arn": p.arn} for p in providers]}


def delete_oidc_provider(call: Call) -> Struct | None:
    arn, host_path = _arn(call)
    call.authorize(arn)

    def edit(account: dict[str, Any], state: AccountState) -> None:
        del account["oidc"][_existing(state, arn, host_path).key]

    call.change(edit)
    return None


def _change_entry(call: Call, change: Callable[[OidcProvider], dict[str, Any]]) -> None:
    """Update the stored entry of the provider ``OpenIDConnectProviderArn`` names with what
    ``change`` returns for it (after authorization; ``NoSuchEntity`` if it is gone)."""
    arn, host_path = _arn(call)
    call.authorize(arn)

    def edit(account: dict[str, Any], state: AccountState) -> None:
        provider = _existing(state, arn, host_path)
        account["oidc"][provider.key].update(change(provider))

    call.change(edit)


def add_client_id(call: Call) -> Struct | None:
    client_id = call.params.required("ClientID", "clientIDType")
    _change_entry(call, lambda provider: {
        "client_ids": _client_ids([*provider.client_ids, client_id])})
    return None


def remove_client_id(call: Call) -> Struct | None:
    client_id = call.params.required("ClientID", "clientIDType")
    _change_entry(call, lambda provider: {
        "client_ids": [c for c in provider.client_ids if c != client_id]})
    return None


def update_thumbprints(call: Call) -> Struct | None:
    """Replaces the whole list (an empty list, ``ThumbprintList=``, clears it)."""
    thumbprints = _read_thumbprints(call, required=True)
    arn, host_path = _arn(call)
    call.authorize(arn)
    prints = _thumbprints(thumbprints)

    def edit(account: dict[str, Any], state: AccountState) -> None:
        account["oidc"][_existing(state, arn, host_path).key]["thumbprints"] = prints

    call.change(edit)
    return None


def update_oidc_provider(call: Call) -> Struct | None:
    """Only Identity Center settings, which are not modelled: with none given (or only the
    ``Remove*`` switches, which have nothing to remove) it changes nothing."""
    arn, host_path = _arn(call)
    call.params.boolean("RemoveContextProvider")
    call.params.boolean("RemoveIdentityCenterInstance")
    call.authorize(arn)
    _unsupported(call)
    _existing(call.account(), arn, host_path)
    return None


def _target(call: Call) -> tuple[str, Callable[[AccountState], OidcProvider]]:
    arn, host_path = _arn(call)
    return arn, lambda state: _existing(state, arn, host_path)


def _key(provider: OidcProvider) -> str:
    """The provider's key in the document (the own issuer's is symbolic)."""
    return provider.key


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateOpenIDConnectProvider": create_oidc_provider,
    "GetOpenIDConnectProvider": get_oidc_provider,
    "ListOpenIDConnectProviders": list_oidc_providers,
    "DeleteOpenIDConnectProvider": delete_oidc_provider,
    "AddClientIDToOpenIDConnectProvider": add_client_id,
    "RemoveClientIDFromOpenIDConnectProvider": remove_client_id,
    "UpdateOpenIDConnectProviderThumbprint": update_thumbprints,
    "UpdateOpenIDConnectProvider": update_oidc_provider,
    **tag_operations(Taggable("OpenIDConnectProvider", "oidc", _target, key=_key)),
}
