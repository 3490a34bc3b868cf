"""Argument types for the numbers of the command line (``train``, ``evaluate``, ``generate``).

Each returns a parser for ``argparse``'s ``type=``: a value out of range is refused while the
command line is read, with the option named and exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``low..high`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse


def finite_number(
    low: float, high: float | None = None, low_open: bool = False
) -> Callable[[str], float]:
    """A finite number from ``low`` (excluded when ``low_open``) to ``high`` (no upper bound
    when None); inf and nan are refused by name."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low_open and not value > low:
            raise argparse.ArgumentTypeError(f"must be more than {low:g}, got {value:g}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {value:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {value:g}")
        return value

    return parse
