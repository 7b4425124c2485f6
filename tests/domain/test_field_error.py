"""Refusals lead with the field a msgspec error names, whatever msgspec says after it."""

from __future__ import annotations

import msgspec
import pytest

from poolstats.domain.field_error import field_problem


class Share(msgspec.Struct):
    ts: list[int]
    worker: str


class Template(msgspec.Struct):
    transactions: list[dict[str, str]]


def _error(data: object, model: type) -> msgspec.ValidationError:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(data, model)
    return caught.value


def test_a_wrong_type_is_the_field_it_sits_in() -> None:
    field, problem = field_problem(_error({"ts": [1, "x"], "worker": "a"}, Share))
    assert field == "ts"
    assert problem and "ts" not in problem.split()[-1]  # the path is not repeated after it


def test_a_missing_field_is_required() -> None:
    assert field_problem(_error({"ts": [1]}, Share)) == ("worker", "is required")


def test_a_nested_path_names_the_top_level_field() -> None:
    field, _ = field_problem(_error({"transactions": [{"txid": 1}]}, Template))
    assert field == "transactions"


def test_an_error_naming_no_field_keeps_its_text() -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert([1], Share)
    field, problem = field_problem(caught.value)
    assert field is None
    assert problem == str(caught.value)
