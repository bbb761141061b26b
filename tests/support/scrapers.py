"""What the command-line tools that scrape IdP pages need of every tag (``check_page``).

- awsprocesscreds re-escapes every attribute of the first form and its inputs, and
  ``escape(None)`` crashes on a valueless (boolean) attribute such as ``autofocus``
  (``awsprocesscreds/saml.py`` ``FormParser``); it posts every ``<input>`` by its ``name``;
- saml2aws's AD FS provider stops on an ``<input>`` without a name (``pkg/provider/adfs``);
- awsprocesscreds and samlkeygen read the SAMLResponse from the first form;
- alohomora joins a form's ``action`` to the IdP's origin, so it must be root-relative, and
  awsprocesscreds requires ``https://`` once joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Scraped", "check_page", "scrape"]


@dataclass
class Scraped:
    valueless: list[str] = field(default_factory=list)
    inputs: list[dict[str, str | None]] = field(default_factory=list)
    forms: list[dict[str, str | None]] = field(default_factory=list)
    first_form_inputs: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = Scraped()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                self.found.valueless.append(f"<{tag} {name}>")
        if tag == "form":
            self.found.forms.append(dict(attrs))
        if tag == "input":
            self.found.inputs.append(dict(attrs))
            if len(self.found.forms) == 1:
                self.found.first_form_inputs.append(dict(attrs).get("name") or "")

    handle_startendtag = handle_starttag


def scrape(html: str) -> Scraped:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.found


def check_page(html: str, *, answer: bool = False) -> Scraped:
    """Assert the page suits every scraper; with ``answer``, that its first form carries the
    SAMLResponse (and posts it to the SP's ACS, wherever that is). Returns what was
    scraped."""
    found = scrape(html)
    assert not found.valueless, f"valueless attributes: {found.valueless}"
    for attrs in found.inputs:
        assert attrs.get("name"), f"an <input> without a name: {attrs}"
        assert "type" in attrs and "value" in attrs, f"an <input> without type or value: {attrs}"
    for index, form in enumerate(found.forms):
        if answer and index == 0:
            continue  # the SP's ACS: an absolute URL wherever the SP lives
        action = form.get("action") or ""
        assert (action.startswith("/") and not action.startswith("//")) or \
            action.startswith("https://"), f"form action {action!r}: root-relative or https"
    if answer:
        assert found.forms, "no form"
        assert "SAMLResponse" in found.first_form_inputs, found.first_form_inputs
    return found
