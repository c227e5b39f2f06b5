"""Physical check of a grasp made by a pair of actuated robot hands in MuJoCo (issue 22).

Protocol (issue 22's acceptance test): the hands' bases fixed at ``base_pose``, the model's own position
actuators (with the model's own gains) holding ``ctrl``, the object a free body of 0.2 kg with friction 1.0
(convex-hull collision), gravity along each of ±x, ±y, ±z of the object frame for 1 s; the grasp **succeeds**
when every displacement of the object's centre of mass stays under 2 cm, each hand touches the object with at
least two links, and no hand–object contact is more than 5 mm deep. How it is run (:func:`simulate_robot_grasp`):

* **Scene** (:func:`robot_scene`, :class:`mujoco.MjSpec`): each MJCF loses its visual-only geoms (``contype ==
  conaffinity == 0``; LEAP's 4.5 MB visual palm mesh made a compile take 0.5 s, 7 ms without) and any free joint
  of its root body, whose pose becomes ``base_pose``; it is attached with the prefix ``"right/"`` or ``"left/"``.
  All else is kept (collision geoms, excludes, joints, actuators, gains), and so are the first hand's options
  (LEAP: implicitfast, elliptic cone, impratio 100). The hands collide with each other by MuJoCo's defaults. The
  object is a free body of mesh geoms: its convex hull (``object_collision="hull"``, the protocol) or
  :func:`bghop.eval.physics.convex_pieces` (``"pieces"``), weighing exactly ``object_mass`` in all.
* **Contact parameters**: the object geoms have sliding friction ``friction``, condim 3 and a ``priority`` above
  every hand geom's, so each hand–object contact takes exactly the object geom's friction (1.0), condim, solref
  and solimp whatever the hand's are (LEAP: friction 0.2, tips 0.5; without the priority MuJoCo takes the larger
  friction, 1.0 here too, and averages the softness). The object's solref/solimp are the hand's own (the most
  common pair of its collision geoms; LEAP: solref 0.0001 1, raised by MuJoCo to twice the timestep, solimp
  0.999 0.999 0.001): on a LEAP box squeeze 0.3 rad past first contact, MuJoCo's default softness (solref 0.02 1)
  let the fingertips sink 6.5 mm into the object (10 mm at a 1 ms step), the hand's own 0.1 mm.
* **Timestep** 2 ms (MuJoCo's default; LEAP's MJCF sets none): the grasps of ``tests/test_robot_physics.py``
  give the same verdicts at 1 ms, in about three times the time.
* **Phases**, in the object frame shifted by :func:`~bghop.eval.physics.simulation_centre` as in
  :mod:`bghop.eval.physics` (results do not depend on where the object is): from ``qpos``, with ``ctrl`` as the
  actuators' targets, ``settle`` s without gravity (the fingers are driven towards ``ctrl``: the squeeze builds
  up); the settled state (simulated once) starts each direction. Displacement: the object's centre-of-mass
  movement during the ``duration`` s with gravity on.
* **Contacts and depth**: MuJoCo's hand–object contacts (with the model's margins: 0 for LEAP). Depth is
  ``-dist`` of the deepest (0 when none penetrates), at ``qpos`` before any step (``depth_initial``) and after the
  settle phase (``depth_settled``), when ``links_in_contact`` counts each hand's bodies touching the object.
* **Divergence**: a phase in which MuJoCo warns of an unstable simulation (BADQPOS/QVEL/QACC; it then silently
  resets the state) counts as an infinite displacement, as in :mod:`bghop.eval.physics` (``extra["diverged"]``).

Joint dictionaries use the MJCF's joint names (no side prefix); an unknown name raises :class:`ValueError`
listing the valid ones. A joint missing from ``qpos`` keeps the MJCF's ``qpos0`` (0 for LEAP) and is listed in
``extra["missing_joints"]``; an actuated joint missing from ``ctrl`` holds its ``qpos``; MuJoCo clamps targets
to ``ctrlrange``; positions outside a joint's range are listed in ``extra["out_of_range"]``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from bghop.eval.physics import (
    DIRECTIONS,
    PhysicsConfig,
    convex_pieces,
    route_mujoco_warnings,
    simulation_centre,
)
from bghop.hands.robot import collision_spec

logger = logging.getLogger(__name__)

__all__ = ["SIDES", "RobotHandState", "RobotPhysicsConfig", "RobotScene", "RobotStabilityResult", "robot_scene",
           "simulate_robot_grasp"]

#: the hands, in the order they are attached
SIDES = ("right", "left")
_DEFAULT_SOFTNESS = ((0.02, 1.0), (0.9, 0.95, 0.001, 0.5, 2.0))  # MuJoCo's: used when the hands have no collision geom


@dataclass(frozen=True)
class RobotPhysicsConfig:
    """Settings of the robot-hand stability test (see the module docstring).

    Attributes:
        object_mass: mass of the whole object, kg (whatever its volume); friction: of every hand–object contact.
        object_collision: ``"hull"`` (the object's convex hull, the protocol) or ``"pieces"``
            (:func:`bghop.eval.physics.convex_pieces`, for non-convex objects).
        duration: s with gravity on, per direction; settle: s without gravity first (``qpos`` driven to ``ctrl``).
        success_threshold: largest allowed displacement per direction, m; depth_limit: deepest allowed
            hand–object contact (initial and settled), m; min_links: bodies of each hand that must touch the
            object after the settle phase.
        timestep: MuJoCo step, s; gravity: m/s².
    """

    object_mass: float = 0.2
    friction: float = 1.0
    object_collision: str = "hull"
    duration: float = 1.0
    settle: float = 0.3
    success_threshold: float = 0.02
    depth_limit: float = 0.005
    min_links: int = 2
    timestep: float = 0.002
    gravity: float = 9.81

    def __post_init__(self):
        if self.object_collision not in ("hull", "pieces"):
            raise ValueError(f"object_collision must be 'hull' or 'pieces', got {self.object_collision!r}")
        positive = ("object_mass", "friction", "duration", "timestep", "gravity", "success_threshold")
        bad = [k for k in positive if not getattr(self, k) > 0] + [
            k for k in ("settle", "depth_limit", "min_links") if not getattr(self, k) >= 0]
        if bad:
            raise ValueError(f"RobotPhysicsConfig: {', '.join(bad)} out of range ({', '.join(positive)}: positive; "
                             "settle, depth_limit, min_links: not negative)")


@dataclass
class RobotHandState:
    """One hand of a ``robot.json``.

    Attributes:
        mjcf: the hand's MJCF file; base_pose: ``(4, 4)`` pose of its root body (LEAP: the palm) in the object frame, m.
        qpos: joint name → position (rad; m for a slide joint): the configuration that touches.
        ctrl: actuated joint name → actuator target; None: ``qpos`` (hold the configuration).
    """

    mjcf: Path
    base_pose: np.ndarray
    qpos: dict[str, float]
    ctrl: dict[str, float] | None = None


@dataclass
class RobotStabilityResult:
    """Outcome of :func:`simulate_robot_grasp`.

    Attributes:
        displacement: direction (``"+x"`` …) → centre-of-mass displacement with gravity on, m.
        success: ``held``, each hand touching the object with ``min_links`` bodies after the settle phase, and
            neither depth over ``depth_limit``; held: every displacement under ``success_threshold``.
        links_in_contact: side → distinct bodies of that hand touching the object after the settle phase.
        depth_initial / depth_settled: deepest hand–object contact at ``qpos`` before any step / after the
            settle phase, m (0: none penetrates).
        mass: object mass, kg; steps: ``mj_step`` calls (settle once, then each direction); seconds: wall clock.
        extra: ``"hand_hand_depth"`` (deepest contact between the two hands at ``qpos``, m) and, when there are
            any, ``"diverged"``, ``"missing_joints"``, ``"out_of_range"`` (side → names).
    """

    displacement: dict[str, float]
    success: bool
    held: bool
    links_in_contact: dict[str, int]
    depth_initial: float
    depth_settled: float
    mass: float
    steps: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def max_displacement(self) -> float:
        return max(self.displacement.values())

    @property
    def depth_max(self) -> float:
        """The deeper of ``depth_initial`` and ``depth_settled``, m."""
        return max(self.depth_initial, self.depth_settled)

    def to_dict(self) -> dict:
        """All fields, plus ``max_displacement`` and ``depth_max``."""
        return {**asdict(self), "max_displacement": self.max_displacement, "depth_max": self.depth_max}


@dataclass
class RobotScene:
    """A compiled scene of :func:`robot_scene`.

    Attributes:
        model: the ``mujoco.MjModel`` (simulation frame: the object frame shifted by ``-centre``).
        qpos / ctrl: ``(nq,)`` initial positions (the object at rest) / ``(nu,)`` actuator targets.
        object_body / hand_bodies: body id of the object / side → body ids of that hand.
        centre: ``(3,)`` origin of the simulation frame in the object frame, m; missing_joints / out_of_range:
            side → joints not in ``qpos`` / outside their range.
    """

    model: object
    qpos: np.ndarray
    ctrl: np.ndarray
    object_body: int
    hand_bodies: dict[str, frozenset[int]]
    centre: np.ndarray
    missing_joints: dict[str, list[str]]
    out_of_range: dict[str, list[str]]


def _contact_softness(specs: list) -> tuple[list[float], list[float], int]:
    """The most common (solref, solimp) of the hands' collision geoms, and their highest priority."""
    geoms = [g for spec in specs for g in spec.geoms if g.contype or g.conaffinity]
    counts = Counter((tuple(float(x) for x in g.solref), tuple(float(x) for x in g.solimp)) for g in geoms)
    solref, solimp = counts.most_common(1)[0][0] if counts else _DEFAULT_SOFTNESS
    return list(solref), list(solimp), max((int(g.priority) for g in geoms), default=0)


def _set_targets(model, side: str, st: RobotHandState, qpos: np.ndarray, ctrl: np.ndarray) -> tuple[list, list]:
    """Write one hand's ``qpos`` and ``ctrl`` into the arrays; the joints missing and out of range."""
    import mujoco
    prefix, where = f"{side}/", Path(st.mjcf).name
    joints = {model.joint(j).name[len(prefix):]: j for j in range(model.njnt) if model.joint(j).name.startswith(prefix)}
    one_dof = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    by_joint = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu)
                if int(model.actuator_trntype[a]) == int(mujoco.mjtTrn.mjTRN_JOINT)}
    for what, values in (("qpos", st.qpos), ("ctrl", st.ctrl or {})):
        bad = [k for k in values if k not in joints]
        if bad:
            raise ValueError(f"hand {side!r}: unknown joint(s) {bad} in {what}; the joints of {where} are: "
                             f"{', '.join(joints)}")
        bad = [k for k, v in values.items() if not np.isfinite(v) or int(model.jnt_type[joints[k]]) not in one_dof]
        if bad:
            raise ValueError(f"hand {side!r}: {what} of {bad} must be finite numbers of hinge or slide joints")
    undriven = [k for k in (st.ctrl or {}) if joints[k] not in by_joint]
    if undriven:
        raise ValueError(f"hand {side!r}: no actuator drives joint(s) {undriven} given in ctrl; the actuated joints "
                         f"of {where} are: {', '.join(k for k, j in joints.items() if j in by_joint)}")
    out = []
    for name, j in joints.items():
        adr = model.jnt_qposadr[j]
        if name in st.qpos:
            qpos[adr] = float(st.qpos[name])
            lo, hi = model.jnt_range[j]
            if model.jnt_limited[j] and not lo - 1e-6 <= qpos[adr] <= hi + 1e-6:
                out.append(name)
        if j in by_joint:
            ctrl[by_joint[j]] = float((st.ctrl or {}).get(name, qpos[adr]))
    return [k for k in joints if k not in st.qpos], out


