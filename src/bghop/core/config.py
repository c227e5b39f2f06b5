"""Config dataclasses from JSON-style dicts: unknown keys fail, JSON lists become tuples.

Every config in bghop round-trips through ``dataclasses.asdict`` → JSON → :func:`config_from_dict`,
so a checkpoint is rebuilt from its own config, and a typo or a key from another version is an
error rather than a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["config_from_dict"]

T = TypeVar("T")


def config_from_dict(cls: type[T], d: Mapping[str, Any], what: str,
                     nested: Mapping[str, Callable[[Any], Any]] | None = None) -> T:
    """Build the dataclass ``cls`` from ``d``.

    Args:
        cls: a dataclass type.
        d: its fields by name (missing ones take their defaults).
        what: a name for error messages ("UNet config").
        nested: converters for fields that hold other configs, by field name.
    Raises:
        ValueError: ``d`` has keys that ``cls`` does not.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}")
    nested = nested or {}
    kw = {}
    for k, v in d.items():
        if k in nested and v is not None:
            v = nested[k](v)
        elif isinstance(v, list) and str(fields[k].type).startswith("tuple"):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        kw[k] = v
    return cls(**kw)
