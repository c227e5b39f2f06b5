"""Option ranges as argparse types (:func:`int_in`, :func:`float_in`): a bad value stops a command at
parsing, with exit code 2 and the option's name, before anything is loaded. Used by every command's
options, ``--seed`` and ``--threads`` included (this module imports nothing of bghop)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_in", "float_in"]


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _describe(lo, hi, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_number(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_number(hi)}")
    return " and ".join(parts)


def int_in(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[lo, hi]`` (either bound may be None)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be a whole number {_describe(lo, hi, False, False)}, got {v}")
        return v

    parse.__name__ = "int"
    return parse


def float_in(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
             hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in the range (open at an end when asked)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not (v == v and abs(v) != float("inf"))
        if lo is not None:
            bad |= v <= lo if lo_open else v < lo
        if hi is not None:
            bad |= v >= hi if hi_open else v > hi
        if bad:
            raise argparse.ArgumentTypeError(f"must be a number {_describe(lo, hi, lo_open, hi_open)}, got {text}")
        return v

    parse.__name__ = "float"
    return parse
