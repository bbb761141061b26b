"""``idp login``: sign in to a running simulator without a browser; print AWS credentials.

The output is the JSON the AWS CLI and SDKs read from a ``credential_process`` command (AWS
CLI User Guide, "Sourcing credentials with an external process"): ``Version`` 1,
``AccessKeyId``, ``SecretAccessKey``, ``SessionToken`` and an ISO-8601 ``Expiration``. The
flow is the one a browser makes, over plain HTTP with the standard library (urllib, a cookie
jar, ``html.parser``), redirects followed, cookies kept, every request bounded by a timeout::

    GET  URL/idp/init                   IdP-initiated SSO to AWS → 303 to the login page
    POST URL/idp/login                  the page's hidden fields (pending, csrf_token) plus
                                        username and password
    POST URL/idp/login                  only if the page then asks for a one-time code (MFA):
                                        the code, from --otp or computed from --totp-secret
         → 303 to URL/idp/sso?resume=…  the auto-POST page: its form's SAMLResponse field
    decode the Response (idp.xml.parse, never a bare XML parser on what a server sent), read
    the https://aws.amazon.com/SAML/Attributes/Role values ("role-arn,provider-arn", either
    order), choose one (--role NAME or ARN, or the only one)
    POST URL/aws/sts                    AssumeRoleWithSAML, AWS Query protocol 2011-06-15
                                        (unsigned: this action needs no SigV4)
    parse the XML answer (the same hardened parser) → credential_process JSON on stdout

Every failure is an ``IdPError`` whose message is one line (``idp.cli`` prints it as
``idp: error: …`` and exits 2): the page's own error text when the IdP refuses, AWS's
``Code`` and ``Message`` when STS does. Passwords, codes, assertions and keys never appear in
a message. Requests never leave the origin of ``--url`` (nor do redirects): the password is
only ever posted there.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import getpass
import http.client
import json
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, TextIO
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import pyotp

from idp.aws.vocabulary import AwsAttribute, parse_role_value
from idp.directory.model import RoleGrant
from idp.errors import IdPError, XMLError
from idp.version import __version__
from idp.xml import MAX_XML_BYTES
from idp.xml import parse as parse_xml

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "Credentials",
    "HtmlForm",
    "Http",
    "LoginOptions",
    "Page",
    "ParsedPage",
    "UrllibHttp",
    "assume_role_with_saml",
    "base_url",
    "choose_role",
    "login",
    "login_command",
    "options_from_args",
    "parse_page",
    "parse_sts_answer",
    "read_password",
    "require_same_origin",
    "roles_in_document",
    "roles_in_response",
    "sign_in",
    "totp_now",
]

#: Seconds any one request may take (connect, and each read).
TIMEOUT: Final = 10.0
#: Largest page read from the server (an auto-POST page carries at most a 256 KiB Response).
MAX_PAGE_BYTES: Final = 1024 * 1024
#: Login pages to walk through before giving up (password, code, and the answer).
MAX_STEPS: Final = 4
#: Longest piece of server text quoted in an error message.
MAX_QUOTE: Final = 300
STS_API_VERSION: Final = "2011-06-15"
SAMLP: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"
USER_AGENT: Final = f"idp-login/{__version__} (Python urllib)"


# --- what comes out --------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials from AssumeRoleWithSAML (the secrets stay out of ``repr``)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: dt.datetime
    """Timezone-aware (UTC)."""

    def to_dict(self) -> dict[str, Any]:
        """AWS's names, as a ``credential_process`` command prints them (Version 1)."""
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def __getitem__(self, name: str) -> Any:
        """``credentials["AccessKeyId"]`` and the other names boto3 and the CLI use."""
        return self.to_dict()[name]

    def credential_process_json(self) -> str:
        """The document a ``credential_process`` command prints (Version 1)."""
        return json.dumps(self.to_dict(), indent=2)


