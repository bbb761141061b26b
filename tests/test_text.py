"""``idp.text.has_lone_surrogate``: what JSON bodies the admin API and the Okta surface refuse."""

from __future__ import annotations

import json

import pytest

from idp.text import has_lone_surrogate


@pytest.mark.parametrize("body", [
    '"\\ud800"', '{"\\udfff": 1}', '{"a": ["x", {"b": "\\ud83d"}]}', '[1, 2, "ok\\udc00"]'])
def test_an_unpaired_surrogate_anywhere_is_found(body: str) -> None:
    assert has_lone_surrogate(json.loads(body))


@pytest.mark.parametrize("body", [
    '"\\ud83d\\ude00"', '{"name": "caf\\u00e9", "n": 1.5, "t": true, "z": null}', '[]'])
def test_valid_text_is_not(body: str) -> None:
    assert not has_lone_surrogate(json.loads(body))


def test_nesting_as_deep_as_json_allows_does_not_exhaust_the_stack() -> None:
    deep: object = "\ud800"
    for _ in range(50_000):
        deep = [deep]
    assert has_lone_surrogate(deep)
