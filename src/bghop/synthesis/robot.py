"""Bimanual grasps for robot hands: every human grasp retargeted to a pair of robot hands, fitted to the
object with the robot's own collision geometry and joint limits, verified in MuJoCo with actuated joints,
ranked, and described as ``robot.json`` that anyone can replay with MuJoCo alone.

The stages (:func:`robot_grasps`):

1. :func:`bghop.contact.robot.fit_robot_grasps`: keypoint retargeting, contact fit, squeeze target;
2. an independent depth check both ways (:func:`bghop.contact.robot.robot_depths` on 2 mm object samples);
3. :func:`bghop.eval.robot_physics.simulate_robot_grasp`: bases fixed, the model's position actuators
   holding ``ctrl``, a 0.2 kg object with friction 1.0, gravity along ±x, ±y, ±z for 1 s each;
4. :func:`rank_robot_grasps`: successful grasps first, then held ones, then by the largest displacement
   and the depth.

``robot.json`` (:meth:`RobotGraspResult.to_json`)::

    {"robot": "leap",
     "hands": {"right": {"mjcf": "/…/right_hand.xml", "base_pose": [[4×4]], "qpos": {joint: rad},
                         "ctrl": {joint: rad}},
               "left": {…}},
     "success": true, "held": true, "displacement_m": {"+x": …}, "displacement_max_m": …,
     "links_in_contact": {"right": 3, "left": 2}, "depth_max_m": …, …, "protocol": {…}}
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from tqdm.auto import tqdm

from bghop.contact.capsules import object_samples
from bghop.contact.energies import ObjectSDF
from bghop.contact.robot import RobotFitConfig, fit_robot_grasps, optimize_robot_grasps, robot_depths
from bghop.core.tables import json_safe
from bghop.eval.robot_physics import (
    RobotHandState,
    RobotPhysicsConfig,
    RobotStabilityResult,
    simulate_robot_grasp,
)
from bghop.hands.robot import RobotHand
from bghop.hands.posing import HandLayers, pose_hands
from bghop.hands.robot_spec import RobotSpec
from bghop.viz.results import ROBOT_JSON

logger = logging.getLogger(__name__)

__all__ = [
    "ROBOT_JSON",
    "RobotGraspConfig",
    "RobotGraspResult",
    "RobotHandGrasp",
    "RobotRun",
    "rank_robot_grasps",
    "robot_grasps",
    "robot_run",
    "robot_meshes",
    "human_keypoints",
]

#: the two hands of a robot grasp
_SIDES = ("right", "left")


@dataclass(frozen=True)
class RobotGraspConfig:
    """Settings of :func:`robot_grasps`.

    Attributes:
        fit: retargeting and contact fit.
        physics: the MuJoCo verification protocol.
        simulate: run the verification (off: fit only, ranked by depth).
        check_spacing: metres between the object samples of the independent depth check.
    """

    fit: RobotFitConfig = RobotFitConfig()
    physics: RobotPhysicsConfig = RobotPhysicsConfig()
    simulate: bool = True
    check_spacing: float = 0.002


@dataclass
class RobotHandGrasp:
    """One robot hand of a grasp (object frame, metres, radians).

    Attributes:
        mjcf: the hand's MJCF.
        base_pose: ``(4, 4)`` pose of its palm (root) body.
        qpos: joint name → the configuration that touches.
        ctrl: actuated joint name → the actuator's target (``qpos`` plus the squeeze).
    """

    mjcf: Path
    base_pose: np.ndarray
    qpos: dict[str, float]
    ctrl: dict[str, float]

    def state(self) -> RobotHandState:
        return RobotHandState(mjcf=self.mjcf, base_pose=self.base_pose, qpos=self.qpos, ctrl=self.ctrl)

    def to_json(self) -> dict:
        return {"mjcf": str(self.mjcf), "base_pose": [[float(x) for x in row] for row in self.base_pose],
                "qpos": {k: float(v) for k, v in self.qpos.items()}, "ctrl": {k: float(v) for k, v in self.ctrl.items()}}


@dataclass
class RobotGraspResult:
    """One robot grasp and how it did.

    Attributes:
        source: index of the human grasp it was retargeted from (in the order given).
        hands: side → :class:`RobotHandGrasp`.
        depth_hand_m / depth_object_m: deepest robot surface sample inside the object and deepest object
            sample inside the robot's collision boxes, at ``qpos`` (m; independent of MuJoCo's contacts).
        retarget_error_m: side → mean fingertip distance to the human fingertips after retargeting (m).
        stability: the MuJoCo verification, or None when not simulated.
        seconds: time spent on this grasp's verification.
    """

    source: int
    hands: dict[str, RobotHandGrasp]
    depth_hand_m: float
    depth_object_m: float
    retarget_error_m: dict[str, float]
    stability: RobotStabilityResult | None = None
    seconds: float = 0.0
    depth_limit: float = 0.005

    @property
    def success(self) -> bool | None:
        """The protocol's verdict (held in all six directions, at least two links of each hand touching,
        nothing deeper than :attr:`depth_limit` by MuJoCo's contacts or by the independent check); None when
        not simulated."""
        if self.stability is None:
            return None
        return bool(self.stability.success) and self.depth_max_m <= self.depth_limit

    @property
    def depth_max_m(self) -> float:
        """The deepest penetration either way, by the independent check and by MuJoCo's contacts."""
        d = max(self.depth_hand_m, self.depth_object_m)
        return d if self.stability is None else max(d, self.stability.depth_max)

    def summary(self) -> dict:
        """The verdict in a few numbers (for ``summary.json``)."""
        st = self.stability
        return json_safe({"success": self.success, "held": None if st is None else bool(st.held),
                          "displacement_max_m": None if st is None else st.max_displacement,
                          "links_in_contact": None if st is None else dict(st.links_in_contact),
                          "depth_max_m": self.depth_max_m, "human_sample": self.source})

    def title(self, k: int) -> str:
        """Caption of the robot render: rank, verdict, displacement, depth."""
        parts = [f"#{k}"]
        if self.stability is not None:
            parts.append("success" if self.success else "held" if self.stability.held else "dropped")
            d = self.stability.max_displacement
            parts.append(f"moved {d * 1000:.1f} mm" if math.isfinite(d) and d < 1 else "moved > 1 m")
        parts.append(f"depth {self.depth_max_m * 1000:.1f} mm")
        return " · ".join(parts)

    def to_json(self, robot: str, protocol: RobotPhysicsConfig | None = None) -> dict:
        """``robot.json`` (module docstring)."""
        out: dict = {"robot": robot, "hands": {s: h.to_json() for s, h in self.hands.items()},
                     "success": self.success, "human_sample": self.source,
                     "depth_max_m": self.depth_max_m, "depth_hand_in_object_m": self.depth_hand_m,
                     "depth_object_in_hand_m": self.depth_object_m, "retarget_error_m": dict(self.retarget_error_m)}
        st = self.stability
        if st is not None:
            disp = dict(st.displacement)
            out.update(held=bool(st.held), displacement_m=disp,
                       displacement_max_m=st.max_displacement if disp else math.inf,
                       links_in_contact=dict(st.links_in_contact), depth_initial_m=st.depth_initial,
                       depth_settled_m=st.depth_settled, simulation_s=self.seconds)
        if protocol is not None:
            out["protocol"] = asdict(protocol)
        return json_safe(out)