# --- what goes in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOptions:
    url: str
    """The simulator's base URL, normalised by ``base_url`` (no trailing slash)."""
    user: str
    password: str = field(repr=False)
    role: str | None = None
    otp: str | None = field(default=None, repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    duration: int | None = None
    ca_bundle: Path | None = None
    """CA certificates to trust for an https URL (``idp serve --tls``: ``certs/tls-ca.pem``);
    default: the system's."""

    def one_time_code(self) -> str | None:
        """The code to send when the IdP asks for one: ``--otp``, or computed now."""
        if self.otp is not None:
            return self.otp
        if self.totp_secret is not None:
            return totp_now(self.totp_secret)
        return None


def base_url(url: str) -> str:
    """``url`` as a base URL (``http(s)://host[:port][/prefix]``, no trailing slash)."""
    parts = urlsplit(url.strip())
    if parts.username is not None or parts.password is not None:
        raise IdPError("--url must not carry a user name or password")
    if any(c.isspace() or not c.isprintable() for c in url.strip()):
        raise IdPError(f"--url has spaces or control characters: {url.strip()!r}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise IdPError(f"--url must be an http:// or https:// URL, not {_quote(url)}")
    try:
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise IdPError(f"--url has an invalid port: {_quote(url)}") from None
    if not parts.hostname:
        raise IdPError(f"--url has no host: {_quote(url)}")
    if parts.query or parts.fragment:
        raise IdPError(f"--url must be a base URL without '?' or '#': {_quote(url)}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def totp_now(secret: str) -> str:
    """The RFC 6238 code for ``secret`` (base32) at this moment."""
    try:
        code: str = pyotp.TOTP("".join(secret.split()).upper()).now()
    except (ValueError, TypeError):
        raise IdPError("--totp-secret is not a valid base32 secret") from None
    return code


def read_password(flag: str | None, environ: Mapping[str, str], stdin: TextIO | None,
                  user: str) -> str:
    """``--password``, else ``$IDP_PASSWORD``, else one line from stdin (a prompt on a TTY)."""
    if flag is not None:
        password = flag
    elif "IDP_PASSWORD" in environ:
        password = environ["IDP_PASSWORD"]
    elif stdin is None:
        password = ""
    elif stdin.isatty():
        password = getpass.getpass(f"Password for {user}: ", stream=sys.stderr)
    else:
        try:
            password = stdin.readline().rstrip("\r\n")
        except UnicodeError:
            raise IdPError("the password on stdin is not text in the terminal's encoding "
                           "(UTF-8)") from None
    if not password:
        raise IdPError("the password is empty: pass --password, set IDP_PASSWORD, "
                       "or write it on stdin")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from stdin or the environment
        raise IdPError("the password is not valid UTF-8 text") from None
    return password


def options_from_args(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None,
                      stdin: TextIO | None = None) -> LoginOptions:
    """Check the flags of ``idp login`` (before any request) and read the password."""
    url = base_url(args.url)
    user = (args.user or "").strip()
    if not user:
        raise IdPError("--user is empty")
    if not user.isprintable():
        raise IdPError("--user has control characters")
    if args.otp is not None and args.totp_secret is not None:
        raise IdPError("pass --otp or --totp-secret, not both")
    otp = "".join(args.otp.split()) if args.otp is not None else None
    if otp is not None and not otp:
        raise IdPError("--otp is empty")
    if args.totp_secret is not None:
        totp_now(args.totp_secret)  # refuse a bad secret before sending the password
    role = args.role.strip() if args.role is not None else None
    if role is not None and not role:
        raise IdPError("--role is empty")
    password = read_password(args.password, os.environ if environ is None else environ,
                             sys.stdin if stdin is None else stdin, user)
    ca_bundle = getattr(args, "ca_bundle", None)
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise IdPError(f"--ca-bundle {ca_bundle}: no such file")
    return LoginOptions(url=url, user=user, password=password, role=role, otp=otp,
                        totp_secret=args.totp_secret, duration=args.duration,
                        ca_bundle=Path(ca_bundle) if ca_bundle is not None else None)


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One answer from the server, whatever its status."""

    url: str
    """Where it came from, after redirects."""
    status: int
    body: bytes
    content_type: str = "text/html"

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def where(self) -> str:
        """The URL without its query (which may carry one-time state), for messages."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class Http(Protocol):
    """What the flow needs from HTTP: a cookie-keeping, redirect-following client."""

    def get(self, url: str) -> Page: ...

    def post(self, url: str, fields: Mapping[str, str]) -> Page: ...


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port if port is not None else default


def require_same_origin(base: str, url: str, *, what: str) -> None:
    """Refuse a request (or redirect) that would leave the origin of ``--url``."""
    origin = _origin(url)
    if origin[0] not in ("http", "https") or origin != _origin(base):
        parts = urlsplit(url)
        raise IdPError(f"refusing to follow the server off {_site(base)}: it {what} "
                       f"{_quote(urlunsplit((parts.scheme, parts.netloc, parts.path, '', '')))}")


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (urllib's rules: a POST becomes a GET), never to another origin."""

    def __init__(self, base: str) -> None:
        self._base = base

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: http.client.HTTPMessage, newurl: str
                         ) -> urllib.request.Request | None:
        try:
            require_same_origin(self._base, newurl, what="redirected to")
        except IdPError:
            fp.close()  # urllib closes a redirect's response only when it follows it
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _reason(error: object, timeout: float) -> str:
    """A short, lower-case reason for a failed connection."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({getattr(error, 'verify_message', None) or error.reason or error})"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, http.client.HTTPException):
        return f"not an HTTP answer ({type(error).__name__})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


def _read(stream: IO[bytes], url: str) -> bytes:
    body = stream.read(MAX_PAGE_BYTES + 1)
    if len(body) > MAX_PAGE_BYTES:
        raise IdPError(f"the answer from {url} is larger than {MAX_PAGE_BYTES} bytes")
    return body


class UrllibHttp:
    """``Http`` over urllib: one cookie jar, same-origin redirects, a timeout per request.

    Only the http and https handlers are installed (no file:, ftp: or data:), and proxies
    come from the environment as for any other command-line tool.
    """

    def __init__(self, base: str, *, timeout: float = TIMEOUT,
                 ca_bundle: Path | None = None) -> None:
        self._base = base
        self._timeout = timeout
        self.cookies = CookieJar()
        try:
            context = ssl.create_default_context(
                cafile=str(ca_bundle) if ca_bundle is not None else None)
        except (OSError, ssl.SSLError) as exc:
            raise IdPError(f"cannot read CA certificates from {ca_bundle}: {exc}") from None
        opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPDefaultErrorHandler(),
            _SameOriginRedirects(base),
            urllib.request.HTTPErrorProcessor(),
            urllib.request.HTTPCookieProcessor(self.cookies),
        ):
            opener.add_handler(handler)
        self._opener = opener

    def get(self, url: str) -> Page:
        return self._send(self._request(url, None))

    def post(self, url: str, fields: Mapping[str, str]) -> Page:
        return self._send(self._request(url, urlencode(fields).encode("ascii")))

    def _request(self, url: str, data: bytes | None) -> urllib.request.Request:
        require_same_origin(self._base, url, what="asked for")  # http(s), --url's origin only
        request = urllib.request.Request(url, data=data,  # noqa: S310 (checked just above)
                                         method="GET" if data is None else "POST")
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type",
                               "application/x-www-form-urlencoded; charset=utf-8")
        return request

    def _send(self, request: urllib.request.Request) -> Page:
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return Page(url=response.geturl(), status=response.status,
                            body=_read(response, request.full_url),
                            content_type=response.headers.get_content_type())
        except urllib.error.HTTPError as exc:  # 4xx/5xx: still a page to read
            with exc:
                if 300 <= exc.code < 400:  # urllib gave up: a loop, or no usable Location
                    looped = "infinite loop" in str(exc.reason)
                    raise IdPError(f"too many redirects from {_site(self._base)}" if looped
                                   else f"HTTP {exc.code} from {_site(self._base)} without a "
                                   "usable redirect") from None
                body = _read(exc, request.full_url) if exc.fp is not None else b""
                return Page(url=exc.geturl() or request.full_url, status=exc.code, body=body,
                            content_type=exc.headers.get_content_type())
        except urllib.error.URLError as exc:
            raise IdPError(f"cannot reach {_site(self._base)}: "
                           f"{_reason(exc.reason, self._timeout)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise IdPError(f"cannot reach {_site(self._base)}: "
                           f"{_reason(exc, self._timeout)}") from None


# --- reading pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HtmlForm:
    action: str
    method: str
    fields: Mapping[str, str]
    """Named inputs and their values, in page order (buttons, radios, checkboxes left out)."""


@dataclass(frozen=True)
class ParsedPage:
    forms: tuple[HtmlForm, ...]
    title: str
    """The ``<title>`` text, whitespace collapsed."""
    alert: str
    """The text of the page's error element (``id="error"`` or ``role="alert"``)."""

    def field(self, name: str) -> str | None:
        """The value of the first form field called ``name``."""
        for form in self.forms:
            if name in form.fields:
                return form.fields[name]
        return None

    def login_form(self) -> HtmlForm | None:
        """The form asking for a password or, at the MFA step, for a one-time code."""
        for form in self.forms:
            if "password" in form.fields or "otp" in form.fields:
                return form
        return None


_SKIPPED_INPUTS: Final = frozenset({"submit", "button", "image", "reset", "radio", "checkbox",
                                    "file"})
_ALERT_IDS: Final = frozenset({"error", "aws-error"})


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self._form: tuple[str, str, dict[str, str]] | None = None
        self._title: list[str] | None = None
        self.title = ""
        self._alert: list[str] | None = None
        self._alert_tag = ""
        self._alert_depth = 0
        self.alert = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._close_form()
            self._form = (attr.get("action", ""), attr.get("method", "get").lower(), {})
        elif tag == "input" and self._form is not None:
            name = attr.get("name")
            if name and attr.get("type", "text").lower() not in _SKIPPED_INPUTS:
                self._form[2].setdefault(name, attr.get("value", ""))
        elif tag == "title" and not self.title:
            self._title = []
        if self._alert is not None and tag == self._alert_tag:
            self._alert_depth += 1
        elif self._alert is None and not self.alert and (
                attr.get("id") in _ALERT_IDS or attr.get("role") == "alert"):
            self._alert, self._alert_tag, self._alert_depth = [], tag, 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._close_form()
        elif tag == "title" and self._title is not None:
            self.title, self._title = _one_line("".join(self._title)), None
        if self._alert is not None and tag == self._alert_tag:
            self._alert_depth -= 1
            if self._alert_depth == 0:
                self.alert, self._alert = _one_line("".join(self._alert)), None

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)
        if self._alert is not None:
            self._alert.append(data)

    def close(self) -> None:
        super().close()
        self._close_form()
        if self._alert is not None:
            self.alert, self._alert = _one_line("".join(self._alert)), None

    def _close_form(self) -> None:
        if self._form is not None:
            action, method, fields = self._form
            self.forms.append(HtmlForm(action=action, method=method, fields=fields))
            self._form = None


def parse_page(html: str) -> ParsedPage:
    """Forms, title and error text of an HTML page (``html.parser``: no scripts, no network)."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return ParsedPage(forms=tuple(parser.forms), title=parser.title, alert=parser.alert)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quote(text: str) -> str:
    """Server (or user) text fit for a one-line message: whitespace collapsed, bounded."""
    line = _one_line(text)
    return line if len(line) <= MAX_QUOTE else line[:MAX_QUOTE - 1] + "…"


def _page_message(page: Page, parsed: ParsedPage) -> str:
    """What a page says went wrong: its title and error text, else its first words."""
    if parsed.alert and parsed.title and parsed.alert != parsed.title:
        return _quote(f"{parsed.title}: {parsed.alert}")
    if parsed.alert or parsed.title:
        return _quote(parsed.alert or parsed.title)
    if page.content_type.startswith("text/") and page.body.strip():
        return _quote(page.text)
    return "an empty page" if not page.body.strip() else f"a {page.content_type} document"


# --- signing in at the IdP -------------------------------------------------------------------


def _action_url(base: str, page: Page, form: HtmlForm) -> str:
    url = urljoin(page.url, form.action or page.url)
    require_same_origin(base, url, what="has a form posting to")
    return url


def _refused(user: str, page: Page, parsed: ParsedPage) -> IdPError:
    message = _quote(parsed.alert or parsed.title or f"HTTP {page.status}")
    if page.status == 429:
        return IdPError(f"sign-in throttled for {user}: {message}")
    return IdPError(f"sign-in refused for {user}: {message}")


def sign_in(http: Http, base: str, user: str, password: str,
            one_time_code: Callable[[], str | None]) -> str:
    """Walk the IdP-initiated flow to AWS; the base64 ``SAMLResponse`` the IdP would post.

    The password is sent once, the one-time code once (only when the IdP asks for it); a
    login page shown again after either is the IdP refusing, and its error text says why.
    """
    page = http.get(f"{base}/idp/init")
    sent: set[str] = set()
    for _ in range(MAX_STEPS):
        parsed = parse_page(page.text)
        saml_response = parsed.field("SAMLResponse")
        if saml_response:
            return saml_response
        form = parsed.login_form()
        if form is None:
            hint = "; is --url the simulator's base URL?" if page.status == 404 else ""
            raise IdPError(f"no SAML response from the IdP: {_page_message(page, parsed)} "
                           f"(HTTP {page.status} at {page.where}){hint}")
        step = "password" if "password" in form.fields else "otp"
        if step in sent:
            raise _refused(user, page, parsed)
        sent.add(step)
        fields = dict(form.fields)
        if step == "password":
            fields.update(username=user, password=password, otp="")
        else:
            code = one_time_code()
            if code is None:
                raise IdPError(f"the IdP asks {user} for a one-time code: pass --otp CODE or "
                               "--totp-secret BASE32")
            fields["otp"] = code
        page = http.post(_action_url(base, page, form), fields)
    raise IdPError(f"sign-in did not finish after {MAX_STEPS} pages (last: HTTP {page.status} "
                   f"at {page.where})")


# --- the Response's roles, and choosing one ---------------------------------------------------


def _local(tag: object) -> str:
    """An element's local name (``""`` for comments and processing instructions)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def roles_in_response(saml_response: str) -> tuple[RoleGrant, ...]:
    """The Role attribute's pairs in a base64 SAML Response, in order, duplicates dropped.

    Read, not verified: choosing a role needs no trust (STS verifies what it is sent).
    """
    compact = "".join(saml_response.split())
    if len(compact) > MAX_XML_BYTES * 4 // 3 + 4:
        raise IdPError("the IdP's SAMLResponse is too large")
    try:
        document = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise IdPError("the IdP's SAMLResponse is not valid base64") from None
    try:
        root = parse_xml(document)
    except XMLError as exc:
        raise IdPError(f"the IdP's SAMLResponse is not acceptable XML: {exc}") from None
    return roles_in_document(root)


def roles_in_document(root: etree._Element) -> tuple[RoleGrant, ...]:
    """``roles_in_response`` of a Response already parsed (with ``idp.xml.parse``)."""
    if root.tag != f"{{{SAMLP}}}Response":
        raise IdPError(f"the IdP's SAMLResponse is a {_local(root.tag) or 'non-element'}, "
                       "not a samlp:Response")
    _check_status(root)
    grants: list[RoleGrant] = []
    path = (f"{{{SAML}}}Assertion/{{{SAML}}}AttributeStatement/{{{SAML}}}Attribute"
            f"[@Name='{AwsAttribute.ROLE.value}']/{{{SAML}}}AttributeValue")
    for value in root.iterfind(path):
        grant = parse_role_value(value.text or "")
        if grant is not None and grant not in grants:
            grants.append(grant)
    return tuple(grants)


def _check_status(root: etree._Element) -> None:
    """A Response whose status is not Success carries no assertion: say what the IdP said."""
    codes = [c.get("Value") or "" for c in
             root.iterfind(f"{{{SAMLP}}}Status//{{{SAMLP}}}StatusCode")]
    if codes and codes[0] != SUCCESS:
        message = _one_line(root.findtext(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusMessage") or "")
        names = "/".join(code.rsplit(":", 1)[-1] for code in codes)
        raise IdPError(f"the IdP answered with SAML status {_quote(names)}"
                       + (f": {_quote(message)}" if message else ""))


def _role_name(grant: RoleGrant) -> str:
    return grant.role_arn.rsplit("/", 1)[-1]


def _listing(grants: Sequence[RoleGrant]) -> str:
    arns = [g.role_arn for g in grants]
    if len(set(arns)) == len(arns):
        return ", ".join(arns)
    return ", ".join(f"{g.role_arn} (via {g.provider_arn})" for g in grants)


def choose_role(grants: Sequence[RoleGrant], wanted: str | None) -> RoleGrant:
    """The pair to assume: ``wanted`` as a role ARN or role name, else the only one."""
    if not grants:
        raise IdPError("the IdP sent no AWS role for this user")
    if wanted is None:
        if len(grants) == 1:
            return grants[0]
        raise IdPError(f"this user has {len(grants)} roles; pass --role NAME or ARN: "
                       f"{_listing(grants)}")
    by_arn = wanted.startswith("arn:")
    matches = [g for g in grants if (g.role_arn if by_arn else _role_name(g)) == wanted]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise IdPError(f"no role {_quote(wanted)} among this user's roles: {_listing(grants)}")
    if len({g.role_arn for g in matches}) == 1:
        raise IdPError(f"role {matches[0].role_arn} is offered through {len(matches)} SAML "
                       f"providers and --role cannot choose one: {_listing(matches)}")
    raise IdPError(f"--role {_quote(wanted)} matches {len(matches)} roles; pass --role ARN "
                   f"instead: {_listing(matches)}")


# --- STS -------------------------------------------------------------------------------------


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def parse_sts_answer(page: Page, action: str = "AssumeRoleWithSAML") -> Credentials:
    """The credentials in an ``AssumeRoleWithSAMLResponse``; an ``ErrorResponse`` raised."""
    try:
        root = parse_xml(page.body)
    except XMLError:
        raise IdPError(f"STS at {page.where} answered HTTP {page.status} with no AWS response "
                       f"document ({page.content_type})") from None
    if _local(root.tag) == "ErrorResponse":
        error = next((e for e in root if _local(e.tag) == "Error"), None)
        code = _child_text(error, "Code") if error is not None else None
        message = _child_text(error, "Message") if error is not None else None
        raise IdPError(f"STS refused {action}: {_quote(code or 'unknown error')}: "
                       f"{_quote(message or '(no message)')}")
    credentials = next((e for e in root.iter() if _local(e.tag) == "Credentials"), None)
    if page.status != 200 or credentials is None:
        raise IdPError(f"STS at {page.where} answered HTTP {page.status} without credentials")
    values = {name: _child_text(credentials, name)
              for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise IdPError(f"STS answered without {', '.join(missing)}")
    try:
        expiration = dt.datetime.fromisoformat(values["Expiration"] or "")
    except ValueError:
        raise IdPError(f"STS answered an Expiration that is not ISO 8601: "
                       f"{_quote(values['Expiration'] or '')}") from None
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=dt.UTC)
    try:
        expiration = expiration.astimezone(dt.UTC)
    except OverflowError:
        raise IdPError(f"STS answered an Expiration out of range: "
                       f"{_quote(values['Expiration'] or '')}") from None
    return Credentials(access_key_id=values["AccessKeyId"] or "",
                       secret_access_key=values["SecretAccessKey"] or "",
                       session_token=values["SessionToken"] or "", expiration=expiration)


def assume_role_with_saml(http: Http, base: str, grant: RoleGrant, saml_response: str,
                          duration: int | None = None) -> Credentials:
    """``AssumeRoleWithSAML`` at ``base``/aws/sts (Query protocol; no signature needed)."""
    fields = {
        "Action": "AssumeRoleWithSAML",
        "Version": STS_API_VERSION,
        "RoleArn": grant.role_arn,
        "PrincipalArn": grant.provider_arn,
        "SAMLAssertion": saml_response,
    }
    if duration is not None:
        fields["DurationSeconds"] = str(duration)
    return parse_sts_answer(http.post(f"{base}/aws/sts", fields))


# --- the command -----------------------------------------------------------------------------


def login(options: LoginOptions, http: Http | None = None) -> Credentials:
    """Sign in, choose the role, assume it: the credentials."""
    client = http if http is not None else UrllibHttp(options.url, ca_bundle=options.ca_bundle)
    saml_response = sign_in(client, options.url, options.user, options.password,
                            options.one_time_code)
    grant = choose_role(roles_in_response(saml_response), options.role)
    return assume_role_with_saml(client, options.url, grant, saml_response, options.duration)


def login_command(args: argparse.Namespace) -> int:
    """``idp login``: print credential_process JSON on stdout (errors: ``IdPError``)."""
    if sys.stdout is None:  # started with stdout closed (>&-)
        raise IdPError("stdout is closed: nowhere to print the credentials")
    credentials = login(options_from_args(args))
    sys.stdout.write(credentials.credential_process_json() + "\n")
    sys.stdout.flush()
    return 0
