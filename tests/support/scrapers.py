"""What the command-line tools that scrape IdP pages need of every tag (``assert_scrapable``).

- awsprocesscreds re-escapes every attribute of the first form and its inputs, and
  ``escape(None)`` crashes on a valueless (boolean) attribute such as ``autofocus``
  (``awsprocesscreds/saml.py`` ``FormParser``); it posts every ``<input>`` by its ``name``;
- saml2aws's AD FS provider stops on an ``<input>`` without a name (``pkg/provider/adfs``);
  samlkeygen posts the hidden inputs of a form by ``type``, ``name`` and ``value``;
- awsprocesscreds and samlkeygen read the SAMLResponse from the first form;
- alohomora joins a form's ``action`` to the IdP's origin, so it must be root-relative, and
  awsprocesscreds requires ``https://`` once joined; an answer page's first form posts to the
  SP's ACS, an absolute URL wherever the SP lives.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

__all__ = ["assert_scrapable", "form_by_id"]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:  # awsprocesscreds' FormParser: escape(None) raises
                self.problems.append(f"<{tag}> has a valueless attribute {name!r}")
        attributes = dict(attrs)
        if tag == "form":
            self._form = {"attrs": attributes, "inputs": []}
        elif tag == "input":
            for required in ("name", "type", "value"):
                if attributes.get(required) is None:
                    self.problems.append(f"<input {attributes}> has no {required!r}")
            if self._form is not None:
                self._form["inputs"].append(attributes)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None


def assert_scrapable(html: str, *, answer: bool = False,
                     acs: str | None = None) -> list[dict[str, Any]]:
    """Every attribute has a value, every ``<input>`` a name, type and value, every form
    action is root-relative or absolute https; with ``answer``, the first form carries the
    SAMLResponse (first) and posts it to the SP's ACS (``acs`` when given). Returns the forms
    (``{"attrs": {...}, "inputs": [{...}, ...]}``)."""
    page = _Forms()
    page.feed(html)
    page.close()
    assert not page.problems, page.problems
    for index, form in enumerate(page.forms):
        action = form["attrs"].get("action") or ""
        if answer and index == 0:
            assert acs is None or action == acs, action
            continue
        assert (action.startswith("/") and not action.startswith("//")) \
            or action.startswith("https://"), f"form action {action!r}"
    if answer:
        assert page.forms, html[:500]
        first = page.forms[0]["inputs"]
        assert first and first[0]["name"] == "SAMLResponse", first
    return page.forms


def form_by_id(html: str, form_id: str) -> dict[str, Any]:
    for form in assert_scrapable(html):
        if form["attrs"].get("id") == form_id:
            return form
    raise AssertionError(f"no form#{form_id} in\n{html[:2000]}")
