"""The command line's number types: ranges, open ends, inf and nan refused by name."""

from __future__ import annotations

import argparse

import pytest

from composer_app.ml.options import finite_number, whole_number


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (whole_number(1, 10), "1", 1),
        (whole_number(1, 10), "10", 10),
        (whole_number(0), "123456789012", 123456789012),
        (finite_number(0.0), "0", 0.0),
        (finite_number(0.0, 1.0, low_open=True), "1", 1.0),
        (finite_number(-1.0, 1.0), "-1e0", -1.0),
    ],
)
def test_options_accept_the_ends_of_their_ranges(parse, text: str, expected) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (whole_number(1, 10), "0", "must be at least 1, got 0"),
        (whole_number(1, 10), "11", "must be at most 10, got 11"),
        (whole_number(1), "1.5", "expected a whole number, got '1.5'"),
        (finite_number(0.0), "inf", "must be a finite number, got 'inf'"),
        (finite_number(0.0), "nan", "must be a finite number, got 'nan'"),
        (finite_number(0.0), "-0.5", "must be at least 0, got -0.5"),
        (finite_number(0.0, 1.0, low_open=True), "0", "must be more than 0, got 0"),
        (finite_number(0.0, 1.0), "1.5", "must be at most 1, got 1.5"),
        (finite_number(0.0), "fast", "expected a number, got 'fast'"),
    ],
)
def test_options_refuse_with_a_message_naming_the_range(parse, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(")):
        parse(text)


def test_options_bad_value_exits_with_status_2_naming_the_option(capsys) -> None:
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--threads", type=whole_number(1, 256))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--threads", "0"])
    assert exited.value.code == 2
    assert "--threads: must be at least 1, got 0" in capsys.readouterr().err
