from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pytest

from bghop.core.config import config_from_dict


@dataclass(frozen=True)
class Inner:
    size: int = 1


@dataclass(frozen=True)
class Outer:
    mult: tuple[int, ...] = (1, 2)
    pairs: tuple[tuple[str, float], ...] = (("a", 1.0),)
    inner: Inner = field(default_factory=Inner)
    name: str = "x"


def test_json_round_trip_nested_and_tuples():
    import json

    o = Outer(mult=(3, 4), pairs=(("b", 2.0),), inner=Inner(5))
    d = json.loads(json.dumps(asdict(o)))
    assert config_from_dict(Outer, d, "outer", nested={"inner": lambda x: config_from_dict(Inner, x, "inner")}) == o
    assert config_from_dict(Outer, {}, "outer") == Outer()


def test_unknown_keys_fail_with_the_name():
    with pytest.raises(ValueError, match=r"unknown outer keys: \['typo'\]"):
        config_from_dict(Outer, {"typo": 1}, "outer")