@dataclass
class RobotRun:
    """The robot grasps of a run of human grasps.

    Attributes:
        name: the robot's name.
        spec: the robot pair.
        grasps: best first (:func:`rank_robot_grasps`).
        physics: the verification protocol (None when not simulated).
        seconds: time of the whole robot stage.
    """

    name: str
    spec: RobotSpec
    grasps: list[RobotGraspResult]
    physics: RobotPhysicsConfig | None
    seconds: float = 0.0

    def describe(self) -> dict:
        """The robot stage for ``summary.json``: robot, source, protocol, counts and time."""
        return json_safe({"robot": self.name, "mapping": self.spec.source,
                          "protocol": None if self.physics is None else asdict(self.physics),
                          "success": sum(bool(g.success) for g in self.grasps), "grasps": len(self.grasps),
                          "seconds": self.seconds})

    def meshes(self, grasp: RobotGraspResult) -> dict[str, trimesh.Trimesh]:
        """side → the posed robot hand's visual mesh (object frame, metres)."""
        return robot_meshes(grasp)


def robot_meshes(grasp: RobotGraspResult) -> dict[str, trimesh.Trimesh]:
    """side → the posed robot hand's visual mesh of ``grasp`` (object frame, metres)."""
    from bghop.viz.robot import robot_hand_mesh

    return {s: robot_hand_mesh(h.mjcf, h.base_pose, h.qpos) for s, h in grasp.hands.items()}


def human_keypoints(grasps, layers: HandLayers) -> dict[str, np.ndarray]:
    """``"right"``/``"left"`` → ``(B, 21, 3)`` keypoints of two-hand human grasps (object frame, m): each
    grasp's ``posed`` hands when it has both, else its ``hands`` posed with ``layers``.

    Args:
        grasps: objects with ``hands`` (:class:`~bghop.hands.params.Hands`) and ``posed`` (side →
            :class:`~bghop.hands.posing.PosedHand`, possibly empty or None): synthesis or benchmark grasps.
        layers: the hand layers.
    """
    posed = [g.posed if g.posed and all(s in g.posed for s in _SIDES) else pose_hands(g.hands, layers)
             for g in grasps]
    return {s: np.stack([p[s].joints for p in posed]) for s in _SIDES}


