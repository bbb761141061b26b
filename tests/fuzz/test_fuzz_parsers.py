"""Property-based fuzzing of every parser surface at the function level.

The invariant, for each target: the call returns a value or raises an ``IdPError`` subclass
(the package's intended errors) — never any other exception. Hang and memory bounds come from
the Hypothesis deadline and the size caps the parsers enforce.

Strategies are structure-aware where that reaches deeper than random bytes: AuthnRequests built
with lxml and random attribute values, genuine signed Responses mutated at the tree level (and
re-signed with the IdP key so the semantic checks behind the signature are reached), genuine
SigV4 requests with garbled headers, and line-level mutations of the demo directory.

Known crashes in files this suite may not fix are listed in ``KNOWN_CRASHES``: the properties
skip those inputs (``reject``) and each has a strict-xfail regression test at the bottom, which
starts failing — and so forces removing the entry — as soon as the fix lands.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import email.utils
import traceback
import zlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import event, given, reject, settings
from hypothesis import strategies as st
from lxml import etree

from idp.authn.login import new_principal
from idp.aws import console
from idp.aws.diagnostics import summarize
from idp.aws.errors import AwsError
from idp.aws.federation import AwsFederation
from idp.aws.policy import TrustRequest, evaluate_trust_policy
from idp.aws.sigv4 import SignedRequest, parse_authorization, verify_request
from idp.aws.sts import Sts
from idp.clock import FixedClock, format_instant
from idp.directory import parse_directory
from idp.errors import IdPError
from idp.keys import KeyPair
from idp.saml.algorithms import AlgorithmPolicy
from idp.saml.bindings import decode_post, decode_redirect, raw_params, verify_redirect_signature
from idp.saml.constants import NS, AuthnContextClass, Binding, NameIDFormat
from idp.saml.requests import parse_authn_request
from idp.saml.status import SamlStatusError
from idp.sso import IdentityProvider
from idp.xml import parse as parse_xml
from tests.fuzz.conftest import CONSOLE_ACS, SIGNED_SP, SIGNED_SP_ACS
from tests.support.demo import (
    AWS_ENTITY_ID,
    DEV,
    DEV_PROVIDER,
    PRINCIPAL_TAG_PREFIX,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    SESSION_DURATION_ATTR,
    SESSION_NAME_ATTR,
    SOURCE_IDENTITY_ATTR,
    SSO_URL,
    STS_URL,
    demo_text,
)
from tests.support.saml import DS, SAML, SAMLP, assertion_of, resign_assertion, resigned, sign
from tests.support.sts import assume_role_params

T = TypeVar("T")

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"

#: A third of the profile's examples for targets that sign or verify RSA per example.
FEWER = settings(max_examples=max(10, settings.default.max_examples // 3))


# --- the invariant ---------------------------------------------------------------------------

#: Crashes found in files this suite must not edit: (exception type, the module and function
#: it escapes from, the strict-xfail test that pins it). Inputs that hit one are rejected.
KNOWN_CRASHES: tuple[tuple[type[BaseException], str, str, str], ...] = ()


def _known(exc: BaseException) -> str | None:
    frames = {(frame.filename.replace("\\", "/"), frame.name)
              for frame in traceback.extract_tb(exc.__traceback__)}
    for exc_type, module, function, test in KNOWN_CRASHES:
        if isinstance(exc, exc_type) and any(
                name == function and path.endswith(module) for path, name in frames):
            return test
    return None


def outcome(call: Callable[[], T]) -> T | IdPError:
    """Run ``call``; an ``IdPError`` is a fine answer, anything else fails the property."""
    try:
        result = call()
    except IdPError as exc:
        detail = getattr(exc, "code", None) or getattr(exc, "rule", None) or ""
        event(f"refused: {type(exc).__name__} {detail}".rstrip())
        return exc
    except Exception as exc:
        known = _known(exc)
        if known is None:
            raise
        event(f"known crash: {known}")
        reject()
    event("accepted")
    return result


# --- shared value strategies -----------------------------------------------------------------

#: Characters lxml will put in attributes and text (XML 1.0 has no control characters).
xml_chars = st.characters(blacklist_categories=("Cs", "Cc"))
xml_text = st.text(xml_chars, max_size=60)
#: Any text, now and then with lone surrogates (``st.text()`` leaves those out by default).
any_text = st.text(max_size=80) | st.text(st.characters(categories=["Cs", "Lu", "Nd", "Po"]),
                                          max_size=8)

_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m)))


def instants(now: dt.datetime) -> st.SearchStrategy[str]:
    """xs:dateTime-ish text: near now, anywhere in datetime's range, edge years, garbage."""
    near = st.integers(-7200, 7200).map(lambda s: format_instant(now + dt.timedelta(seconds=s)))
    anywhere = st.datetimes(timezones=st.none() | _offsets).map(lambda d: d.isoformat())
    edges = st.sampled_from([
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z", "2024-02-30T00:00:00Z", "", " ", "now", "1e309",
        "2024-01-01", "2024-01-01T25:00:00Z", "2024-01-01T00:00:00+24:00",
    ])
    return st.one_of(near, anywhere, edges, xml_text)


def maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


# --- AuthnRequests ---------------------------------------------------------------------------


