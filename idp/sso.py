"""The IdP's single sign-on step, framework-free (SAML Profiles §4.1, Web Browser SSO).

Receive (Redirect, POST or IdP-initiated) → a ``Pending`` step → after login, ``respond``
builds the signed Response and returns the auto-POST ``PostForm``. Errors that SAML says
to report to the SP (``SamlStatusError``) become ``status_response``; all others are pages.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from idp import redirects
from idp.authn.login import Principal
from idp.aws import attributes as aws_attributes
from idp.aws.vocabulary import AWS_SIGN_IN_URLS, AwsAttribute, is_aws_host, parse_role_value
from idp.clock import Clock, format_instant, parse_instant
from idp.directory.model import AWS_ENTITY_ID, Directory, User
from idp.errors import (
    FatalRequestError,
    IdPError,
    MalformedRequest,
    NoAwsRole,
    RequestSignatureError,
    UnknownServiceProvider,
)
from idp.exchanges import ExchangeKind, ExchangeLog, Outcome
from idp.fault_plan import FaultPlan
from idp.faults import Fault, build_faulty_response
from idp.keys import KeyPair
from idp.saml import requests as saml_requests
from idp.saml.assertions import (
    Attribute,
    AuthnInfo,
    ResponseSpec,
    build_status_response,
    new_id,
    render_response,
)
from idp.saml.bindings import (
    PostForm,
    decode_post,
    decode_redirect,
    raw_params,
    verify_redirect_signature,
)
from idp.saml.constants import ISSUABLE_NAMEID_FORMATS, AuthnContextClass, NameIDFormat
from idp.saml.metadata import IdPDescription, render_metadata
from idp.saml.providers import ServiceProvider
from idp.saml.status import InvalidNameIDPolicy, NoAuthnContext, SamlStatusError
from idp.settings import Settings
from idp.xml import to_bytes

__all__ = ["IdentityProvider", "Pending", "choose_role"]

#: AWS deep links fit easily; the step waits in a cookie, which browsers cap at 4 KiB.
#: (SAML Bindings §3.4.3 and §3.5.3 say 80 bytes; AWS deep links and SPs need more.)
MAX_RELAY_STATE: Final = 1024
#: An AuthnRequest older than this is refused as stale.
MAX_REQUEST_AGE: Final = dt.timedelta(hours=1)
_UNSPECIFIED: Final = NameIDFormat.UNSPECIFIED.value
#: The authentication context classes this IdP can satisfy.
_SUPPORTED_CONTEXTS: Final = frozenset(c.value for c in AuthnContextClass)
#: Attribute releases remembered per IdP (each entry holds its user and SP objects).
_RELEASED_MAX: Final = 4096


@dataclass
class _Received:
    """What is known of an AuthnRequest so far (for the exchange log)."""

    xml: bytes | None = None
    sp: str | None = None


@dataclass(frozen=True)
class Pending:
    """An SSO step waiting for a login (kept in the signed session cookie meanwhile)."""

    id: str
    sp: str
    acs_url: str
    created: dt.datetime
    relay_state: str | None = None
    request_id: str | None = None
    force_authn: bool = False
    is_passive: bool = False
    name_id_format: str | None = None
    requested_contexts: tuple[str, ...] = ()
    protocol_binding: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created"] = format_instant(self.created)
        data["requested_contexts"] = list(self.requested_contexts)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pending:
        values = dict(data)
        values["created"] = parse_instant(values["created"])
        values["requested_contexts"] = tuple(values.get("requested_contexts", ()))
        return cls(**values)


def _relay_target_allowed(relay_state: str, sp: ServiceProvider) -> bool:
    """No open redirect through IdP-initiated SSO: relative, the SP's own origins, or AWS.

    Read as a browser reads it (``idp.redirects``: WHATWG URL parsing, anything ambiguous
    refused); origins compare scheme, host and port. (SP-initiated RelayState is the SP's own
    opaque state and is returned untouched.)
    """
    target = redirects.parse_target(relay_state)
    if target is None:
        return False
    if isinstance(target, redirects.Relative):
        return True
    if any(redirects.same_origin(target, url) for url in sp.acs_urls):
        return True
    return (sp.entity_id == AWS_ENTITY_ID and target.scheme == "https" and target.port == 443
            and is_aws_host(target.host))


def choose_role(wanted: str, arns: tuple[str, ...]) -> str:
    """The role ARN ``wanted`` names among ``arns``: the ARN itself, or a role name (the
    part after the last ``/``); ``NoAwsRole`` if none or several match."""
    if wanted in arns:
        return wanted
    matches = [arn for arn in arns if arn.rsplit("/", 1)[-1] == wanted]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise NoAwsRole(f"role name {wanted} is ambiguous: " + ", ".join(matches)
                        + "; pass the role ARN")
    raise NoAwsRole(f"the user has no role {wanted}; their roles: "
                    + (", ".join(arns) or "none"))


class IdentityProvider:
    """Holds what every SSO step needs; each method is one step of the profile.

    ``faults`` (optional) says which faults to inject into the Responses sent and remembers
    the last one per SP; ``exchanges`` (optional) records every message received and sent;
    ``foreign_keys`` makes the key pair the ``unknown-key`` fault signs with.
    """

    def __init__(
        self, settings: Settings, directory: Directory, keys: tuple[KeyPair, ...], clock: Clock,
        *, faults: FaultPlan | None = None, exchanges: ExchangeLog | None = None,
        foreign_keys: Callable[[], KeyPair] | None = None,
    ) -> None:
        if not keys:
            raise ValueError("the IdP needs a signing key")
        self.settings = settings
        self.directory = directory
        self.keys = keys
        self.clock = clock
        self.faults = faults
        self.exchanges = exchanges
        self._foreign_keys = foreign_keys
        self._released: dict[tuple[int, int], tuple[User, ServiceProvider, Directory,
                                                    tuple[Attribute, ...]]] = {}

    @property
    def signing_key(self) -> KeyPair:
        return self.keys[0]

    def metadata(self) -> bytes:
        now = self.clock.now()
        return render_metadata(
            IdPDescription(
                entity_id=self.settings.entity_id,
                sso_url=self.settings.sso_url,
                keys=self.keys,
                valid_until=now + dt.timedelta(days=self.settings.metadata_validity_days),
            )
        )

    # --- receiving -----------------------------------------------------------------------

    def receive_redirect(
        self, params: Mapping[str, str], raw_query: str
    ) -> tuple[Pending, ServiceProvider]:
        received = _Received()
        try:
            raw_params(raw_query)  # refuses a repeated SAMLRequest/RelayState/SigAlg/Signature
            saml_request = params.get("SAMLRequest")
            if not saml_request:
                raise MalformedRequest("the request has no SAMLRequest parameter")
            received.xml = decode_redirect(saml_request,
                                           max_bytes=self.settings.max_request_bytes)
            request, _root = saml_requests.parse_authn_request(received.xml)
            sp = saml_requests.resolve_sp(request.issuer, self.directory.service_providers)
            received.sp = sp.entity_id
            if request.has_signature:
                raise RequestSignatureError(
                    "the Redirect binding carries the signature in the URL (Signature, "
                    "SigAlg); an enveloped XML signature is not allowed here (Bindings "
                    "§3.4.4.1)")
            if sp.want_authn_requests_signed:
                verify_redirect_signature(raw_query, sp.certificates, algorithms=sp.algorithms)
            pending = self._pending(request, sp, params.get("RelayState"))
        except IdPError as exc:
            self._received(received, exc)
            raise
        self._received(received)
        return pending, sp

    def receive_post(
        self, saml_request: str | None, relay_state: str | None
    ) -> tuple[Pending, ServiceProvider]:
        received = _Received()
        try:
            if not saml_request:
                raise MalformedRequest("the form has no SAMLRequest field")
            received.xml = decode_post(saml_request, max_bytes=self.settings.max_request_bytes)
            request, root = saml_requests.parse_authn_request(received.xml)
            sp = saml_requests.resolve_sp(request.issuer, self.directory.service_providers)
            received.sp = sp.entity_id
            if sp.want_authn_requests_signed:
                saml_requests.check_post_signature(root, sp)
            pending = self._pending(request, sp, relay_state)
        except IdPError as exc:
            self._received(received, exc)
            raise
        self._received(received)
        return pending, sp

    def _received(self, received: _Received, error: IdPError | None = None) -> None:
        """Log an AuthnRequest: received, or refused and why."""
        if self.exchanges is not None:
            self.exchanges.record(ExchangeKind.AUTHN_REQUEST,
                                  Outcome.REFUSED if error is not None else Outcome.RECEIVED,
                                  message=received.xml, sp=received.sp,
                                  detail=str(error) if error is not None else None)

    @staticmethod
    def acs_allowed(sp: ServiceProvider, url: str) -> bool:
        """Whether a Response to ``sp`` may go to ``url``: one of its registered ACS URLs, or,
        for AWS, one of the sign-in endpoints AWS's own SP metadata lists (what the vendor
        surfaces and ECP clients name: ``https://signin.aws.amazon.com/saml``)."""
        return url in sp.acs_urls or (sp.entity_id == AWS_ENTITY_ID and url in AWS_SIGN_IN_URLS)

    def idp_initiated(
        self, sp_entity_id: str | None, relay_state: str | None, *, acs_url: str | None = None
    ) -> tuple[Pending, ServiceProvider]:
        """Unsolicited response (SAML Profiles §4.1.5), the usual way into AWS; to ``acs_url``
        when given (``acs_allowed``), else the SP's default ACS."""
        sp = saml_requests.resolve_sp(sp_entity_id or AWS_ENTITY_ID,
                                      self.directory.service_providers)
        if acs_url is not None and not self.acs_allowed(sp, acs_url):
            raise MalformedRequest(f"{acs_url} is not an assertion consumer service of "
                                   f"{sp.entity_id}")
        self._check_relay_state(relay_state)
        if relay_state and not _relay_target_allowed(relay_state, sp):
            raise MalformedRequest(
                f"RelayState {relay_state} is not a target this IdP sends users to: use a "
                f"relative path or a URL on the service provider's own host"
                + (" or an AWS console URL" if sp.entity_id == AWS_ENTITY_ID else "")
            )
        pending = Pending(id=secrets.token_urlsafe(12), sp=sp.entity_id,
                          acs_url=acs_url or sp.default_acs, created=self.clock.now(),
                          relay_state=relay_state or None)
        return pending, sp

    def _check_relay_state(self, relay_state: str | None) -> None:
        if relay_state is not None and len(relay_state) > MAX_RELAY_STATE:
            raise MalformedRequest(f"RelayState is longer than {MAX_RELAY_STATE} characters")

    def _pending(
        self, request: saml_requests.AuthnRequest, sp: ServiceProvider, relay_state: str | None
    ) -> Pending:
        self._check_relay_state(relay_state)
        acs_url = saml_requests.resolve_acs(request, sp)
        now = self.clock.now()
        if request.destination is not None and request.destination != self.settings.sso_url:
            raise MalformedRequest(
                f"AuthnRequest Destination {request.destination} is not the "
                f"SingleSignOnService of this IdP ({self.settings.sso_url})"
            )
        if request.issue_instant > now + dt.timedelta(seconds=self.settings.clock_skew):
            raise MalformedRequest("AuthnRequest IssueInstant is in the future; check the clocks")
        if request.issue_instant < now - MAX_REQUEST_AGE:
            raise MalformedRequest("AuthnRequest is more than an hour old; start the sign-in again")
        return Pending(
            id=secrets.token_urlsafe(12), sp=sp.entity_id, acs_url=acs_url, created=now,
            relay_state=relay_state or None, request_id=request.id,
            force_authn=request.force_authn, is_passive=request.is_passive,
            name_id_format=request.name_id_format, requested_contexts=request.requested_contexts,
            protocol_binding=request.protocol_binding,
        )

    def precheck(self, pending: Pending, sp: ServiceProvider) -> Pending:
        """Checks answered with a SAML status before any login is asked for.

        Returns the step with only what the answer needs: the requested authentication
        contexts this IdP supports (the others no longer matter once one is satisfiable), so
        what waits in the browser's cookie is bounded whatever the request listed.
        """
        saml_requests.check_protocol_binding(pending.protocol_binding)
        self._name_id_format(pending, sp)
        if not pending.requested_contexts:
            return pending  # nothing to narrow (every IdP-initiated step)
        supported = _SUPPORTED_CONTEXTS
        if not supported.intersection(pending.requested_contexts):
            shown = ", ".join(pending.requested_contexts[:5])
            more = len(pending.requested_contexts) - 5
            raise NoAuthnContext(
                "none of the requested authentication contexts can be satisfied: " + shown
                + (f" and {more} more" if more > 0 else "")
            )
        kept = tuple(dict.fromkeys(c for c in pending.requested_contexts if c in supported))
        return replace(pending, requested_contexts=kept)

    def service_provider(self, pending: Pending) -> ServiceProvider:
        sp = self.directory.service_provider(pending.sp)
        if sp is None:  # the directory changed under a pending login
            raise FatalRequestError(f"service provider {pending.sp} is no longer registered")
        return sp

    # --- responding ----------------------------------------------------------------------

    def _name_id_format(self, pending: Pending, sp: ServiceProvider) -> NameIDFormat:
        requested = pending.name_id_format
        if requested is None or requested == _UNSPECIFIED:
            return sp.name_id_format
        try:
            fmt = NameIDFormat(requested)
        except ValueError:
            raise InvalidNameIDPolicy(f"unknown NameID format {requested}") from None
        if fmt not in ISSUABLE_NAMEID_FORMATS:
            raise InvalidNameIDPolicy(f"this IdP cannot issue NameID format {requested}")
        return fmt

    def _name_id(self, fmt: NameIDFormat, user: User, sp: ServiceProvider) -> str:
        if fmt is NameIDFormat.PERSISTENT:
            return _persistent_id(f"{self.settings.entity_id}|{sp.entity_id}|{user.username}")
        if fmt is NameIDFormat.TRANSIENT:
            return new_id()
        if fmt is NameIDFormat.EMAIL:
            return user.email
        return user.username

    def _attributes(self, user: User, sp: ServiceProvider) -> tuple[Attribute, ...]:
        """What ``user`` is released to ``sp``: a function of the (immutable) directory, user
        and SP alone, so it is worked out once per (directory, user, SP) objects; a refusal
        (``NoAwsRole``, ``AttributeReleaseError``) is raised again every time."""
        directory = self.directory
        key = (id(user), id(sp))
        known = self._released.get(key)
        if (known is not None and known[0] is user and known[1] is sp
                and known[2] is directory):
            return known[3]
        released = self._release(user, sp, directory)
        if len(self._released) >= _RELEASED_MAX:
            self._released.clear()
        self._released[key] = (user, sp, directory, released)
        return released

    @staticmethod
    def _release(user: User, sp: ServiceProvider, directory: Directory
                 ) -> tuple[Attribute, ...]:
        if sp.entity_id == AWS_ENTITY_ID:
            return aws_attributes.release(user, directory, sp)
        out = []
        for name in sp.release:
            if name == "groups":
                values: tuple[str, ...] = user.groups
            else:
                single = user.field_value(name)
                values = (single,) if single is not None else user.attributes.get(name, ())
            if values:
                out.append(Attribute(name, values))
        return tuple(out)

    def _spec(self, pending: Pending, principal: Principal, user: User, sp: ServiceProvider,
              role: str | None = None) -> ResponseSpec:
        fmt = self._name_id_format(pending, sp)
        if AuthnContextClass.MFA.value in pending.requested_contexts and not principal.mfa:
            raise NoAuthnContext("the service provider asked for MFA; this user has none")
        secure = self.settings.secure_cookies
        attributes = self._attributes(user, sp)
        if role is not None:
            attributes = _only_role(attributes, role)
        return ResponseSpec(
            issuer=self.settings.entity_id,
            destination=pending.acs_url,
            audience=sp.audience_value,
            name_id=self._name_id(fmt, user, sp),
            name_id_format=fmt,
            sp_name_qualifier=sp.entity_id if fmt is NameIDFormat.PERSISTENT else None,
            authn=AuthnInfo(
                instant=principal.instant,
                session_index=principal.session_index,
                context=principal.context(secure_transport=secure),
                session_not_on_or_after=principal.instant
                + dt.timedelta(seconds=self.settings.sp_session_lifetime),
            ),
            now=self.clock.now(),
            lifetime=self.settings.assertion_lifetime,
            skew=self.settings.clock_skew,
            in_response_to=pending.request_id,
            attributes=attributes,
        )

    def respond(self, pending: Pending, principal: Principal) -> PostForm:
        """The signed Success Response for a logged-in principal, as an auto-POST form."""
        sp = self.service_provider(pending)
        user = self.directory.user(principal.username)
        if user is None:
            raise FatalRequestError(f"user {principal.username} is no longer in the directory")
        if not self.acs_allowed(sp, pending.acs_url):  # the SP was re-registered meanwhile
            raise FatalRequestError(f"{pending.acs_url} is no longer an ACS URL of "
                                    f"{sp.entity_id}; start the sign-in again")
        spec = self._spec(pending, principal, user, sp)
        fault = self.faults.take(sp.entity_id) if self.faults is not None else None
        return self._post_form(pending, self._issue(spec, sp, user, fault))

    def mint(self, username: str, *, sp: str = AWS_ENTITY_ID, role: str | None = None,
             fault: Fault | None = None, mfa: bool | None = None) -> bytes:
        """A signed Response for ``username`` straight from the IdP (IdP-initiated, to the
        SP's default ACS), as XML bytes: no login, no HTTP. ``role`` (an ARN or a role name)
        leaves only that role in AWS's Role attribute; ``fault`` breaks it on purpose (else
        the fault plan may). Raises ``FatalRequestError`` subclasses for an unknown user or SP
        or a role the user does not have."""
        provider = self.directory.service_provider(sp)
        if provider is None:
            raise UnknownServiceProvider(f"service provider {sp} is not registered")
        user = self.directory.user(username)
        if user is None:
            raise FatalRequestError(f"user {username} is not in the directory")
        now = self.clock.now()
        principal = Principal(username=user.username, instant=now,
                              mfa=user.has_mfa if mfa is None else mfa,
                              session_index=new_id())
        pending = Pending(id=secrets.token_urlsafe(12), sp=provider.entity_id,
                          acs_url=provider.default_acs, created=now)
        spec = self._spec(pending, principal, user, provider, role)
        if fault is None and self.faults is not None:
            fault = self.faults.take(provider.entity_id)
        return self._issue(spec, provider, user, fault)

    def _issue(self, spec: ResponseSpec, sp: ServiceProvider, user: User,
               fault: Fault | None) -> bytes:
        """Sign (or break) the Response, remember it for ``replay``, log it as sent."""
        replayed = fault is Fault.REPLAY and self.faults is not None
        previous = (self.faults.last(sp.entity_id, user.username)
                    if replayed and self.faults else None)
        if previous is not None:
            body = previous
        else:
            if fault is None or fault is Fault.REPLAY:
                body = render_response(spec, self.signing_key, sp.signing)
            else:
                try:
                    root = build_faulty_response(
                        fault, spec, self.signing_key, sp.signing,
                        foreign_keys=self._foreign, aws=sp.entity_id == AWS_ENTITY_ID)
                except ValueError as exc:
                    raise FatalRequestError(str(exc)) from None
                body = to_bytes(root)
        if self.faults is not None and (fault is None or fault is Fault.REPLAY):
            # Only a genuine Response is replayed later: re-sending a broken one would be
            # refused for its other fault, and a test would pass for the wrong reason.
            self.faults.remember(sp.entity_id, user.username, body)
        if self.exchanges is not None:
            self.exchanges.record(ExchangeKind.RESPONSE, Outcome.SENT, message=body,
                                  user=user.username, sp=sp.entity_id,
                                  fault=fault.value if fault is not None else None)
        return body

    def _foreign(self) -> KeyPair:
        if self._foreign_keys is None:
            raise ValueError("the unknown-key fault needs a second key pair, and none is set")
        return self._foreign_keys()

    def status_response(self, pending: Pending, error: SamlStatusError) -> PostForm:
        sp = self.service_provider(pending)
        root = build_status_response(
            issuer=self.settings.entity_id, destination=pending.acs_url, now=self.clock.now(),
            status=error.status, sub_status=error.sub_status, message=str(error) or None,
            in_response_to=pending.request_id, keys=self.signing_key, policy=sp.signing,
        )
        body = to_bytes(root)
        if self.exchanges is not None:
            self.exchanges.record(ExchangeKind.RESPONSE, Outcome.SENT, message=body,
                                  sp=sp.entity_id, detail=str(error) or None)
        return self._post_form(pending, body)

    def _post_form(self, pending: Pending, body: bytes) -> PostForm:
        encoded = base64.b64encode(body).decode("ascii")
        return PostForm(action=pending.acs_url, saml_field="SAMLResponse", saml_value=encoded,
                        relay_state=pending.relay_state)


@functools.lru_cache(maxsize=4096)
def _persistent_id(seed: str) -> str:
    """Stable per (IdP, SP, user) and opaque: the same user gets the same value each time."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _only_role(attributes: tuple[Attribute, ...], wanted: str) -> tuple[Attribute, ...]:
    """``attributes`` with AWS's Role attribute narrowed to the one role ``wanted`` names."""
    if not any(attribute.name == AwsAttribute.ROLE for attribute in attributes):
        raise NoAwsRole(f"role {wanted} was asked for, but this service provider gets no AWS "
                        "Role attribute")
    out = []
    for attribute in attributes:
        if attribute.name == AwsAttribute.ROLE:
            grants = ((parse_role_value(value), value) for value in attribute.values)
            by_arn = {grant.role_arn: value for grant, value in grants if grant is not None}
            arn = choose_role(wanted, tuple(by_arn))
            attribute = replace(attribute, values=(by_arn[arn],))
        out.append(attribute)
    return tuple(out)
