"""Physical stability of a grasp in MuJoCo (headless, CPU).

Protocol (constants below, sources in shared/REFERENCE.md "Metric protocols"):

* The hands are **fixed** (their pieces are static geoms of the world body), as in GraspTTA's
  simulation test where the hand is held fixed.
* Each hand is split into **convex pieces**, one per bone: the vertices whose largest
  skinning weight is that bone, convex-hulled by MuJoCo. This works for both hand kinds.
* The object is a **free body** of density 500 kg/m³ (the lightest of BimanGrasp's three
  densities, 500/2500/5000), made of its convex hull when it is convex, else of the pieces of
  an approximate convex decomposition (CoACD, Wei et al. SIGGRAPH 2022, PyPI ``coacd``).
* Sliding friction 3 between hand and object (GraspTTA and BimanGrasp use 3).
* Gravity (9.81 m/s²) is applied along each of the six axis directions ±x, ±y, ±z **of the
  object frame** (DexGraspNet/BimanGrasp use six directions), from the same initial state, for
  1 s each (BimanGrasp holds 2 s; 1 s is the issue's protocol and already separates held from
  dropped objects: a free object falls 4.9 m in 1 s).
* The result per direction is the displacement of the object's centre of mass; the grasp
  **succeeds** when all six are under 2 cm.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import trimesh

logger = logging.getLogger(__name__)

__all__ = [
    "PhysicsConfig",
    "StabilityResult",
    "convex_pieces",
    "hand_pieces",
    "simulate_stability",
    "DIRECTIONS",
]

#: the six gravity directions, object frame
DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0),
    "+y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
    "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0),
}  # fmt: skip


@dataclass(frozen=True)
class PhysicsConfig:
    """Simulation settings (see the module docstring for where each comes from).

    Attributes:
        density: object density, kg/m³.
        friction: sliding friction coefficient.
        duration: seconds of simulation per direction.
        timestep: MuJoCo step, seconds.
        gravity: m/s².
        success_threshold: largest allowed displacement per direction, metres.
        max_convex_hulls: CoACD's cap on pieces for a non-convex object.
        coacd_threshold: CoACD concavity threshold.
    """

    density: float = 500.0
    friction: float = 3.0
    duration: float = 1.0
    timestep: float = 0.002
    gravity: float = 9.81
    success_threshold: float = 0.02
    skin_margin: float = 0.0
    max_convex_hulls: int = 16
    coacd_threshold: float = 0.05


@dataclass
class StabilityResult:
    """Per-direction displacement (metres) and overall success.

    Attributes:
        displacement: ``{"+x": d, ...}`` centre-of-mass displacement after ``duration``.
        success: all displacements under the threshold.
        mass: object mass, kg.
    """

    displacement: dict[str, float]
    success: bool
    mass: float
    extra: dict = field(default_factory=dict)

    @property
    def max_displacement(self) -> float:
        return max(self.displacement.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["max_displacement"] = self.max_displacement
        return d


_DECOMP_CACHE: dict[str, list[np.ndarray]] = {}


def _mesh_key(mesh: trimesh.Trimesh, cfg: PhysicsConfig) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    h.update(f"{cfg.max_convex_hulls}-{cfg.coacd_threshold}".encode())
    return h.hexdigest()


def convex_pieces(mesh: trimesh.Trimesh, cfg: PhysicsConfig = PhysicsConfig()) -> list[np.ndarray]:
    """Vertex sets ``[(n_i, 3)]`` whose convex hulls approximate the object.

    The mesh itself when it is convex, otherwise a CoACD decomposition (cached per mesh, so
    evaluating many grasps of one object pays for it once).
    """
    key = _mesh_key(mesh, cfg)
    if key in _DECOMP_CACHE:
        return _DECOMP_CACHE[key]
    if mesh.is_convex:
        parts = [np.asarray(mesh.vertices, dtype=np.float64)]
    else:
        import coacd

        coacd.set_log_level("error")
        cm = coacd.Mesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64))
        result = coacd.run_coacd(cm, threshold=cfg.coacd_threshold, max_convex_hull=cfg.max_convex_hulls, seed=0)
        parts = [np.asarray(v, dtype=np.float64) for v, _ in result]
        logger.info("convex decomposition: %d pieces", len(parts))
    _DECOMP_CACHE[key] = parts
    return parts


def hand_pieces(vertices: np.ndarray, weights: np.ndarray, min_vertices: int = 8) -> list[np.ndarray]:
    """Split posed hand vertices ``(V, 3)`` into per-bone convex pieces by dominant skinning weight ``(V, K)``."""
    dom = np.asarray(weights).argmax(1)
    pieces = []
    for k in range(weights.shape[1]):
        pts = vertices[dom == k]
        if len(pts) >= min_vertices:
            pieces.append(np.asarray(pts, dtype=np.float64))
    return pieces


def _fmt(points: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in points.reshape(-1))


def _build_xml(obj_parts: list[np.ndarray], static_parts: list[np.ndarray], cfg: PhysicsConfig) -> str:
    assets, world, body = [], [], []
    for i, p in enumerate(obj_parts):
        assets.append(f'<mesh name="o{i}" vertex="{_fmt(p)}"/>')
        body.append(f'<geom type="mesh" mesh="o{i}" density="{cfg.density}"/>')
    for i, p in enumerate(static_parts):
        assets.append(f'<mesh name="h{i}" vertex="{_fmt(p)}"/>')
        world.append(f'<geom type="mesh" mesh="h{i}" contype="2" conaffinity="1" margin="{cfg.skin_margin}"/>')
    return f"""<mujoco model="grasp">
  <option timestep="{cfg.timestep}" gravity="0 0 0"/>
  <default><geom friction="{cfg.friction} 0.005 0.0001" condim="3"/></default>
  <asset>{''.join(assets)}</asset>
  <worldbody>
    {''.join(world)}
    <body name="object"><freejoint/>{''.join(body)}</body>
  </worldbody>
</mujoco>"""


def simulate_stability(object_mesh: trimesh.Trimesh, holders: list[np.ndarray],
                       cfg: PhysicsConfig = PhysicsConfig()) -> StabilityResult:
    """Run the six-direction gravity test.

    Args:
        object_mesh: the object, metres, object frame.
        holders: fixed convex pieces (vertex arrays ``(n, 3)`` in the object frame), e.g.
            :func:`hand_pieces` of both hands.
        cfg: settings.
    Returns:
        :class:`StabilityResult`.
    """
    import mujoco

    xml = _build_xml(convex_pieces(object_mesh, cfg), holders, cfg)
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    bid = model.body("object").id
    steps = int(round(cfg.duration / cfg.timestep))
    disp = {}
    for name, d in DIRECTIONS.items():
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        start = data.xipos[bid].copy()
        model.opt.gravity[:] = cfg.gravity * np.asarray(d)
        for _ in range(steps):
            mujoco.mj_step(model, data)
        end = data.xipos[bid]
        disp[name] = float(np.linalg.norm(end - start)) if np.all(np.isfinite(end)) else float("inf")
    success = all(v < cfg.success_threshold for v in disp.values())
    return StabilityResult(displacement=disp, success=success, mass=float(model.body_mass[bid]))
