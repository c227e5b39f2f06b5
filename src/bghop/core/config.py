"""Config dataclasses from JSON-style dicts: unknown keys fail, JSON lists become tuples.

Every config in bghop round-trips through ``dataclasses.asdict`` → JSON → :func:`config_from_dict`,
so a checkpoint is rebuilt from its own config, and a typo or a key from another version is an
error rather than a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["config_from_dict", "legacy_parts", "set_fields"]

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


def legacy_parts(what: str, kwargs: Mapping[str, Any], mapping: Mapping[str, tuple[str, str]],
                 stacklevel: int = 3) -> dict[str, dict[str, Any]]:
    """Sort keyword arguments of an earlier, flat config layout into the nested configs that hold them now.

    Args:
        what: the config's name for messages (``"EnergyConfig"``).
        kwargs: the flat keywords given.
        mapping: flat name → (nested field, its key).
        stacklevel: where the :class:`DeprecationWarning` points.
    Returns:
        ``{nested field: {key: value}}``.
    Raises:
        TypeError: a keyword that is neither a field nor a known flat name.
    """
    unknown = set(kwargs) - set(mapping)
    if unknown:
        raise TypeError(f"{what}() got unexpected keyword argument(s) {sorted(unknown)}")
    parts: dict[str, dict[str, Any]] = {}
    for k, v in kwargs.items():
        part, key = mapping[k]
        parts.setdefault(part, {})[key] = v
    if kwargs:
        where = ", ".join(f"{k} -> {'.'.join(mapping[k])}" for k in kwargs)
        warnings.warn(f"{what}: flat keywords are deprecated ({where})", DeprecationWarning, stacklevel=stacklevel)
    return parts


def set_fields(obj: Any, **values: Any) -> None:
    """Set the fields of a frozen dataclass from its own ``__init__`` (one written by hand)."""
    for k, v in values.items():
        object.__setattr__(obj, k, v)