#: AuthnRequest attributes; each example makes a few of them wild and keeps the rest plausible,
#: so the parser's later checks (and the SSO step after it) are reached, not just the first one.
REQUEST_FIELDS = ("ID", "Version", "IssueInstant", "Destination", "AssertionConsumerServiceURL",
                  "AssertionConsumerServiceIndex", "ProtocolBinding", "ForceAuthn", "IsPassive",
                  "Issuer", "root", "NameIDPolicy", "RequestedAuthnContext", "extra")


@st.composite
def authn_request_xml(draw: st.DrawFn, now: dt.datetime, issuer: str | None = None) -> bytes:
    """An AuthnRequest shaped like real ones, with up to three fields random or absent."""
    wild = draw(st.sets(st.sampled_from(REQUEST_FIELDS), max_size=3))

    def pick(name: str, plausible: st.SearchStrategy[Any], random: st.SearchStrategy[Any]
             ) -> Any:
        return draw(maybe(random) if name in wild else plausible)

    attrs = {
        "ID": pick("ID", st.just("_req1"), xml_text),
        "Version": pick("Version", st.just("2.0"), st.sampled_from(["1.1", "2.00"]) | xml_text),
        "IssueInstant": pick("IssueInstant", st.just(format_instant(now)), instants(now)),
        "Destination": pick("Destination", maybe(st.just(SSO_URL)), xml_text),
        "AssertionConsumerServiceURL": pick(
            "AssertionConsumerServiceURL",
            maybe(st.sampled_from([CONSOLE_ACS, SIGNED_SP_ACS])), xml_text),
        "AssertionConsumerServiceIndex": pick(
            "AssertionConsumerServiceIndex", st.none(),
            st.integers(-3, 5).map(str) | st.sampled_from(["1" * 5000, "٣", " 0 "]) | xml_text),
        "ProtocolBinding": pick("ProtocolBinding", maybe(st.just(Binding.POST.value)),
                                st.sampled_from([b.value for b in Binding]) | xml_text),
        "ForceAuthn": pick("ForceAuthn", maybe(st.sampled_from(["true", "false"])),
                           st.sampled_from(["1", "0", "TRUE", "yes"]) | xml_text),
        "IsPassive": pick("IsPassive", maybe(st.sampled_from(["true", "false"])),
                          st.sampled_from(["1", "0", "TRUE", "yes"]) | xml_text),
    }
    root = etree.Element(f"{SAMLP}AuthnRequest", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         attrib={k: v for k, v in attrs.items() if v is not None})
    if "root" in wild:
        root.tag = draw(st.sampled_from([f"{SAMLP}Response", "AuthnRequest",
                                         f"{SAML}AuthnRequest"]))
    issuer_text = pick("Issuer", st.just(issuer or AWS_ENTITY_ID),
                       st.sampled_from([AWS_ENTITY_ID, SIGNED_SP, " urn:amazon:webservices "])
                       | xml_text)
    if issuer_text is not None:
        el = etree.SubElement(root, f"{SAML}Issuer")
        el.text = issuer_text
        if "Issuer" in wild and draw(st.booleans()):
            el.append(etree.Comment("x"))
            el[-1].tail = draw(xml_text)
    if "NameIDPolicy" in wild or draw(st.booleans()):
        policy = etree.SubElement(root, f"{SAMLP}NameIDPolicy")
        fmt = pick("NameIDPolicy", maybe(st.sampled_from([f.value for f in NameIDFormat])),
                   xml_text)
        if fmt is not None:
            policy.set("Format", fmt)
    if "RequestedAuthnContext" in wild or draw(st.booleans()):
        requested = etree.SubElement(root, f"{SAMLP}RequestedAuthnContext")
        refs = st.sampled_from([c.value for c in AuthnContextClass])
        for ref in draw(st.lists(refs | xml_text if "RequestedAuthnContext" in wild else refs,
                                 max_size=3)):
            etree.SubElement(requested, f"{SAML}AuthnContextClassRef").text = ref
    if "extra" in wild:
        extra = etree.SubElement(root, draw(st.sampled_from(
            [f"{DS}Signature", f"{SAML}Subject", f"{SAMLP}Scoping", "{urn:x}Extension",
             "{http://www.w3.org/2001/XInclude}include"])))
        extra.text = draw(xml_text)
    return etree.tostring(root)


def deflate(data: bytes) -> bytes:
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return squeezer.compress(data) + squeezer.flush()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@st.composite
def garbled(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip, drop, insert or truncate a few bytes."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            break
        i = draw(st.integers(0, len(buf) - 1))
        op = draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
        if op == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "drop":
            del buf[i]
        elif op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=4))
        else:
            del buf[i:]
    return bytes(buf)


@st.composite
def redirect_values(draw: st.DrawFn, now: dt.datetime) -> str:
    """A SAMLRequest for the Redirect binding: proper, deflated junk, garbled, truncated."""
    xml = draw(st.one_of(authn_request_xml(now), authn_request_xml(now, SIGNED_SP),
                         st.binary(max_size=300),
                         st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))))
    kind = draw(st.sampled_from(["deflated"] * 6 + ["garbled-deflate", "raw", "truncated-b64",
                                                    "junk-b64", "zlib-wrapped", "text"]))
    if kind == "deflated":
        return b64(deflate(xml))
    if kind == "garbled-deflate":
        return b64(draw(garbled(deflate(xml))))
    if kind == "raw":
        return b64(xml)
    if kind == "truncated-b64":
        value = b64(deflate(xml))
        return value[: draw(st.integers(0, len(value)))]
    if kind == "zlib-wrapped":
        return b64(zlib.compress(xml))
    if kind == "junk-b64":
        value = b64(deflate(xml))
        at = draw(st.integers(0, len(value)))
        return value[:at] + draw(st.text(max_size=5)) + value[at:]
    return draw(st.text(max_size=80))  # it goes through urlencode, which needs UTF-8