def robot_run(robot: RobotSpec, keypoints: Mapping[str, np.ndarray | torch.Tensor], mesh: trimesh.Trimesh,
              cfg: RobotGraspConfig = RobotGraspConfig(), device: torch.device | str = "cpu",
              progress: bool = True) -> RobotRun:
    """:func:`robot_grasps` as a :class:`RobotRun`."""
    t = time.perf_counter()
    grasps = robot_grasps(robot, keypoints, mesh, cfg, device, progress)
    return RobotRun(name=robot.name, spec=robot, grasps=grasps, physics=cfg.physics if cfg.simulate else None,
                    seconds=time.perf_counter() - t)


def rank_robot_grasps(grasps: list[RobotGraspResult], depth_limit: float = 0.005) -> list[RobotGraspResult]:
    """Best first: successful grasps, then held ones, then the rest; within each class by the largest
    displacement, then by depth (a grasp deeper than ``depth_limit`` never precedes a shallow one of its class)."""
    def key(g: RobotGraspResult):
        st = g.stability
        disp = st.max_displacement if st is not None and st.displacement else math.inf
        cls = 0 if g.success else 1 if (st is not None and st.held) else 2
        return (cls, g.depth_max_m > depth_limit, disp if math.isfinite(disp) else 1e9, g.depth_max_m)

    return sorted(grasps, key=key)


def robot_grasps(robot: RobotSpec, keypoints: Mapping[str, np.ndarray | torch.Tensor] | None, mesh: trimesh.Trimesh,
                 cfg: RobotGraspConfig = RobotGraspConfig(), device: torch.device | str = "cpu",
                 progress: bool = True, n: int | None = None, seed: int = 0) -> list[RobotGraspResult]:
    """Robot grasps from human two-hand grasps (module docstring), best first.

    Args:
        robot: the robot pair (:func:`bghop.hands.robot_spec.load_robot_spec`).
        keypoints: ``"right"`` and ``"left"`` → ``(B, 21, 3)`` human keypoints of the grasps (object frame, m);
            None: no human grasps, ``n`` robot grasps from prior-free starts
            (:func:`bghop.contact.robot.optimize_robot_grasps`, the ``energy`` baseline on robot hands).
        mesh: the object, metres.
        cfg: settings.
        device: torch device of the fit.
        progress: a progress bar over the verification.
        n / seed: the number of prior-free grasps and their seed (``keypoints=None`` only).
    Returns:
        ``B`` :class:`RobotGraspResult`, ranked (:func:`rank_robot_grasps`); ``source`` says which human grasp
        each came from.
    """
    device = torch.device(device)
    hands = {s: RobotHand(robot.hands[s], device=device) for s in ("right", "left")}
    sdf = ObjectSDF(mesh, device=device)
    t0 = time.perf_counter()
    if keypoints is None:
        if n is None or n < 1:
            raise ValueError("give human keypoints or the number n of prior-free robot grasps")
        fit = optimize_robot_grasps(hands, mesh, n, cfg.fit, seed=seed, device=device, obj_sdf=sdf)
    else:
        missing = [s for s in ("right", "left") if s not in keypoints]
        if missing:
            raise ValueError(f"robot grasps need both hands' keypoints; missing {missing} (single-hand grasps are "
                             "not retargeted to robot pairs)")
        kp = {s: torch.as_tensor(np.asarray(keypoints[s]), dtype=torch.float32, device=device)
              for s in ("right", "left")}
        n = kp["right"].shape[0]
        fit = fit_robot_grasps(hands, kp, mesh, cfg.fit, device=device, obj_sdf=sdf)
    logger.info("robot fit of %d grasps: %.1f s", n, time.perf_counter() - t0)
    points = object_samples(mesh, cfg.check_spacing, max_points=65536, device=device)
    depth = {}
    with torch.no_grad():
        for s in hands:
            depth[s] = robot_depths(hands[s], hands[s](fit.base_pose[s], fit.q[s]), sdf, points)
    out = []
    for i in tqdm(range(n), desc="robot physics", disable=not progress or not cfg.simulate, leave=False):
        per = {s: RobotHandGrasp(mjcf=robot.hands[s].mjcf, base_pose=fit.base_pose[s][i].double().cpu().numpy(),
                                 qpos=dict(zip(hands[s].joint_names, fit.q[s][i].double().cpu().tolist())),
                                 ctrl={j: float(v) for j, v in zip(hands[s].joint_names, fit.ctrl[s][i].cpu().tolist())
                                       if j in hands[s].actuated})
               for s in hands}
        g = RobotGraspResult(source=i, hands=per,
                             depth_hand_m=float(max(depth[s][0][i] for s in hands)),
                             depth_object_m=float(max(depth[s][1][i] for s in hands)),
                             retarget_error_m={s: float(fit.retarget_error[s][i]) for s in hands},
                             depth_limit=cfg.physics.depth_limit)
        if cfg.simulate:
            t = time.perf_counter()
            g.stability = simulate_robot_grasp(mesh, {s: h.state() for s, h in per.items()}, cfg.physics)
            g.seconds = time.perf_counter() - t
        out.append(g)
    return rank_robot_grasps(out, cfg.physics.depth_limit)
