"""Build the built-in open hand asset (deterministic): ``src/bghop/assets/open_hand/open_hand_right.npz``.

    python scripts/build_open_hand.py            # needs the [dev] extra (fast-simplification)

Skeleton
--------
Hand length HL (wrist crease → middle fingertip) = 0.187 m and breadth HB = 0.085 m (the
issue asks for 0.18–0.19 m; Buchholz et al. give ≈0.195 m for a 50th-percentile male, our
default sits between female and male means). Joint centres and segment lengths are the
fractions of HL/HB from Buchholz, Armstrong & Goldstein, "Anthropometric data for describing
the kinematics of the human hand", Ergonomics 35(3), 1992 (Tables 1-2; values in
shared/REFERENCE.md):

=========  ==============================  =========================================
finger     MCP / CMC (axial HL, radial HB)  segments (proximal, middle, distal-to-tip) HL
=========  ==============================  =========================================
thumb      CMC (0.073, +0.196)              metacarpal 0.251, proximal 0.196, distal 0.158
index      (0.447, +0.251)                  0.245, 0.143, 0.097
middle     (0.446, 0)                       0.266, 0.170, 0.108
ring       (0.409, −0.206)                  0.244, 0.165, 0.107
little     (0.368, −0.402)                  0.204, 0.117, 0.093
=========  ==============================  =========================================

Layout (as MANO's right hand lies in its own frame): fingers point along −x from the wrist,
the thumb is on the +z side, the palm faces −y (this is why G-HOP's normalised-frame centre is
the index MCP shifted by (0, −0.08, 0): 8 cm in front of the palm). Finger flexion is then a
positive rotation about +z.

Skin
----
A signed distance function — tapered capsules per phalanx (radii below), a rounded slab for
the palm, smooth-blended together — is meshed by marching cubes (scikit-image), smoothed
(Taubin, trimesh) and decimated (fast-simplification) to a few thousand triangles. Finger
radii (half widths) are chosen to give finger breadths at the proximal/distal
interphalangeal joints of ≈ 17-20 mm (middle) and ≈ 15-17 mm (little), in the range of adult
means in hand surveys such as Greiner 1991 (US Army Natick TR-92/011) — a design choice, not a
table lookup; palm thickness 27 mm at the metacarpals likewise.

Skinning weights: each vertex is softly assigned to the bones by distance (softmin with a
4 mm temperature), so weights blend smoothly across each joint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HL = 0.191  # skeleton hand length, m (wrist joint → middle fingertip point); the meshed tip lands at ≈0.185 m
HB = 0.085  # hand breadth at the metacarpals, m
AXIAL = np.array([-1.0, 0.0, 0.0])  # wrist → fingers
RADIAL = np.array([0.0, 0.0, 1.0])  # towards the thumb
PALMAR = np.array([0.0, -1.0, 0.0])  # palm normal

# Buchholz et al. 1992 (see module docstring)
MCP = {  # (axial HL, radial HB)
    "index": (0.447, 0.251),
    "middle": (0.446, 0.0),
    "ring": (0.409, -0.206),
    "pinky": (0.368, -0.402),
}
SEGMENTS = {
    "index": (0.245, 0.143, 0.097),
    "middle": (0.266, 0.170, 0.108),
    "ring": (0.244, 0.165, 0.107),
    "pinky": (0.204, 0.117, 0.093),
    "thumb": (0.251, 0.196, 0.158),
}
THUMB_CMC = (0.073, 0.196)
# splay of each finger in the palm plane (degrees towards the thumb), flat relaxed hand
SPLAY_DEG = {"index": 6.0, "middle": 0.0, "ring": -5.0, "pinky": -11.0}
# radii (m) at the proximal joint, next joint, next joint, fingertip of each finger
RADII = {
    "index": (0.0100, 0.0092, 0.0082, 0.0070),
    "middle": (0.0102, 0.0095, 0.0085, 0.0072),
    "ring": (0.0096, 0.0088, 0.0079, 0.0068),
    "pinky": (0.0086, 0.0079, 0.0071, 0.0061),
    "thumb": (0.0135, 0.0112, 0.0102, 0.0088),
}
PALM_HALF_THICKNESS = 0.0135  # m
NATIVE_BASE = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")


def _unit(v):
    return v / np.linalg.norm(v)


def thumb_directions() -> list[np.ndarray]:
    """Directions of the thumb's metacarpal, proximal and distal segments at the flat pose.

    The thumb leaves the palm ~40° from the fingers, tilted ~25° out of the palm plane towards
    the palmar side, and its phalanges bend slightly towards the fingers.
    """
    d1 = _unit(np.cos(np.deg2rad(42)) * AXIAL + np.sin(np.deg2rad(42)) * RADIAL + 0.45 * PALMAR)
    d2 = _unit(np.cos(np.deg2rad(30)) * AXIAL + np.sin(np.deg2rad(30)) * RADIAL + 0.30 * PALMAR)
    d3 = _unit(np.cos(np.deg2rad(22)) * AXIAL + np.sin(np.deg2rad(22)) * RADIAL + 0.22 * PALMAR)
    return [d1, d2, d3]


def skeleton() -> tuple[np.ndarray, np.ndarray]:
    """Rest joints ``(16, 3)`` in MANO native order and fingertip points ``(5, 3)`` (thumb..pinky)."""
    J = np.zeros((16, 3))
    tips = {}
    for f, (ax, rad) in MCP.items():
        p = ax * HL * AXIAL + rad * HB * RADIAL
        a = np.deg2rad(SPLAY_DEG[f])
        d = _unit(np.cos(a) * AXIAL + np.sin(a) * RADIAL)
        b = NATIVE_BASE[f]
        for k, seg in enumerate(SEGMENTS[f]):
            J[b + k] = p
            p = p + seg * HL * d
        tips[f] = p
    p = THUMB_CMC[0] * HL * AXIAL + THUMB_CMC[1] * HB * RADIAL + 0.006 * PALMAR
    for k, (seg, d) in enumerate(zip(SEGMENTS["thumb"], thumb_directions())):
        J[13 + k] = p
        p = p + seg * HL * d
    tips["thumb"] = p
    return J, np.stack([tips[f] for f in TIP_ORDER])


# ----------------------------------------------------------------------------------- SDF
def _seg_dist(p, a, b):
    """Distance from points ``(N,3)`` to segment ab and the parameter t in [0,1]."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1), t