@st.composite
def signed_authn_request(draw: st.DrawFn, now: dt.datetime, keypair: KeyPair) -> bytes:
    """An AuthnRequest from the signing SP with a genuine enveloped signature, maybe tampered."""
    root = etree.fromstring(draw(authn_request_xml(now, SIGNED_SP)))
    if not root.get("ID"):
        root.set("ID", "_signed")
    signed = etree.tostring(sign(root, keypair))
    return draw(st.just(signed) | tree_mutants(signed) | garbled(signed))


@st.composite
def post_values(draw: st.DrawFn, now: dt.datetime, keypair: KeyPair) -> str:
    """A SAMLRequest for the POST binding: proper, signed, garbled, truncated, deflated, junk."""
    xml = draw(st.one_of(authn_request_xml(now), signed_authn_request(now, keypair),
                         st.binary(max_size=300)))
    kind = draw(st.sampled_from(["plain"] * 6 + ["garbled", "truncated-b64", "deflated", "text",
                                                 "whitespace"]))
    if kind == "plain":
        return b64(xml)
    if kind == "garbled":
        return b64(draw(garbled(xml)))
    if kind == "truncated-b64":
        value = b64(xml)
        return value[: draw(st.integers(0, len(value)))]
    if kind == "deflated":
        return b64(deflate(xml))
    if kind == "whitespace":
        return "\n ".join(b64(xml)[i:i + 64] for i in range(0, len(b64(xml)), 64))
    return draw(any_text)


def _sign_query(keypair: KeyPair, query: str) -> str:
    signature = keypair.private_key.sign(query.encode("ascii"), padding.PKCS1v15(),
                                         hashes.SHA256())
    return f"{query}&Signature={quote(b64(signature), safe='')}"


@st.composite
def redirect_queries(draw: st.DrawFn, now: dt.datetime, keypair: KeyPair) -> str:
    """A raw query string: plain, genuinely signed (then maybe tampered with), or random."""
    pairs: list[tuple[str, str]] = [("SAMLRequest", draw(redirect_values(now)))]
    relay = draw(maybe(st.text(max_size=80)))  # urlencode needs UTF-8
    if relay is not None:
        pairs.append(("RelayState", relay))
    style = draw(st.sampled_from(["plain", "signed", "signed", "raw"]))
    if style == "raw":
        return draw(st.text(max_size=200))
    if style == "plain":
        return urlencode(pairs)
    sig_alg = draw(st.just(RSA_SHA256) | st.sampled_from([
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "rsa-sha256", ""]) | st.text(max_size=20))
    query = _sign_query(keypair, urlencode([*pairs, ("SigAlg", sig_alg)]))
    tamper = draw(st.sampled_from(["none", "flip", "repeat", "drop", "append", "unicode"]))
    if tamper == "flip":
        i = draw(st.integers(0, len(query) - 1))
        query = query[:i] + draw(st.characters(max_codepoint=0x7F)) + query[i + 1:]
    elif tamper == "repeat":
        query += "&" + draw(st.sampled_from(["SAMLRequest=x", "SigAlg=x", "Signature=x",
                                             "RelayState=x", "Other=1"]))
    elif tamper == "drop":
        parts = query.split("&")
        del parts[draw(st.integers(0, len(parts) - 1))]
        query = "&".join(parts)
    elif tamper == "append":
        query += draw(st.text(max_size=10))
    elif tamper == "unicode":
        i = draw(st.integers(0, len(query)))
        query = query[:i] + draw(st.text(st.characters(min_codepoint=0x80), min_size=1,
                                         max_size=3)) + query[i:]
    return query


def _continue(idp: IdentityProvider, result: Any) -> None:
    """What the web layer does next with a received request: precheck, answer."""
    if isinstance(result, IdPError):
        return
    pending, sp = result
    checked = outcome(lambda: idp.precheck(pending, sp))
    if isinstance(checked, SamlStatusError):
        form = idp.status_response(pending, checked)
        assert form.saml_field == "SAMLResponse"
        return
    if isinstance(checked, IdPError):
        return
    user = idp.directory.user("alice")
    assert user is not None
    principal = new_principal(user, mfa=False, clock=idp.clock)
    answered = outcome(lambda: idp.respond(pending, principal))
    if not isinstance(answered, IdPError):
        assert answered.action == pending.acs_url


@given(data=st.data())
def test_receive_redirect_never_crashes(idp: IdentityProvider, keypair: KeyPair,
                                        data: st.DataObject) -> None:
    """A Redirect-binding request, however mangled, gives a Pending step or an IdPError."""
    query = data.draw(redirect_queries(idp.clock.now(), keypair), label="query")
    params = dict(parse_qsl(query, keep_blank_values=True))
    _continue(idp, outcome(lambda: idp.receive_redirect(params, query)))


