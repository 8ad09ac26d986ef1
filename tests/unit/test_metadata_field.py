"""The metadata field's answers: which text it refuses, by path, and which it keeps."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from runs.serializers import MetadataField


def refusal(value) -> str:
    with pytest.raises(ValidationError) as caught:
        MetadataField().to_internal_value(value)
    return str(caught.value.detail[0])


@pytest.mark.parametrize(
    "value",
    [
        {"escaped": "\\u0000 is how JSON writes NUL"},
        {"\\u0000": ["\\\\u0000"]},
        {"unicode": "naïve ☃ \U0001f600", "nested": [{"n": 1, "f": 2.5, "b": None}]},
    ],
)
def test_text_that_only_looks_like_nul_is_kept(value, settings):
    assert MetadataField().to_internal_value(value) == value


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ({"a": [{"b": "x\x00"}]}, "a.0.b: Must not contain NUL characters."),
        ({"a": {"\x00": 1}}, "a.\x00: The key: Must not contain NUL characters."),
        ({"a": "\ud800"}, "a: Must be valid Unicode: it holds a lone surrogate"),
        # Named before what else is wrong with the document.
        ({"n": float("nan"), "t": "\x00"}, "t: Must not contain NUL characters."),
        ({"big": "x" * 70_000, "t": "\x00"}, "t: Must not contain NUL characters."),
    ],
)
def test_unstorable_text_is_refused_by_its_path(value, answer, settings):
    settings.CHM_RUN_METADATA_MAX_BYTES = 65_536
    assert refusal(value).startswith(answer)


def test_values_json_cannot_hold_and_size_are_refused(settings):
    settings.CHM_RUN_METADATA_MAX_BYTES = 100
    assert refusal({"n": float("inf")}) == "Must contain only JSON values (no NaN or Infinity)."
    assert refusal({"s": "é" * 60}) == "Too large: at most 100 bytes of JSON."