def _round_cone(p, a, b, ra, rb):
    d, t = _seg_dist(p, a, b)
    return d - (ra + (rb - ra) * t)


def _smin(a, b, k):
    """Polynomial smooth minimum (Quilez)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1 - h)


def palm_polygon(J: np.ndarray) -> np.ndarray:
    """Palm outline in the (axial, radial) plane, counter-clockwise, metres."""
    def ar(p):
        return np.array([p @ AXIAL, p @ RADIAL])

    idx, mid, rng, pk = ar(J[1]), ar(J[4]), ar(J[10]), ar(J[7])
    return np.array([
        [0.0 - 0.012, -0.026],  # wrist, ulnar side
        [0.0 - 0.012, 0.022],  # wrist, radial side
        [0.2 * HL, 0.036],  # thenar base
        idx + np.array([0.0, 0.002]),
        mid,
        rng,
        pk + np.array([0.0, -0.002]),
        [0.2 * HL, -0.036],  # hypothenar
    ])


def _polygon_sdf2(q: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance to a convex polygon in 2-D (negative inside)."""
    n = len(poly)
    d = np.full(len(q), -np.inf)
    # convex: max over half-planes for inside, exact outside distance from edges/corners
    dist_edges = np.full(len(q), np.inf)
    center = poly.mean(0)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        e = b - a
        nrm = np.array([e[1], -e[0]]) / np.linalg.norm(e)
        if (center - a) @ nrm > 0:
            nrm = -nrm
        d = np.maximum(d, (q - a) @ nrm)
        t = np.clip(((q - a) @ e) / (e @ e), 0, 1)
        dist_edges = np.minimum(dist_edges, np.linalg.norm(q - (a + t[:, None] * e), axis=1))
    return np.where(d > 0, dist_edges, d)


def hand_sdf(p: np.ndarray, J: np.ndarray, tips: np.ndarray) -> np.ndarray:
    """Signed distance of the flat right hand at points ``(N, 3)``."""
    # palm: rounded slab = polygon (inset by r) extruded to ±half thickness
    r = 0.008
    poly = palm_polygon(J)
    q = np.stack([p @ AXIAL, p @ RADIAL], axis=1)
    d2 = _polygon_sdf2(q, poly) + r * 0.3
    # thicker at the knuckles than at the wrist edge, thinner at the palm's radial border
    dy = np.abs(p @ PALMAR + 0.001) - (PALM_HALF_THICKNESS - r)
    w = np.stack([d2, dy], axis=1)
    palm = np.linalg.norm(np.maximum(w, 0), axis=1) + np.minimum(w.max(1), 0) - r
    tip_of = dict(zip(TIP_ORDER, tips))
    fingers = np.full(len(p), np.inf)
    for f, b in NATIVE_BASE.items():
        pts = [J[b], J[b + 1], J[b + 2], tip_of[f]]
        rad = RADII[f]
        dfing = np.full(len(p), np.inf)
        for k in range(3):
            end = pts[k + 1]
            if k == 2:  # round the tip: shorten the last cone by its end radius
                end = pts[3] - rad[3] * _unit(pts[3] - pts[2])
            dfing = np.minimum(dfing, _round_cone(p, pts[k], end, rad[k], rad[k + 1]))
        if f == "thumb":
            # thenar eminence: a fat cone from the wrist to the thumb MCP, blended in below
            dfing = _smin(dfing, _round_cone(p, np.array([-0.005, -0.004, 0.010]), J[b + 1] + 0.004 * PALMAR,
                                             0.017, 0.012), 0.012)
        fingers = np.minimum(fingers, dfing)
    # forearm stub so the wrist end is rounded, not a flat cut
    wrist = _round_cone(p, np.array([0.018, 0.0, -0.002]), np.array([-0.02, 0.0, -0.002]), 0.020, 0.021)
    wrist = np.maximum(wrist, -(p @ AXIAL) - 0.025)  # cap the stub
    body = _smin(palm, wrist, 0.015)
    return _smin(body, fingers, 0.007)