@given(data=st.data())
def test_receive_post_never_crashes(idp: IdentityProvider, keypair: KeyPair,
                                    data: st.DataObject) -> None:
    """A POST-binding request, however mangled, gives a Pending step or an IdPError."""
    value = data.draw(maybe(post_values(idp.clock.now(), keypair)), label="SAMLRequest")
    relay = data.draw(maybe(relay_states), label="RelayState")
    _continue(idp, outcome(lambda: idp.receive_post(value, relay)))


#: RelayState values that have broken URL handling before, plus anything at all.
relay_states = st.sampled_from([
    "http://[x", "https://[::1", "http://a:b/", "//evil.example", "/\\evil", "https://console.aws.amazon.com/s3",
    "https://evil.example@console.aws.amazon.com", "javascript:alert(1)", "x" * 3000]) | any_text


@given(sp=maybe(st.sampled_from([AWS_ENTITY_ID, SIGNED_SP]) | any_text), relay=maybe(relay_states))
def test_idp_initiated_never_crashes(idp: IdentityProvider, sp: str | None,
                                     relay: str | None) -> None:
    """IdP-initiated SSO with any sp= and RelayState gives a Pending step or an IdPError."""
    outcome(lambda: idp.idp_initiated(sp, relay))


@given(value=any_text | st.binary(max_size=200).map(b64), max_bytes=st.integers(0, 4096))
def test_binding_decoders_never_crash(value: str, max_bytes: int) -> None:
    """decode_redirect / decode_post raise MalformedRequest or return bytes for any text."""
    for decode in (decode_redirect, decode_post):
        result = outcome(lambda decode=decode: decode(value, max_bytes=max_bytes))  # type: ignore[misc]
        assert isinstance(result, bytes | IdPError)


@given(xml=st.binary(max_size=400) | authn_request_xml(dt.datetime.now(dt.UTC)))
def test_parse_authn_request_never_crashes(xml: bytes) -> None:
    """The AuthnRequest parser returns a request or raises MalformedRequest for any bytes."""
    outcome(lambda: parse_authn_request(xml))


@given(query=st.text(max_size=200), certs_choice=st.booleans(), sha1=st.booleans())
def test_redirect_signature_check_never_crashes(keypair: KeyPair, query: str,
                                                certs_choice: bool, sha1: bool) -> None:
    """Any raw query string gives a verdict (None or RequestSignatureError), never a crash."""
    certs = (keypair.cert_pem,) if certs_choice else ()
    outcome(lambda: raw_params(query))
    outcome(lambda: verify_redirect_signature(
        query, certs, algorithms=AlgorithmPolicy(allow_sha1=sha1)))


@given(data=st.binary(max_size=600))
def test_hardened_xml_parser_never_crashes(data: bytes) -> None:
    """idp.xml.parse gives a tree or XMLError for any bytes."""
    outcome(lambda: parse_xml(data))


# --- SAML Responses at the STS and the console -------------------------------------------------


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


@st.composite
def tree_mutants(draw: st.DrawFn, xml: bytes) -> bytes:
    """Delete, duplicate, move or rewrite elements and attributes of a genuine Response."""
    root = etree.fromstring(xml)
    for _ in range(draw(st.integers(1, 3))):
        elements = _elements(root)
        target = draw(st.sampled_from(elements))
        parent = target.getparent()
        op = draw(st.sampled_from(["delete", "duplicate", "attribute", "text", "move",
                                   "comment", "rename", "drop-attribute"]))
        if op == "delete" and parent is not None:
            parent.remove(target)
        elif op == "duplicate" and parent is not None:
            twin = copy.deepcopy(target)
            if draw(st.booleans()) and twin.get("ID"):
                twin.set("ID", "_evil" + draw(st.text("abc123", max_size=4)))
            where = draw(st.sampled_from(elements))
            (where if draw(st.booleans()) else parent).append(twin)
        elif op == "attribute":
            names = sorted(target.attrib) or ["ID"]
            target.set(draw(st.sampled_from(names)), draw(xml_text))
        elif op == "text":
            target.text = draw(xml_text)
        elif op == "move" and parent is not None:
            new_parent = draw(st.sampled_from(elements))
            if target not in new_parent.iterancestors() and new_parent is not target:
                new_parent.insert(draw(st.integers(0, len(new_parent))), target)
        elif op == "comment":
            # XML comments may not contain "--" or end with "-" (XML 1.0 §2.5); lxml refuses.
            comment = draw(xml_text.filter(lambda t: "--" not in t and not t.endswith("-")))
            target.insert(draw(st.integers(0, len(target))), etree.Comment(comment))
        elif op == "rename":
            target.tag = draw(st.sampled_from(
                [f"{SAML}Assertion", f"{SAMLP}Response", f"{DS}Signature",
                 f"{SAML}EncryptedAssertion", "{urn:x}Assertion", f"{SAML}Attribute"]))
        elif op == "drop-attribute" and target.attrib:
            del target.attrib[draw(st.sampled_from(sorted(target.attrib)))]
    return etree.tostring(root)


