"""Checkers of config values, shared by the owners of those values (dataset kinds, criteria, front ends) and by
asc/pipeline/validate.py: each raises :class:`~asc.core.errors.ConfigError` in one line naming the key, the value and what is
valid. Pure Python: planning imports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from asc.core.errors import ConfigError


def fail(key: str, value: Any, expected: str) -> None:
    raise ConfigError(f"{key}={value!r} is not valid: expected {expected}")


def choice(key: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        fail(key, value, "one of " + ", ".join(map(str, choices)))


def integer(key: str, value: Any, low: int) -> None:
    """An integer >= ``low`` as written (a whole number in float notation, ``4.0`` or ``1e3``, is refused saying
    how to write it: the value enters artifact keys and counts as written; :func:`whole` accepts it where not)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= low:
        fail(
            key,
            value,
            f"an integer >= {low}, written without a decimal point or exponent: {key}={int(value)}",
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        fail(key, value, f"an integer >= {low}")


def whole(key: str, value: Any, low: int) -> int:
    """``value`` as an int where it is a whole number >= ``low`` in either notation (``15000000`` or ``1.5e7``,
    which YAML and Hydra read as a float), for a count that no key holds as written (e.g. a MAC budget); a value
    with a fractional part, or not a number, is refused in one line."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        fail(key, value, f"a whole number >= {low}, e.g. 15000000 or 1.5e7")
    if not float(value).is_integer():
        fail(key, value, f"a whole number >= {low} ({value!r} has a fractional part)")
    if value < low:
        fail(key, value, f"a whole number >= {low}")
    return int(value)


def boolean(key: str, value: Any, *, none: bool = False) -> None:
    if not (isinstance(value, bool) or (none and value is None)):
        fail(key, value, "true or false" + (" or null" if none else ""))


def listed(key: str, value: Any) -> list[Any]:
    """``value`` as a list (null: empty); a scalar is refused with how to write the list."""
    if value is None:
        return []
    if not isinstance(value, list):  # Hydra reads `fractions=0.5` as a number: say how to write the list
        fail(key, value, f"a list, e.g. {key.split('.')[-1]}=[{value}]")
    return value


def number(key: str, value: Any, low: float, high: float, *, low_open: bool = True, high_open: bool = False):
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        fail(key, value, f"a number in {interval}")