# ----------------------------------------------------------------------------- meshing
def build_mesh(J, tips, voxel: float, target_faces: int):
    import fast_simplification
    import trimesh
    from skimage.measure import marching_cubes

    allp = np.concatenate([J, tips])
    lo = allp.min(0) - 0.035
    hi = allp.max(0) + 0.035
    n = np.ceil((hi - lo) / voxel).astype(int) + 1
    axes = [lo[i] + voxel * np.arange(n[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    sdf = hand_sdf(grid, J, tips).reshape(n)
    v, f, _, _ = marching_cubes(sdf, level=0.0, spacing=(voxel,) * 3)
    v = v + lo
    mesh = trimesh.Trimesh(v, f[:, ::-1], process=True)  # skimage winds faces inward for our sign
    if mesh.volume < 0:
        mesh.invert()
    trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=-0.53, iterations=10)
    v2, f2 = fast_simplification.simplify(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int64),
                                          target_reduction=1.0 - target_faces / len(mesh.faces))
    mesh = trimesh.Trimesh(v2.astype(np.float64), f2, process=True)
    trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=-0.53, iterations=5)
    if mesh.volume < 0:
        mesh.invert()
    parts = mesh.split(only_watertight=False)
    if len(parts) > 1:
        mesh = max(parts, key=lambda m: len(m.faces))
    return mesh


# ------------------------------------------------------------------------------ skinning
def bones(J, tips):
    """Segment (start, end) per joint: joint k drives the bone from J_k to its child (or tip)."""
    tip_of = dict(zip(TIP_ORDER, tips))
    segs = {}
    for f, b in NATIVE_BASE.items():
        ends = [J[b + 1], J[b + 2], tip_of[f]]
        for k in range(3):
            segs[b + k] = (J[b + k], ends[k])
    return segs


def skinning_weights(v, J, tips, tau=0.004):
    """``(V, 16)`` soft assignment by distance to bones; joint 0 owns the palm slab."""
    segs = bones(J, tips)
    D = np.full((len(v), 16), np.inf)
    for k, (a, b) in segs.items():
        d, t = _seg_dist(v, a, b)
        D[:, k] = d
    # palm / wrist: distance to the palm polygon region in the palm plane
    poly = palm_polygon(J)
    q = np.stack([v @ AXIAL, v @ RADIAL], axis=1)
    D[:, 0] = np.maximum(_polygon_sdf2(q, poly) + 0.004, 0.0)
    # per-vertex radius normalisation: a vertex is on the bone whose capsule it lies on
    rad = np.zeros(16)
    for f, b in NATIVE_BASE.items():
        for k in range(3):
            rad[b + k] = RADII[f][k]
    rad[0] = 0.0
    E = D - rad[None]
    E = E - E.min(1, keepdims=True)
    W = np.exp(-E / tau)
    W[W < 1e-4] = 0
    W = W / W.sum(1, keepdims=True)
    return W


def smooth_weights(W, faces, n_vert, iters=6, alpha=0.5):
    """A few steps of uniform-Laplacian smoothing on the mesh so weights vary smoothly."""
    import scipy.sparse as sp

    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    A = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n_vert, n_vert)).tocsr()
    A.data[:] = 1.0
    deg = np.asarray(A.sum(1)).ravel()
    P = sp.diags(1.0 / deg) @ A
    for _ in range(iters):
        W = (1 - alpha) * W + alpha * (P @ W)
    W[W < 1e-4] = 0
    return W / W.sum(1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/bghop/assets/open_hand/open_hand_right.npz"))
    ap.add_argument("--voxel", type=float, default=0.0016)
    ap.add_argument("--faces", type=int, default=5000)
    args = ap.parse_args()
    J, tips = skeleton()
    mesh = build_mesh(J, tips, args.voxel, args.faces)
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    W = smooth_weights(skinning_weights(v, J, tips), f, len(v))
    tip_ids = []
    for f_name, tip in zip(TIP_ORDER, tips):
        b = NATIVE_BASE[f_name] + 2
        d = _unit(tip - J[b])
        owned = W[:, b] > 0.5
        score = np.where(owned, (v - J[b]) @ d, -np.inf)
        tip_ids.append(int(np.argmax(score)))
    meta = {"hand_length_m": HL, "hand_breadth_m": HB, "voxel_m": args.voxel,
            "source": "Buchholz, Armstrong & Goldstein 1992 (Ergonomics 35(3)); see scripts/build_open_hand.py"}
    print(f"V={len(v)} F={len(f)} watertight={mesh.is_watertight} volume={mesh.volume * 1e6:.1f} cm3")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, v_template=v.astype(np.float32), faces=f.astype(np.int32),
                        weights=W.astype(np.float32), joints=J.astype(np.float32), tip_ids=np.array(tip_ids),
                        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


if __name__ == "__main__":
    main()