def _attribute_values(name: str) -> st.SearchStrategy[list[str]]:
    arn_part = st.sampled_from([READ_ONLY, PROD_PROVIDER, DEV_PROVIDER,
                                "arn:aws:iam::111122223333:role/Admin",
                                "arn:aws:iam::999999999999:role/X", "arn:aws:iam::", ""])
    role_value = st.builds(lambda a, b, sep: f"{a}{sep}{b}", arn_part, arn_part,
                           st.sampled_from([",", " , ", ",,", ";"]))
    by_name = {
        ROLE_ATTR: st.lists(role_value | xml_text, max_size=4),
        SESSION_NAME_ATTR: st.lists(st.sampled_from(["bob@corp.example", "x", "a" * 65])
                                    | xml_text, max_size=2),
        SESSION_DURATION_ATTR: st.lists(st.integers(-1, 50_000).map(str) | st.sampled_from(
            ["1" * 5000, "900.0", "\uff10\uff19\uff10\uff10"]) | xml_text, max_size=2),
        SOURCE_IDENTITY_ATTR: st.lists(st.sampled_from(["aws:x", "bob"]) | xml_text, max_size=2),
    }
    return by_name.get(name, st.lists(xml_text, max_size=2))


@st.composite
def resigned_mutants(draw: st.DrawFn, xml: bytes, keypair: KeyPair, now: dt.datetime) -> bytes:
    """Change what the Assertion says, then sign it again with the IdP's real key.

    This is what a misconfigured (but trusted) IdP sends: the signature verifies, so every
    semantic check behind it — times, recipient, audience, attributes, STS rules — is reached.
    """
    root = etree.fromstring(xml)
    assertion = root.find(f"{SAML}Assertion")
    assert assertion is not None
    old = assertion.find(f"{DS}Signature")
    assert old is not None
    assertion.remove(old)
    timed = [el for el in _elements(assertion) for a in (
        "IssueInstant", "NotBefore", "NotOnOrAfter", "AuthnInstant", "SessionNotOnOrAfter")
        if el.get(a) is not None]
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["time", "recipient", "audience", "name-id", "attribute",
                                     "add-attribute", "delete"]))
        if what == "time" and timed:
            el = draw(st.sampled_from(timed))
            name = draw(st.sampled_from(sorted(a for a in el.attrib if a in {
                "IssueInstant", "NotBefore", "NotOnOrAfter", "AuthnInstant",
                "SessionNotOnOrAfter"})))
            el.set(name, draw(instants(now)))
        elif what == "recipient":
            for el in assertion.iter(f"{SAML}SubjectConfirmationData"):
                el.set("Recipient", draw(st.sampled_from(
                    [CONSOLE_ACS, "https://signin.aws.amazon.com/saml"]) | xml_text))
        elif what == "audience":
            for el in assertion.iter(f"{SAML}Audience"):
                el.text = draw(st.sampled_from([AWS_ENTITY_ID, CONSOLE_ACS]) | xml_text)
        elif what == "name-id":
            for el in assertion.iter(f"{SAML}NameID"):
                el.text = draw(xml_text)
                el.set("Format", draw(st.sampled_from([f.value for f in NameIDFormat])
                                      | xml_text))
        elif what in ("attribute", "add-attribute"):
            statement = assertion.find(f"{SAML}AttributeStatement")
            if statement is None:
                continue
            name = draw(st.sampled_from([ROLE_ATTR, SESSION_NAME_ATTR, SESSION_DURATION_ATTR,
                                         SOURCE_IDENTITY_ATTR, PRINCIPAL_TAG_PREFIX + "team",
                                         PRINCIPAL_TAG_PREFIX + "aws:x", ROLE_ATTR.lower()])
                        | xml_text)
            if what == "attribute":
                for old_attr in statement.findall(f"{SAML}Attribute[@Name='{ROLE_ATTR}']"
                                                  if name == ROLE_ATTR else f"{SAML}Attribute"):
                    if old_attr.get("Name") == name:
                        statement.remove(old_attr)
            attr = etree.SubElement(statement, f"{SAML}Attribute", Name=name)
            for value in draw(_attribute_values(name)):
                etree.SubElement(attr, f"{SAML}AttributeValue").text = value
        elif what == "delete":
            candidates = [el for el in _elements(assertion) if el is not assertion
                          and el.tag != f"{SAML}Issuer"]
            victim = draw(st.sampled_from(candidates))
            parent = victim.getparent()
            if parent is not None:
                parent.remove(victim)
    resign_assertion(root, keypair)
    return etree.tostring(root)


@st.composite
def saml_assertions(draw: st.DrawFn, genuine: bytes, keypair: KeyPair,
                    now: dt.datetime) -> str:
    """A SAMLAssertion parameter built from a genuine Response, or junk."""
    kind = draw(st.sampled_from(["genuine", "bytes", "tree", "tree", "resigned", "resigned",
                                 "truncated", "junk"]))
    if kind == "genuine":
        return b64(genuine)
    if kind == "bytes":
        return b64(draw(garbled(genuine)))
    if kind == "tree":
        return b64(draw(tree_mutants(genuine)))
    if kind == "resigned":
        return b64(draw(resigned_mutants(genuine, keypair, now)))
    if kind == "truncated":
        value = b64(genuine)
        return value[: draw(st.integers(0, len(value)))]
    return draw(any_text | st.binary(max_size=200).map(b64) | st.just("\n" + b64(genuine)))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=3),
    max_leaves=10,
)
policies = st.one_of(
    _json.map(lambda v: __import__("json").dumps(v)),
    st.integers(1, 2000).map(lambda n: ("[" * n + "]" * n)[:2048]),
    st.sampled_from(['{"Version":"2012-10-17","Statement":[]}', "", "{", "x" * 2049]),
    any_text,
)


