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
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import trimesh

logger = logging.getLogger(__name__)

__all__ = [
    "PhysicsConfig",
    "StabilityResult",
    "convex_pieces",
    "coacd_cache_dir",
    "CACHE_ENV",
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
        steps: ``mj_step`` calls made, over all directions simulated (``6 · duration / timestep``
            for a full run, fewer when ``stop_early`` cut it short).
    """

    displacement: dict[str, float]
    success: bool
    mass: float
    steps: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def max_displacement(self) -> float:
        return max(self.displacement.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["max_displacement"] = self.max_displacement
        return d


_DECOMP_CACHE: dict[str, list[np.ndarray]] = {}

#: environment variable naming the root of bghop's on-disk caches (default ``~/.cache/bghop``)
CACHE_ENV = "BGHOP_CACHE_DIR"
#: bumped when the on-disk format of a cached decomposition changes
_DISK_FORMAT = 1


def _mesh_key(mesh: trimesh.Trimesh, cfg: PhysicsConfig) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    h.update(f"{cfg.max_convex_hulls}-{cfg.coacd_threshold}".encode())
    return h.hexdigest()


def coacd_cache_dir() -> Path:
    """Folder of the on-disk CoACD cache: ``$BGHOP_CACHE_DIR/coacd``, default ``~/.cache/bghop/coacd``."""
    root = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "bghop")
    return Path(root).expanduser() / "coacd"


def _read_cached(path: Path, key: str) -> list[np.ndarray] | None:
    """The pieces stored in ``path``, or None when absent, unreadable or not what ``key`` names."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != _DISK_FORMAT or str(z["key"]) != key:
                raise ValueError("written for another mesh or format")
            count = int(z["count"])
            parts = [np.asarray(z[f"piece_{i}"], dtype=np.float64) for i in range(count)]
        if count < 1 or any(p.ndim != 2 or p.shape[1] != 3 or len(p) < 4 or not np.isfinite(p).all() for p in parts):
            raise ValueError("pieces are not finite (n >= 4, 3) point sets")
        return parts
    except Exception as e:  # noqa: BLE001 - any broken entry is recomputed
        logger.warning("ignoring the broken CoACD cache entry %s (%s: %s); recomputing", path, type(e).__name__, e)
        return None


def _write_cached(path: Path, key: str, parts: list[np.ndarray]) -> None:
    """Store ``parts`` atomically (temp file in the same folder, then rename); failures only warn."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, format=np.int64(_DISK_FORMAT), key=np.str_(key), count=np.int64(len(parts)),
                         **{f"piece_{i}": p for i, p in enumerate(parts)})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        logger.warning("cannot write the CoACD cache entry %s: %s", path, e)


def convex_pieces(mesh: trimesh.Trimesh, cfg: PhysicsConfig = PhysicsConfig()) -> list[np.ndarray]:
    """Vertex sets ``[(n_i, 3)]`` whose convex hulls approximate the object.

    The mesh itself when it is convex, otherwise a CoACD decomposition (7–123 s for a 16k-face
    YCB object). Decompositions are cached in memory per mesh and on disk under
    :func:`coacd_cache_dir` as ``<key>.npz`` (key: SHA-1 of the vertices, faces and CoACD
    settings), so evaluating many grasps of one object, or rerunning an evaluation, pays for it
    once. Cache files are written atomically; an unreadable or mismatched one is ignored and
    recomputed; an unwritable cache folder only costs the recomputation next time.
    """
    key = _mesh_key(mesh, cfg)
    if key in _DECOMP_CACHE:
        return _DECOMP_CACHE[key]
    if mesh.is_convex:
        parts = [np.asarray(mesh.vertices, dtype=np.float64)]
    else:
        path = coacd_cache_dir() / f"{key}.npz"
        cached = _read_cached(path, key)
        if cached is not None:
            parts = cached
            logger.debug("convex decomposition from the cache %s", path)
        else:
            import coacd

            coacd.set_log_level("error")
            cm = coacd.Mesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64))
            result = coacd.run_coacd(cm, threshold=cfg.coacd_threshold, max_convex_hull=cfg.max_convex_hulls, seed=0)
            parts = [np.asarray(v, dtype=np.float64) for v, _ in result]
            logger.info("convex decomposition: %d pieces", len(parts))
            _write_cached(path, key, parts)
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
                       cfg: PhysicsConfig = PhysicsConfig(), stop_early: bool = False) -> StabilityResult:
    """Run the six-direction gravity test.

    Args:
        object_mesh: the object, metres, object frame.
        holders: fixed convex pieces (vertex arrays ``(n, 3)`` in the object frame), e.g.
            :func:`hand_pieces` of both hands.
        cfg: settings.
        stop_early: stop as soon as the outcome is known to be a failure (the object has moved
            past the threshold in some direction); ``displacement`` then holds only the
            directions simulated, the last one as far as it got. For filtering, where only
            ``success`` matters; a grasp that holds is simulated in full either way.
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
    taken = 0  # mj_step calls, all directions together
    for name, d in DIRECTIONS.items():
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        start = data.xipos[bid].copy()
        model.opt.gravity[:] = cfg.gravity * np.asarray(d)
        for k in range(steps):
            mujoco.mj_step(model, data)
            taken += 1
            if stop_early and k % 25 == 24:
                moved = data.xipos[bid] - start
                if not (np.all(np.isfinite(moved)) and np.linalg.norm(moved) < cfg.success_threshold):
                    break
        end = data.xipos[bid]
        disp[name] = float(np.linalg.norm(end - start)) if np.all(np.isfinite(end)) else float("inf")
        if stop_early and disp[name] >= cfg.success_threshold:
            break
    success = len(disp) == len(DIRECTIONS) and all(v < cfg.success_threshold for v in disp.values())
    return StabilityResult(displacement=disp, success=success, mass=float(model.body_mass[bid]), steps=taken)