def robot_scene(object_mesh: trimesh.Trimesh, hands: dict[str, RobotHandState],
                cfg: RobotPhysicsConfig = RobotPhysicsConfig()) -> RobotScene:
    """Build and compile the scene of fixed-base robot hands and a free object.

    Args:
        object_mesh: the object, metres, object frame; hands: ``{"right": state, "left": state}`` (or one side);
            cfg: settings.
    Returns:
        :class:`RobotScene` (what is kept of each hand: the module docstring).
    Raises:
        ValueError: an unknown side, a missing MJCF, a bad ``base_pose``, an MJCF without exactly one root body,
            an unknown joint name in ``qpos`` or ``ctrl`` (the message lists the valid ones), a non-finite value,
            or a ``ctrl`` entry for a joint no actuator drives.
    """
    import mujoco

    if not hands or any(s not in SIDES for s in hands):
        raise ValueError(f"hands must be keyed by {' and/or '.join(SIDES)}, got {sorted(hands)}")
    sides = [s for s in SIDES if s in hands]
    route_mujoco_warnings()  # MuJoCo's warnings (attach conflicts, unstable steps) to logging, not MUJOCO_LOG.TXT
    centre = simulation_centre(object_mesh)
    world, specs = mujoco.MjSpec(), []
    for side in sides:
        pose = np.asarray(hands[side].base_pose, dtype=np.float64)
        r = pose[:3, :3] if pose.shape == (4, 4) and np.all(np.isfinite(pose)) else np.zeros((3, 3))
        if not np.allclose(r.T @ r, np.eye(3), atol=1e-5) or np.linalg.det(r) < 0:
            raise ValueError(f"hand {side!r}: base_pose must be a finite (4, 4) rigid transform (rotation block "
                             f"orthonormal with det +1), got shape {pose.shape}")
        spec = collision_spec(Path(hands[side].mjcf))
        roots = list(spec.worldbody.bodies)
        if len(roots) != 1:
            raise ValueError(f"hand {side!r}: {Path(hands[side].mjcf).name} must have exactly one root body (the "
                             f"base), found {[b.name for b in roots]}")
        for j in [j for j in roots[0].joints if j.type == mujoco.mjtJoint.mjJNT_FREE]:
            spec.delete(j)  # the base is fixed at base_pose
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, np.ascontiguousarray(r).reshape(9))
        roots[0].pos, roots[0].quat = pose[:3, 3] - centre, quat
        roots[0].alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT
        specs.append(spec)
    for k in ("integrator", "cone", "impratio", "jacobian", "solver", "iterations", "ls_iterations", "tolerance",
              "noslip_iterations"):  # the hand's own options (attaching keeps the parent's)
        setattr(world.option, k, getattr(specs[0].option, k))
    world.option.timestep, world.option.gravity = cfg.timestep, [0.0, 0.0, 0.0]
    solref, solimp, top = _contact_softness(specs)
    for side, spec in zip(sides, specs):
        world.attach(spec, prefix=f"{side}/", frame=world.worldbody.add_frame())
    if cfg.object_collision == "hull":
        parts = [np.asarray(object_mesh.convex_hull.vertices, dtype=np.float64)]
    else:
        parts = [np.asarray(p, dtype=np.float64) for p in convex_pieces(object_mesh, PhysicsConfig())]
    volumes = np.array([max(trimesh.convex.convex_hull(p).volume, 1e-12) for p in parts])
    body = world.worldbody.add_body(name="object")
    body.add_freejoint(name="object")
    for i, (p, vol) in enumerate(zip(parts, volumes)):
        world.add_mesh(name=f"object_{i}", uservert=(p - centre).reshape(-1).tolist())
        body.add_geom(name=f"object_{i}", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"object_{i}",
                      mass=float(cfg.object_mass * vol / volumes.sum()), friction=[cfg.friction, 0.005, 0.0001],
                      condim=3, priority=top + 1, solref=solref, solimp=solimp)
    model = world.compile()
    qpos, ctrl = model.qpos0.copy(), np.zeros(model.nu)
    missing, out = {}, {}
    for side in sides:
        missing[side], out[side] = _set_targets(model, side, hands[side], qpos, ctrl)
        if out[side]:
            logger.warning("hand %r: qpos of %s outside the joints' ranges (the limits push back)", side, out[side])
    hand_bodies = {s: frozenset(b for b in range(model.nbody) if model.body(b).name.startswith(f"{s}/")) for s in sides}
    return RobotScene(model=model, qpos=qpos, ctrl=ctrl, object_body=model.body("object").id, hand_bodies=hand_bodies,
                      centre=centre, missing_joints=missing, out_of_range=out)