STS_FIELDS = ("RoleArn", "PrincipalArn", "SAMLAssertion", "DurationSeconds", "Policy",
              "PolicyArns")


@st.composite
def sts_params(draw: st.DrawFn, genuine: bytes, keypair: KeyPair,
               now: dt.datetime) -> dict[str, str]:
    """AssumeRoleWithSAML parameters: a plausible call with up to three fields made wild."""
    wild = draw(st.sets(st.sampled_from(STS_FIELDS), max_size=3))

    def pick(name: str, plausible: st.SearchStrategy[Any], random: st.SearchStrategy[Any]
             ) -> Any:
        return draw(maybe(random) if name in wild else plausible)

    params: dict[str, str | None] = {
        "RoleArn": pick("RoleArn", st.just(READ_ONLY), st.sampled_from(
            [READ_ONLY + " ", "arn:aws:iam::111122223333:role/Admin", "x" * 19]) | any_text),
        "PrincipalArn": pick("PrincipalArn", st.just(PROD_PROVIDER),
                             st.sampled_from([DEV_PROVIDER, PROD_PROVIDER.lower()]) | any_text),
        "SAMLAssertion": draw(saml_assertions(genuine, keypair, now)),
        "DurationSeconds": pick("DurationSeconds", maybe(st.integers(900, 3600).map(str)),
                                st.integers(-1, 50_000).map(str) | st.sampled_from(
            ["899", "900", "43200", "43201", "1_000", " 3600 ", "3600.0", "1" * 5000, "٣٦٠٠"])
            | any_text),
        "Policy": pick("Policy", st.none(), policies),
    }
    if "PolicyArns" in wild:
        for i in range(draw(st.integers(1, 3))):
            params[f"PolicyArns.member.{i + 1}.arn"] = draw(any_text)
    return {k: v for k, v in params.items() if v is not None}


@FEWER
@given(data=st.data())
def test_sts_assume_role_with_saml_never_crashes(sts: Sts, keypair: KeyPair,
                                                 bob_response: bytes,
                                                 data: st.DataObject) -> None:
    """AssumeRoleWithSAML with mutated genuine Responses and random params: result or AwsError."""
    params = data.draw(sts_params(bob_response, keypair, sts.federation.clock.now()),
                       label="params")
    outcome(lambda: sts.assume_role_with_saml(params))


@FEWER
@given(data=st.data())
def test_console_sign_in_never_crashes(federation: AwsFederation, keypair: KeyPair,
                                       alice_response: bytes, data: st.DataObject) -> None:
    """The console's select_roles (and the role step after it), same inputs: value or error."""
    value = data.draw(saml_assertions(alice_response, keypair, federation.clock.now()),
                      label="SAMLResponse")
    result = outcome(lambda: console.select_roles(federation, value))
    summarize(value)  # the error page's untrusted summary never raises
    if isinstance(result, IdPError):
        return
    role = data.draw(st.sampled_from([g.role_arn for g in result.grants] or [READ_ONLY])
                     | any_text, label="roleIndex")
    outcome(lambda: console.open_session(federation, result, role))


@given(relay=maybe(relay_states))
def test_console_target_never_crashes(relay: str | None) -> None:
    """Any RelayState maps to a path on this site (never an error, never off-site)."""
    target = console.console_target(relay)
    assert target.startswith(console.CONSOLE_HOME)


# --- SigV4 ------------------------------------------------------------------------------------


def _signed_headers(creds: Any, clock: FixedClock, url: str = STS_URL) -> list[tuple[str, str]]:
    request = AWSRequest(method="POST", url=url, data=STS_BODY,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    signer = SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key,
                                   creds.session_token), "sts", "us-east-1")
    signer._get_timestamp = lambda: clock.now().strftime("%Y%m%dT%H%M%SZ")
    signer.add_auth(request)
    return [("Host", urlsplit(url).netloc), *request.headers.items()]


_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@st.composite
def amz_dates(draw: st.DrawFn, genuine: str) -> str:
    return draw(st.one_of(
        st.just(genuine), st.just(genuine.translate(_DIGITS)),
        st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H%M%SZ")),
        st.sampled_from(["20241399T999999Z", "00010101T000000Z", "99991231T235959Z", ""]),
        any_text))


http_dates = st.one_of(
    st.datetimes(timezones=_offsets).map(email.utils.format_datetime),
    st.sampled_from(["Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 01 Jan 0001 00:00:00 +2359",
                     "Thu, 01 Jan 1970 00:00:00 GMT", "", "1 2 3 4 5"]),
    any_text)


@st.composite
def authorization_values(draw: st.DrawFn, genuine: str) -> str:
    """The genuine header, a re-assembled one with garbled parts, or random text."""
    parsed = parse_authorization(genuine)
    credential = "/".join([parsed.access_key_id, parsed.date, parsed.region, parsed.service,
                           "aws4_request"])
    parts = {
        "alg": draw(st.sampled_from(["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", ""]) | any_text),
        "Credential": draw(st.just(credential) | any_text | st.lists(
            st.sampled_from([parsed.access_key_id, parsed.date, "us-east-1", "sts",
                             "aws4_request", "ASIA\udc80", "", "s3"]) | any_text,
            max_size=6).map("/".join)),
        "SignedHeaders": draw(st.just(";".join(parsed.signed_headers)) | st.lists(
            st.sampled_from(["host", "x-amz-date", "x-amz-security-token", "content-type",
                             "x-amz-content-sha256", "", "HOST"]) | any_text,
            max_size=5).map(";".join)),
        "Signature": draw(st.just(parsed.signature) | st.text("0123456789abcdef", min_size=64,
                                                              max_size=64) | any_text),
    }
    if draw(st.integers(0, 3)) == 0:
        return draw(any_text)
    sep = draw(st.sampled_from([", ", ",", " ,", ",,"]))
    body = sep.join(f"{k}={v}" for k, v in parts.items() if k != "alg")
    return f"{parts['alg']} {body}"


SIGV4_PARTS = ("url", "authorization", "x-amz-date", "x-amz-security-token", "drop", "repeat",
               "date", "extra", "method")


@st.composite
def sigv4_requests(draw: st.DrawFn, creds: Any, clock: FixedClock
                   ) -> tuple[str, str, list[tuple[str, str]]]:
    """(method, url, headers): a genuine signed request with up to two parts garbled."""
    wild = draw(st.sets(st.sampled_from(SIGV4_PARTS), max_size=2))
    url = STS_URL
    if "url" in wild:
        url = draw(st.sampled_from([
            "http://[/aws/sts", "http://idp.test:99999/aws/sts", "http://idp.test/aws/sts/",
            "http://idp.test/aws/sts?X-Amz-Signature=1", "http://idp.test/aws/%ZZ",
            "http://idp.test/aws/\udc80", "not a url", ""]) | any_text)
    out: list[tuple[str, str]] = []
    for name, value in _signed_headers(creds, clock):
        key = name.lower()
        if key == "authorization" and key in wild:
            value = draw(authorization_values(value))
        elif key == "x-amz-date" and key in wild:
            value = draw(amz_dates(value))
        elif key == "x-amz-security-token" and key in wild:
            value = draw(st.builds(b64, garbled(base64.b64decode(value))) | any_text)
        if "drop" in wild and draw(st.integers(0, 3)) == 0:
            continue
        out.append((name, value))
        if "repeat" in wild and draw(st.integers(0, 3)) == 0:
            out.append((name, draw(any_text)))
    if "date" in wild:
        out.append(("Date", draw(http_dates)))
    if "extra" in wild:
        out.append((draw(st.sampled_from(["x-amz-content-sha256", "Host", "X-Amz-Date"])
                         | any_text), draw(any_text)))
    method = draw(st.sampled_from(["GET", "post"]) | any_text) if "method" in wild else "POST"
    return method, url, out


@given(data=st.data())
def test_sigv4_verify_request_never_crashes(federation: AwsFederation, sts_credentials: Any,
                                            data: st.DataObject) -> None:
    """verify_request with garbled Authorization, dates, tokens and URLs: claims or AwsError."""
    clock = federation.clock
    assert isinstance(clock, FixedClock)
    method, url, headers = data.draw(sigv4_requests(sts_credentials, clock), label="request")
    body = data.draw(st.sampled_from([STS_BODY] * 4) | st.binary(max_size=50), label="body")
    outcome(lambda: verify_request(SignedRequest(method=method, url=url, headers=headers,
                                                 body=body),
                                   credentials=federation.credentials, clock=clock))


@given(value=any_text)
def test_sigv4_parse_authorization_never_crashes(value: str) -> None:
    """parse_authorization splits any header value or raises IncompleteSignature."""
    outcome(lambda: parse_authorization(value))


@given(akid=any_text, token=any_text)
def test_credential_resolve_never_crashes(federation: AwsFederation, sts_credentials: Any,
                                          akid: str, token: str) -> None:
    """CredentialIssuer.resolve with random or half-genuine key pairs: claims or AwsError."""
    issuer = federation.credentials
    outcome(lambda: issuer.resolve(akid, token))
    outcome(lambda: issuer.resolve(akid, sts_credentials.session_token))
    outcome(lambda: issuer.resolve(sts_credentials.access_key_id, token))


@given(policy=_json, context=st.dictionaries(st.sampled_from(["saml:aud", "saml:sub", "x"]),
                                             st.lists(st.text(max_size=5), max_size=2)
                                             .map(tuple), max_size=3))
def test_trust_policy_evaluation_never_crashes(policy: Any, context: dict[str, tuple[str, ...]]
                                               ) -> None:
    """evaluate_trust_policy gives a Decision for any JSON-shaped document and context."""
    request = TrustRequest(principal_federated=PROD_PROVIDER,
                           actions=("sts:AssumeRoleWithSAML",), context=context)
    outcome(lambda: evaluate_trust_policy(policy if isinstance(policy, dict) else
                                          {"Statement": policy}, request))


@given(code=st.text(st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=20),
       message=any_text)