def _contacts(model, data, scene: RobotScene) -> tuple[dict[str, set[int]], float, float]:
    """Bodies of each hand touching the object, the deepest hand–object and hand–hand contacts (m, ≥ 0)."""
    touching: dict[str, set[int]] = {s: set() for s in scene.hand_bodies}
    side_of = {b: s for s, bodies in scene.hand_bodies.items() for b in bodies}
    depth = hand_depth = 0.0
    for c in data.contact[: data.ncon] if data.ncon else []:
        b1, b2 = int(model.geom_bodyid[c.geom1]), int(model.geom_bodyid[c.geom2])
        other = b2 if b1 == scene.object_body else b1 if b2 == scene.object_body else None
        if other in side_of:
            touching[side_of[other]].add(other)
            depth = max(depth, -float(c.dist))
        elif other is None and b1 in side_of and b2 in side_of and side_of[b1] != side_of[b2]:
            hand_depth = max(hand_depth, -float(c.dist))
    return touching, depth, hand_depth


def _diverged(data, mujoco) -> bool:
    return any(data.warning[int(getattr(mujoco.mjtWarning, f"mjWARN_BAD{w}"))].number for w in ("QPOS", "QVEL", "QACC"))


def simulate_robot_grasp(object_mesh: trimesh.Trimesh, hands: dict[str, RobotHandState],
                         cfg: RobotPhysicsConfig = RobotPhysicsConfig(), stop_early: bool = False
                         ) -> RobotStabilityResult:
    """Run issue 22's stability test of a robot-hand grasp (protocol and frames: the module docstring).

    Args:
        object_mesh: the object, metres, object frame; hands: side → :class:`RobotHandState`; cfg: settings.
        stop_early: stop at the first direction past the threshold (``displacement`` then holds the directions
            simulated); a grasp that holds is simulated in full either way.
    Returns:
        :class:`RobotStabilityResult`. About 0.3–0.9 s for two LEAP hands and a box on a loaded 2-core machine
        (3,150 steps; most of it in MuJoCo's constraint solver).
    Raises:
        ValueError: see :func:`robot_scene`.
    """
    import mujoco

    t0 = time.perf_counter()
    scene = robot_scene(object_mesh, hands, cfg)
    model, bid = scene.model, scene.object_body
    data = mujoco.MjData(model)
    data.qpos[:], data.ctrl[:] = scene.qpos, scene.ctrl
    mujoco.mj_forward(model, data)
    _, depth_initial, hand_depth = _contacts(model, data, scene)
    taken = round(cfg.settle / cfg.timestep)
    for _ in range(taken):
        mujoco.mj_step(model, data)
    mujoco.mj_forward(model, data)
    touching, depth_settled, _ = _contacts(model, data, scene)
    diverged = ["settle"] if _diverged(data, mujoco) else []
    disp: dict[str, float] = {name: float("inf") for name in DIRECTIONS} if diverged else {}
    if not diverged:
        settled = mujoco.MjData(model)
        mujoco.mj_copyData(settled, model, data)
        steps = round(cfg.duration / cfg.timestep)
        for name, d in DIRECTIONS.items():
            mujoco.mj_copyData(data, model, settled)
            start = data.xipos[bid].copy()
            model.opt.gravity[:] = cfg.gravity * np.asarray(d)
            for k in range(steps):
                mujoco.mj_step(model, data)
                taken += 1
                if k % 25 == 24 and (_diverged(data, mujoco) or (
                        stop_early and not np.linalg.norm(data.xipos[bid] - start) < cfg.success_threshold)):
                    break  # MuJoCo reset a diverged state: the rest would read as "did not move"
            end, bad = data.xipos[bid], _diverged(data, mujoco)
            diverged += [name] if bad else []
            disp[name] = float(np.linalg.norm(end - start)) if not bad and np.all(np.isfinite(end)) else float("inf")
            if stop_early and disp[name] >= cfg.success_threshold:
                break
        model.opt.gravity[:] = 0.0
    held = len(disp) == len(DIRECTIONS) and all(v < cfg.success_threshold for v in disp.values())
    links = {s: len(b) for s, b in touching.items()}
    success = (held and all(n >= cfg.min_links for n in links.values())
               and max(depth_initial, depth_settled) <= cfg.depth_limit)
    extra: dict = {"hand_hand_depth": hand_depth, "diverged": diverged,
                   "missing_joints": {s: v for s, v in scene.missing_joints.items() if v},
                   "out_of_range": {s: v for s, v in scene.out_of_range.items() if v}}
    extra = {k: v for k, v in extra.items() if k == "hand_hand_depth" or v}
    seconds = time.perf_counter() - t0
    logger.debug("robot grasp: held %s, links %s, depth %.4f/%.4f m, %d steps in %.2f s", held, links, depth_initial,
                 depth_settled, taken, seconds)
    return RobotStabilityResult(displacement=disp, success=success, held=held, links_in_contact=links,
                                depth_initial=depth_initial, depth_settled=depth_settled,
                                mass=float(model.body_subtreemass[bid]), steps=taken, seconds=seconds, extra=extra)