def test_sts_error_document_never_crashes(code: str, message: str) -> None:
    """An STS ErrorResponse can be rendered for any message (messages echo request input)."""
    from idp.aws.wire import error_response

    error = type("AnyError", (AwsError,), {"code": code})(message)
    assert error_response(error, "req").startswith(b"<ErrorResponse")


# --- the directory file -----------------------------------------------------------------------

#: The demo with hashed passwords (so each example does not spend 4 x 60,000 PBKDF2 rounds).
FAST_HASH = "pbkdf2-sha256$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


def _fast_hashes(demo: dict[str, Any]) -> None:
    for user in demo["users"].values():
        user.pop("password", None)
        user["password_hash"] = FAST_HASH


def _with_policy(demo: dict[str, Any]) -> None:
    _fast_hashes(demo)
    demo["accounts"][DEV]["roles"]["Developer"]["trust_policy"] = {
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": DEV_PROVIDER},
            "Action": ["sts:AssumeRoleWithSAML"]}]}


DEMO = demo_text(_fast_hashes)
#: The demo with an explicit trust policy, so mutations reach the policy reader too.
DEMO_WITH_POLICY = demo_text(_with_policy)
YAML_TOKENS = st.sampled_from([
    "", "~", "null", "[]", "{}", "- x", "&a [*a]", "*a", "!!binary '@@'", "!!int x",
    "!!float x", "!!timestamp x", "!!python/object:os.system x", "? [a]: b", "'", '"',
    "{a: !!int x}", "[1, {b: [}", "2012-10-17", "0x1F", "1e400", "yes", "-", ":", "|",
    "\t", "%YAML 1.1", "---", "...", "!!set {a}", "!!omap [a: 1]", "<<: *a",
    '"\\ud800"', "\u2028", "\ufeff",
])


@st.composite
def mutated_demo(draw: st.DrawFn) -> str:
    """The demo directory with a few lines deleted, duplicated, re-indented or rewritten."""
    lines = draw(st.sampled_from([DEMO, DEMO_WITH_POLICY])).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "indent", "value", "key", "insert"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(YAML_TOKENS | st.text(max_size=20))}"
        elif op == "key" and ":" in lines[i]:
            indent = len(lines[i]) - len(lines[i].lstrip())
            lines[i] = " " * indent + draw(st.text(max_size=10)) + ":" + lines[i].split(":", 1)[1]
        else:
            lines.insert(i, lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                         + draw(YAML_TOKENS | st.text(max_size=20)))
        if not lines:
            break
    return "\n".join(lines)


yaml_ish = st.one_of(
    st.lists(YAML_TOKENS | st.text(max_size=20), max_size=12).map(" ".join),
    st.text(max_size=200),
    st.builds(lambda opener, n: opener * n, st.sampled_from(["[", "{a: ", "- ", "a:\n "]),
              st.integers(1, 3000)),
)


@given(text=mutated_demo() | yaml_ish)
def test_parse_directory_only_raises_config_error(text: str) -> None:
    """Any YAML-ish text, or a mutated demo, gives a Directory or a ConfigError — nothing else."""
    from idp.errors import ConfigError

    result = outcome(lambda: parse_directory(text, aws_acs=CONSOLE_ACS, source="fuzz.yaml"))
    if isinstance(result, IdPError):
        assert isinstance(result, ConfigError), repr(result)


def test_demo_directory_with_fast_hashes_still_parses() -> None:
    """Control case: the fuzz seed (demo with cheap hashes) is itself a valid directory."""
    for seed in (DEMO, DEMO_WITH_POLICY):
        directory = parse_directory(seed, aws_acs=CONSOLE_ACS)
        assert set(directory.users) == {"alice", "bob", "carol", "dave"}


# --- strict-xfail pins for crashes in files other engineers own ---------------------------------


def test_signed_out_of_range_instant_is_refused(sts: Sts, keypair: KeyPair,
                                               bob_response: bytes) -> None:
    """A signed Response whose NotOnOrAfter is year 1 with a +01:00 offset gives a clean error."""
    def change(root: etree._Element) -> None:
        for el in assertion_of(root).iter(f"{SAML}SubjectConfirmationData"):
            el.set("NotOnOrAfter", "0001-01-01T00:00:00+01:00")

    value = resigned(b64(bob_response), keypair, change)
    with pytest.raises(IdPError):
        sts.assume_role_with_saml(assume_role_params(value))


@pytest.mark.parametrize("element", ["KeyInfo", "SignatureValue"])
def test_emptied_signature_parts_are_refused(sts: Sts, bob_response: bytes,
                                             element: str) -> None:
    """A genuine Response with an emptied KeyInfo or SignatureValue is an AwsError (was a 500)."""
    root = etree.fromstring(bob_response)
    emptied = root.find(f".//{DS}{element}")
    assert emptied is not None
    for child in list(emptied):
        emptied.remove(child)
    emptied.text = None
    with pytest.raises(IdPError):
        sts.assume_role_with_saml(assume_role_params(b64(etree.tostring(root))))


def test_deeply_nested_policy_is_malformed(sts: Sts, bob_response: bytes) -> None:
    """A deeply nested (but short) Policy parameter is MalformedPolicyDocument, not a crash."""
    with pytest.raises(IdPError):
        sts.assume_role_with_saml(assume_role_params(b64(bob_response),
                                                     Policy="[" * 1024 + "]" * 1024))
