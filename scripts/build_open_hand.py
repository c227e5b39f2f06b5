"""Build the built-in open hand asset, deterministically: ``src/bghop/assets/open_hand/open_hand_right.npz``.

    python scripts/build_open_hand.py            # ~10 s; numpy, scipy, scikit-image, trimesh, libigl

Everything the layer needs is computed here, once, and stored in the asset (the layer itself only
loads arrays): rest joints, skin mesh, skinning weights, fingertip vertex ids, shape blend shapes,
anatomical joint axes, joint limits and contact regions.

Frame (the layout of MANO's right hand in its own frame)
--------------------------------------------------------
Fingers point along −x from the wrist, the thumb is on the +z side, the palm faces −y, and the
wrist joint sits at MANO's mean-hand wrist ``J0 = (0.0957, 0.0064, 0.0062)`` m, so a MANO
``transl`` puts our wrist where it puts MANO's. See :mod:`bghop.hands.open_hand` for the sources
this was checked against.

Skeleton (Buchholz, Armstrong & Goldstein 1992)
-----------------------------------------------
B. Buchholz, T. J. Armstrong, S. A. Goldstein, "Anthropometric data for describing the kinematics
of the human hand", Ergonomics 35(3):261-273, 1992 (values as in shared/REFERENCE.md). Joint
centres are fractions of hand length HL (axial, from the wrist crease) and hand breadth HB
(radial, + towards the thumb); segment lengths are fractions of HL:

=========  =================================  ==============================================
digit      MCP / CMC centre (axial HL, rad HB)  segments HL (proximal, middle, distal-to-tip)
=========  =================================  ==============================================
thumb      CMC (0.073, +0.196)                 metacarpal 0.251, proximal 0.196, distal 0.158
index      (0.447, +0.251)                     0.245, 0.143, 0.097
middle     (0.446, 0)                          0.266, 0.170, 0.108
ring       (0.409, −0.206)                     0.244, 0.165, 0.107
little     (0.368, −0.402)                     0.204, 0.117, 0.093
=========  =================================  ==============================================

HL = 0.189 m in these formulas puts the middle fingertip 0.99 HL = 0.187 m from the wrist (the
issue asks for 0.18-0.19 m; Buchholz's 50th-percentile man is ≈0.195 m); HB = 0.085 m, the
50th-percentile British man's hand breadth at the metacarpals (Pheasant, *Bodyspace*, as
tabulated by CityU's "online anthropometry", dimension 29: 85 mm, SD 5 mm).

Not in the table, and therefore design choices (stated, not looked up):

* the rest fan of the fingers (index +4°, middle −2°, ring −7°, little −13° from the −x axis,
  a relaxed flat hand) and a small transverse metacarpal arch (index/ring MCP 2 mm, little 5 mm
  palmar of the middle MCP; MANO's mean hand has a deeper one);
* the thumb's rest direction: the CMC sits 10 mm palmar of the palm's mid-plane; metacarpal,
  proximal and distal phalanx point 42°, 32°, 24° from the fingers' axis towards the radial side,
  tilted 10°, 2°, −4° palmar (MANO's rest thumb is ≈50° then ≈33° from the fingers, 1.5-2 cm
  palmar); the thumb is pronated 55° about its own axis, so its pad faces the fingers rather than
  the floor — in a flat hand on a table the thumb lies on its radial side;
* finger widths (below): bounded by Buchholz's own MCP spacing — when the fingers are adducted the
  proximal phalanges touch, so neighbouring half widths add up to at most the MCP centre distance
  (index-middle 21.3 mm, middle-ring 17.5 mm, ring-little 16.7 mm at HB = 85 mm). We use 18.0,
  18.4, 17.2, 15.2 mm at the base of the proximal phalanx (index..little), tapering to ≈80 % at
  the tip; finger depth is 0.88 × width (fingers are wider than deep); thumb 21 mm at its MCP;
* palm thickness 27 mm slab at the metacarpals (≈28.5 mm skin to skin with the blends), 30 mm
  at the wrist crease (hand thickness at the metacarpals is ≈25-33 mm in adults; a design choice
  in that range), wrist 54 × 34 mm;
* the palm outline reaches 19-20 mm beyond the index and little MCP centres (the metacarpal heads
  and the muscle over them), so the skin breadth at the metacarpal heads is ≈ HB (84.8 mm).

Skin
----
A smooth implicit hand — ellipse-section round cones per phalanx, a rounded, slightly arched palm
slab, thenar and hypothenar pads, the first web space, a short wrist stub, blended with
polynomial smooth minima — is meshed by marching cubes (scikit-image) on a 1 mm grid evaluated in
a narrow band, decimated by shortest-edge collapses (libigl, then our own size-aware pass: the
finger pads get edges ≈0.6× as long as the palm's) to ~5.6k triangles, and remeshed in the spirit
of Botsch & Kobbelt's isotropic remeshing: valence-improving edge flips alternating with
tangential Laplacian relaxation projected back onto the implicit surface, which evens out the
triangles while keeping the surface exact.

Skinning weights
----------------
Every vertex belongs softly to the digit whose bones (plus a virtual metacarpal from the proximal
palm to its MCP) are nearest, normalised by the digit's radius. Along its digit, the weight passes
from one bone to the next with a smoothstep across a plane through each joint (the bisector of
the two bones), over ±9 mm at the MCPs, ±5.5 / ±4.5 mm at PIP / DIP, ±16 mm at the thumb's CMC:
this is the classic "rigid phalanx, soft joint" weighting that keeps a 90° bend from collapsing.
The palm (and the proximal half of the thenar) stay on the wrist joint. Then every vertex that is
not clearly on one bone (the joint bands, the seams between digits) or lies on the first web space
gets the harmonic interpolation (cotangent Laplacian, libigl) of the one-bone vertices around it,
which spreads the stretch of a bend evenly over the band and lets the thumb's web stretch from
the thumb to the index as a whole; four steps of Laplacian smoothing finish it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("build_open_hand")

# ----------------------------------------------------------------------------------- frame
AX = np.array([-1.0, 0.0, 0.0])  # wrist -> fingers
RAD = np.array([0.0, 0.0, 1.0])  # towards the thumb
PAL = np.array([0.0, -1.0, 0.0])  # palm normal (palmar side)
WRIST = np.array([0.0957, 0.0064, 0.0062])  # MANO mean right hand J0 (m)

HL = 0.189  # m, Buchholz hand length parameter (wrist crease -> middle tip = 0.99 HL = 0.187 m)
HB = 0.085  # m, hand breadth at the metacarpals (Pheasant, British men 50th percentile)

FINGERS = ("index", "middle", "pinky", "ring")  # MANO native order
DIGITS = FINGERS + ("thumb",)
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")
NATIVE_BASE = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}

# Buchholz et al. 1992 (module docstring): joint centres (axial x HL, radial x HB) ...
MCP_AR = {"index": (0.447, 0.251), "middle": (0.446, 0.0), "ring": (0.409, -0.206), "pinky": (0.368, -0.402)}
CMC_AR = (0.073, 0.196)
# ... and segment lengths (x HL): proximal, middle (thumb: metacarpal, proximal), distal-to-tip.
SEGMENTS = {
    "index": (0.245, 0.143, 0.097),
    "middle": (0.266, 0.170, 0.108),
    "ring": (0.244, 0.165, 0.107),
    "pinky": (0.204, 0.117, 0.093),
    "thumb": (0.251, 0.196, 0.158),
}
# design choices (module docstring)
ARCH = {"index": 0.002, "middle": 0.0, "ring": 0.002, "pinky": 0.005}  # MCP palmar offset, m
SPLAY_DEG = {"index": 4.0, "middle": -2.0, "ring": -7.0, "pinky": -13.0}
THUMB_CMC_PALMAR = 0.010
THUMB_DIRS_DEG = ((42.0, 10.0), (32.0, 2.0), (24.0, -4.0))  # (towards radial, towards palmar) per bone
THUMB_PRONATION_DEG = 55.0
# half widths (m) at: proximal joint, next joint, next joint, tip
RADII = {
    "index": (0.0090, 0.0083, 0.0075, 0.0071),
    "middle": (0.0092, 0.0086, 0.0077, 0.0073),
    "ring": (0.0086, 0.0080, 0.0072, 0.0069),
    "pinky": (0.0076, 0.0070, 0.0064, 0.0061),
    "thumb": (0.0120, 0.0105, 0.0098, 0.0090),
}
DEPTH_RATIO = 0.88  # finger depth / width
PALM_HALF_T = {"wrist": 0.015, "mcp": 0.0135}

# Joint ranges (degrees), shared/REFERENCE.md "Joint ranges" (clinical references):
#   finger MCP flexion 90 / extension 0-45 (we take 30), abduction about +-15-20 (we take 18);
#   PIP 0-100; DIP 0-80; thumb CMC flexion/extension -25..35, abduction -30..60; thumb MCP
#   -10..55; thumb IP -15..80. Abduction at PIP/DIP/IP and twist everywhere are not anatomical
#   degrees of freedom: we leave small slack (5-10 deg) so optimisers are not boxed into a corner.
#   Rows: (flexion lo, hi), (abduction lo, hi), (twist lo, hi).
RANGES_DEG = {
    "finger": (((-30, 90), (-18, 18), (-10, 10)), ((0, 100), (-5, 5), (-5, 5)), ((0, 80), (-5, 5), (-5, 5))),
    "thumb": (((-25, 35), (-30, 60), (-10, 10)), ((-10, 55), (-10, 10), (-10, 10)), ((-15, 80), (-5, 5), (-5, 5))),
}

# shape space scales per unit beta (module docstring of bghop.hands.open_hand)
BETA_SIZE = 0.0535  # 1 SD of hand length (~10 mm) / 187 mm
BETA_FINGER = 0.04  # finger length +4 % per unit ...
BETA_PALM = 0.04 * 0.544 / 0.446  # ... palm length -4.9 %: hand length unchanged
BETA_BREADTH = 0.055  # 1 SD of hand breadth (5 mm / 85 mm, Pheasant)
BETA_THICK = 0.04


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _pt(axial: float, radial: float, palmar: float = 0.0) -> np.ndarray:
    return WRIST + axial * AX + radial * RAD + palmar * PAL


def _dir(radial_deg: float, palmar_deg: float = 0.0) -> np.ndarray:
    a, e = np.deg2rad(radial_deg), np.deg2rad(palmar_deg)
    return np.cos(e) * (np.cos(a) * AX + np.sin(a) * RAD) + np.sin(e) * PAL


# -------------------------------------------------------------------------------- skeleton
def skeleton() -> dict:
    """Rest skeleton of the right hand.

    Returns:
        dict with ``J`` (16, 3) joints in MANO native order, ``tips`` (5, 3) fingertip points
        (thumb..pinky), and per digit ``chain`` (4, 3) joint, joint, joint, tip points and
        ``pad`` (3, 3) unit pad normals per bone.
    """
    J = np.zeros((16, 3))
    J[0] = WRIST
    chains, pads = {}, {}
    for f in FINGERS:
        ax, rad = MCP_AR[f]
        p = _pt(ax * HL, rad * HB, ARCH[f])
        d = _dir(SPLAY_DEG[f])
        pts = [p]
        for seg in SEGMENTS[f]:
            pts.append(pts[-1] + seg * HL * d)
        chains[f] = np.stack(pts)
        n = _unit(PAL - (PAL @ d) * d)
        pads[f] = np.stack([n, n, n])
    p = _pt(CMC_AR[0] * HL, CMC_AR[1] * HB, THUMB_CMC_PALMAR)
    pts, tp = [p], []
    phi = np.deg2rad(THUMB_PRONATION_DEG)
    for seg, (a, e) in zip(SEGMENTS["thumb"], THUMB_DIRS_DEG):
        d = _dir(a, e)
        pts.append(pts[-1] + seg * HL * d)
        p0 = _unit(PAL - (PAL @ d) * d)
        u0 = np.cross(d, p0)
        if u0 @ RAD > 0:  # towards the fingers (ulnar)
            u0 = -u0
        tp.append(_unit(np.cos(phi) * p0 + np.sin(phi) * u0))
    chains["thumb"] = np.stack(pts)
    pads["thumb"] = np.stack(tp)
    for f in DIGITS:
        J[NATIVE_BASE[f] : NATIVE_BASE[f] + 3] = chains[f][:3]
    tips = np.stack([chains[f][3] for f in TIP_ORDER])
    return {"J": J, "tips": tips, "chain": chains, "pad": pads}


# ------------------------------------------------------------------------------ primitives
def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (Quilez) with blend radius ``k``."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _ell_cone(P: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float, n: np.ndarray, depth: float) -> np.ndarray:
    """Approximate distance to a round cone a->b with radii ra->rb whose cross-section is an
    ellipse of width 2r and depth ``depth``·2r along ``n`` (⊥ to the axis)."""
    d = b - a
    L = np.linalg.norm(d)
    d = d / L
    n = _unit(n - (n @ d) * d)
    rel = P - a
    t = rel @ d
    w = rel @ n
    u2 = np.maximum((rel * rel).sum(1) - t * t - w * w, 0.0)
    tc = np.clip(t, 0.0, L)
    rho = np.sqrt(u2 + (w / depth) ** 2)
    r = ra + (rb - ra) * tc / L
    return (np.sqrt((t - tc) ** 2 + rho**2) - r) * (0.5 * (1 + depth))


def _capsule(P: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    d = b - a
    t = np.clip(((P - a) @ d) / (d @ d), 0.0, 1.0)
    return np.linalg.norm(P - (a + t[:, None] * d), axis=1) - (ra + (rb - ra) * t)


def _ellipsoid(P: np.ndarray, c: np.ndarray, axes: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate distance to an ellipsoid (rows of ``axes`` orthonormal)."""
    q = (P - c) @ axes.T
    k0 = np.linalg.norm(q / radii, axis=1)
    k1 = np.linalg.norm(q / radii**2, axis=1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _poly_sdf2(q: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Exact signed distance to a simple polygon in 2-D (negative inside): distance to the
    nearest edge, signed by the crossing-number inside test."""
    edge = np.full(len(q), np.inf)
    inside = np.zeros(len(q), bool)
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        e = b - a
        t = np.clip(((q - a) @ e) / (e @ e), 0.0, 1.0)
        edge = np.minimum(edge, np.linalg.norm(q - (a + t[:, None] * e), axis=1))
        crosses = (a[1] > q[:, 1]) != (b[1] > q[:, 1])
        x_at = a[0] + (q[:, 1] - a[1]) * e[0] / (e[1] if e[1] != 0 else 1e-30)
        inside ^= crosses & (q[:, 0] < x_at)
    return np.where(inside, -edge, edge)


def _tri_dist(P: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Unsigned distance to the triangle abc."""
    ba, cb, ac = b - a, c - b, a - c
    pa, pb, pc = P - a, P - b, P - c
    nor = np.cross(ba, ac)
    s = (np.sign(pa @ np.cross(ba, nor)) + np.sign(pb @ np.cross(cb, nor)) + np.sign(pc @ np.cross(ac, nor)))

    def seg(e, p):
        t = np.clip((p @ e) / (e @ e), 0.0, 1.0)
        return ((p - t[:, None] * e) ** 2).sum(1)

    edge = np.minimum(np.minimum(seg(ba, pa), seg(cb, pb)), seg(ac, pc))
    face = (pa @ nor) ** 2 / (nor @ nor)
    return np.sqrt(np.where(s < 2.0, edge, face))


# ------------------------------------------------------------------------------------ palm
def palm_outline(S: dict) -> np.ndarray:
    """Palm outline in (axial, radial) coordinates relative to the wrist, m."""
    def ar(p):
        q = p - WRIST
        return np.array([q @ AX, q @ RAD])

    ch = S["chain"]
    idx, mid, rng, pk = ar(ch["index"][0]), ar(ch["middle"][0]), ar(ch["ring"][0]), ar(ch["pinky"][0])
    poly = np.array([
        [-0.006, -0.022],  # wrist, ulnar
        [-0.006, 0.019],  # wrist, radial
        [0.040, 0.027],  # radial border (thenar covers it)
        idx + [-0.006, 0.019],
        mid + [0.002, 0.0],
        rng + [0.000, 0.0],
        pk + [-0.008, -0.020],
        [0.040, -0.045],  # hypothenar border
    ])
    for _ in range(3):  # Chaikin corner cutting: a smooth outline
        nxt = np.roll(poly, -1, axis=0)
        poly = np.stack([0.75 * poly + 0.25 * nxt, 0.25 * poly + 0.75 * nxt], 1).reshape(-1, 2)
    return poly


def web_triangle(S: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corners of the first web space (thumb proximal phalanx, index MCP, inside the thenar)."""
    th, idx = S["chain"]["thumb"], S["chain"]["index"]
    return th[1] + 0.35 * (th[2] - th[1]), idx[0] + 0.004 * RAD, th[0] + 0.5 * (th[1] - th[0]) - 0.012 * RAD


def hand_sdf(P: np.ndarray, S: dict) -> np.ndarray:
    """Signed distance (approximate, negative inside) of the flat right hand at points ``(N, 3)``."""
    ch, pads = S["chain"], S["pad"]
    q = P - WRIST
    a, r, p = q @ AX, q @ RAD, q @ PAL
    # palm: rounded slab over the outline; thickness tapers wrist -> MCPs; mild transverse arch
    rr = 0.010
    poly = palm_outline(S)
    d2 = _poly_sdf2(np.stack([a, r], 1), poly) + rr
    t_a = np.clip(a / 0.075, 0.0, 1.0)
    half = PALM_HALF_T["wrist"] + (PALM_HALF_T["mcp"] - PALM_HALF_T["wrist"]) * t_a
    arch = 0.004 * np.clip(-r / 0.035, 0.0, 1.0) ** 2 + 0.002 * np.clip(r / 0.025, 0.0, 1.0) ** 2
    dy = np.abs(p - arch) - (half - rr)
    w = np.stack([d2, dy], 1)
    palm = np.linalg.norm(np.maximum(w, 0.0), axis=1) + np.minimum(w.max(1), 0.0) - rr
    # wrist stub: elliptic cylinder along the axis, 54 x 34 mm, cut with rounded edges 16 mm
    # proximal of the wrist crease and ending inside the palm
    e = np.sqrt((r / 0.027) ** 2 + ((p - 0.001) / 0.017) ** 2)
    stub = -_smin(-(e - 1.0) * 0.017, a + 0.016, 0.008)
    stub = -_smin(-stub, -(a - 0.03), 0.02)
    body = _smin(palm, stub, 0.012)
    # hypothenar pad along the ulnar border, palmar side
    hyp = _capsule(P, _pt(0.020, -0.023, 0.005), _pt(0.060, -0.030, 0.004), 0.0115, 0.010)
    body = _smin(body, hyp, 0.010)
    # thenar eminence: ellipsoid along the thumb metacarpal, on its palmar-ulnar side
    t0, t1 = ch["thumb"][0], ch["thumb"][1]
    dth = _unit(t1 - t0)
    nth = pads["thumb"][0]
    c = t0 + 0.42 * (t1 - t0) + 0.004 * nth - 0.003 * RAD
    axes = np.stack([dth, nth, _unit(np.cross(dth, nth))])
    thenar = _ellipsoid(P, c, axes, np.array([0.030, 0.014, 0.017]))
    body = _smin(body, thenar, 0.012)
    # knuckles (dorsal heads of the metacarpals)
    for f in FINGERS:
        m = ch[f][0]
        kn = np.linalg.norm(P - (m - 0.004 * PAL - 0.003 * AX), axis=1) - RADII[f][0] * 1.02
        body = _smin(body, kn, 0.006)
    # fingers: blended with each other lightly (3 mm: a soft crotch, no webbing), then with the
    # palm (6.5 mm); a palmar pad at the base of each proximal phalanx (the palm's skin reaches
    # past the MCP on the palmar side, up to the digital crease)
    fingers = np.full(len(P), np.inf)
    for f in FINGERS:
        pts, rad = ch[f], RADII[f]
        dpp = _unit(pts[1] - pts[0])
        df = _capsule(P, pts[0] + 0.35 * rad[0] * PAL, pts[0] + 0.014 * dpp + 0.3 * rad[0] * PAL, 0.85 * rad[0], 0.8 * rad[0])
        for k in range(3):
            end = pts[k + 1] if k < 2 else pts[3] - rad[3] * _unit(pts[3] - pts[2])
            seg = _ell_cone(P, pts[k], end, rad[k], rad[k + 1], pads[f][k], DEPTH_RATIO)
            df = _smin(df, seg, 0.002 if k else 0.004)
        fingers = df if f == FINGERS[0] else _smin(fingers, df, 0.003)
    out = _smin(body, fingers, 0.0065)
    # thumb: metacarpal (inside the thenar), phalanges, first web space
    pts, rad = ch["thumb"], RADII["thumb"]
    dt = np.full(len(P), np.inf)
    for k in range(3):
        end = pts[k + 1] if k < 2 else pts[3] - rad[3] * _unit(pts[3] - pts[2])
        seg = _ell_cone(P, pts[k], end, rad[k], rad[k + 1], pads["thumb"][k], 0.85)
        dt = seg if k == 0 else _smin(dt, seg, 0.003)
    web = _tri_dist(P, *web_triangle(S)) - 0.0045
    out = _smin(out, _smin(dt, web, 0.008), 0.012)
    return out


# --------------------------------------------------------------------------------- meshing
def _grid_sdf(S: dict, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate :func:`hand_sdf` on a grid, exactly only in a narrow band around the surface."""
    from scipy.ndimage import map_coordinates

    pts = np.concatenate([S["J"], S["tips"], [_pt(-0.02, 0.0)]])
    lo = pts.min(0) - 0.04
    hi = pts.max(0) + 0.04
    coarse = 0.004
    nc = np.ceil((hi - lo) / coarse).astype(int) + 1
    gc = np.stack(np.meshgrid(*[lo[i] + coarse * np.arange(nc[i]) for i in range(3)], indexing="ij"), -1)
    fc = hand_sdf(gc.reshape(-1, 3), S).reshape(nc)
    n = np.floor((hi - lo) / voxel).astype(int) + 1
    axes = [lo[i] + voxel * np.arange(n[i]) for i in range(3)]
    f = np.empty(n, dtype=np.float64)
    for i in range(n[0]):  # slab by slab: interpolate the coarse field, refine the band exactly
        yy, zz = np.meshgrid(axes[1], axes[2], indexing="ij")
        xx = np.full_like(yy, axes[0][i])
        P = np.stack([xx, yy, zz], -1).reshape(-1, 3)
        idx = ((P - lo) / coarse).T
        approx = map_coordinates(fc, idx, order=1, mode="nearest")
        band = np.abs(approx) < 0.007
        vals = approx.copy()
        if band.any():
            vals[band] = hand_sdf(P[band], S)
        f[i] = vals.reshape(n[1], n[2])
    return f, lo


def _sdf_grad(P: np.ndarray, S: dict, h: float = 2e-4) -> tuple[np.ndarray, np.ndarray]:
    f0 = hand_sdf(P, S)
    g = np.zeros_like(P)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        g[:, i] = (hand_sdf(P + e, S) - hand_sdf(P - e, S)) / (2 * h)
    return f0, g


def _project(P: np.ndarray, S: dict, iters: int = 3) -> np.ndarray:
    for _ in range(iters):
        f, g = _sdf_grad(P, S)
        P = P - (f / np.maximum((g * g).sum(1), 1e-12))[:, None] * g
    return P


def _neighbours(faces: np.ndarray, n: int):
    import scipy.sparse as sp

    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    A = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    A.data[:] = 1.0
    return A


def _relax(v: np.ndarray, faces: np.ndarray, S: dict, iters: int, lam: float = 0.5) -> np.ndarray:
    """Tangential uniform-Laplacian relaxation, projected back onto the implicit surface."""
    A = _neighbours(faces, len(v))
    deg = np.asarray(A.sum(1)).ravel()
    for _ in range(iters):
        _, g = _sdf_grad(v, S)
        nrm = _unit(g)
        c = (A @ v) / deg[:, None]
        dv = c - v
        dv -= (dv * nrm).sum(1, keepdims=True) * nrm
        v = _project(v + lam * dv, S, iters=2)
    return v


def _face_normal(v: np.ndarray, f) -> np.ndarray:
    n = np.cross(v[f[1]] - v[f[0]], v[f[2]] - v[f[0]])
    return n / (np.linalg.norm(n) + 1e-30)


def _collapse_shortest(v: np.ndarray, faces: np.ndarray, target_faces: int, size: np.ndarray,
                       min_len: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Shortest-edge-first edge collapses (midpoint placement) down to ``target_faces``, and
    further while an edge is shorter than ``min_len`` (relative units, see below).

    Edges are ranked by length over the local target size ``size`` (per vertex), so collapsing
    the relatively shortest edge first leaves edges of nearly the target length everywhere. A
    collapse is skipped where it would break the manifold (link condition), leave a vertex of
    valence < 4, or tilt a surviving triangle by more than ~80°.
    """
    import heapq

    v = v.copy()
    size = size.copy()
    F = faces.copy()
    alive_f = np.ones(len(F), bool)
    alive_v = np.ones(len(v), bool)
    vf = [set() for _ in range(len(v))]
    for fi, f in enumerate(F):
        for x in f:
            vf[x].add(fi)

    def nbrs(x):
        return {int(y) for fi in vf[x] for y in F[fi] if y != x}

    heap = []
    for f in F:
        for i in range(3):
            a, b = int(f[i]), int(f[(i + 1) % 3])
            if a < b:
                heap.append((float(np.linalg.norm(v[a] - v[b]) / (size[a] + size[b])), a, b))
    heapq.heapify(heap)
    n_f = len(F)
    while heap and (n_f > target_faces or heap[0][0] < min_len):
        L, a, b = heapq.heappop(heap)
        if not (alive_v[a] and alive_v[b]):
            continue
        shared = vf[a] & vf[b]
        if len(shared) != 2 or abs(np.linalg.norm(v[a] - v[b]) / (size[a] + size[b]) - L) > 1e-12:
            continue
        na, nb = nbrs(a), nbrs(b)
        opp = na & nb
        if len(opp) != 2 or any(len(vf[o]) <= 4 for o in opp) or len(na | nb) - 2 < 5:
            continue
        p = 0.5 * (v[a] + v[b])
        ok = True
        for fi in (vf[a] | vf[b]) - shared:
            f = F[fi]
            q = v[f].copy()
            q[(f == a) | (f == b)] = p
            n1 = np.cross(q[1] - q[0], q[2] - q[0])
            if np.linalg.norm(n1) < 1e-14 or _face_normal(v, f) @ (n1 / np.linalg.norm(n1)) < 0.2:
                ok = False
                break
        if not ok:
            continue
        v[a] = p
        size[a] = 0.5 * (size[a] + size[b])
        for fi in shared:
            alive_f[fi] = False
            for x in F[fi]:
                vf[x].discard(fi)
        n_f -= 2
        for fi in list(vf[b]):
            F[fi][F[fi] == b] = a
            vf[a].add(fi)
        vf[b] = set()
        alive_v[b] = False
        for y in nbrs(a):
            heapq.heappush(heap, (float(np.linalg.norm(v[a] - v[y]) / (size[a] + size[y])), min(a, y), max(a, y)))
    keep = np.nonzero(alive_v)[0]
    remap = -np.ones(len(v), np.int64)
    remap[keep] = np.arange(len(keep))
    return v[keep], remap[F[alive_f]]


def _flip_edges(v: np.ndarray, faces: np.ndarray, passes: int = 3) -> np.ndarray:
    """Edge flips that bring vertex valences towards 6 (the flip step of Botsch & Kobbelt's
    isotropic remeshing). A flip is skipped where the new edge already exists, a valence would
    drop below 4, or the quad is folded (the new triangles must face like the old ones)."""
    F = faces.copy()
    val = np.bincount(F.ravel(), minlength=len(v)).astype(np.int64)  # closed mesh: faces per vertex = valence
    edges: dict[tuple[int, int], list[int]] = {}
    for fi, f in enumerate(F):
        for i in range(3):
            a, b = int(f[i]), int(f[(i + 1) % 3])
            edges.setdefault((min(a, b), max(a, b)), []).append(fi)

    def third(fi, a, b):
        return next(int(x) for x in F[fi] if x != a and x != b)

    for _ in range(passes):
        flipped = 0
        for key in sorted(edges):
            fs = edges.get(key)
            if fs is None or len(fs) != 2:
                continue
            a, b = key
            f1, f2 = fs
            r = [int(x) for x in F[f1]]
            i = r.index(a)
            if r[(i + 1) % 3] != b:  # orient so that f1 holds the directed edge a -> b
                f1, f2 = f2, f1
            c, d = third(f1, a, b), third(f2, a, b)
            if (min(c, d), max(c, d)) in edges or val[a] <= 4 or val[b] <= 4:
                continue
            before = (val[a] - 6) ** 2 + (val[b] - 6) ** 2 + (val[c] - 6) ** 2 + (val[d] - 6) ** 2
            after = (val[a] - 7) ** 2 + (val[b] - 7) ** 2 + (val[c] - 5) ** 2 + (val[d] - 5) ** 2
            if after >= before:
                continue
            n_old = _face_normal(v, F[f1]) + _face_normal(v, F[f2])
            t1, t2 = np.array([b, c, d]), np.array([c, a, d])
            if _face_normal(v, t1) @ n_old < 0.3 or _face_normal(v, t2) @ n_old < 0.3:
                continue
            F[f1], F[f2] = t1, t2
            del edges[key]
            edges[(min(c, d), max(c, d))] = [f1, f2]
            for (x, y), old, new in (((c, a), f1, f2), ((d, b), f2, f1)):
                lst = edges[(min(x, y), max(x, y))]
                lst[lst.index(old)] = new
            val[a] -= 1
            val[b] -= 1
            val[c] += 1
            val[d] += 1
            flipped += 1
        if flipped == 0:
            break
    return F


def mesh_size(v: np.ndarray, S: dict) -> np.ndarray:
    """Relative target edge length per point: 0.6 on the distal phalanges (finger pads need
    resolution for contact), 0.75 on the other phalanges, 1 on palm, back and wrist."""
    ch = S["chain"]
    size = np.ones(len(v))
    for f in DIGITS:
        for k in range(3):
            if f == "thumb" and k == 0:
                continue
            d = _capsule(v, ch[f][k], ch[f][k + 1], RADII[f][k], RADII[f][k + 1])
            w = np.clip(1.0 - d / 0.004, 0.0, 1.0)
            size = np.minimum(size, 1.0 - w * (0.4 if k == 2 else 0.25))
    return size


def build_mesh(S: dict, voxel: float, target_faces: int, relax_iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Watertight, single-component, outward-oriented skin ``(V, 3)``, ``(F, 3)``."""
    import igl
    import trimesh
    from skimage.measure import marching_cubes

    t0 = time.time()
    f, lo = _grid_sdf(S, voxel)
    logger.info("sdf grid %s in %.1fs", f.shape, time.time() - t0)
    v, fc, _, _ = marching_cubes(f, level=0.0, spacing=(voxel,) * 3)
    mesh = trimesh.Trimesh(v + lo, fc, process=True)
    mesh = max(mesh.split(only_watertight=False), key=lambda m: len(m.faces))  # drop specks
    logger.info("marching cubes: %d faces", len(mesh.faces))
    # shortest-edge collapses down to 4x the target (libigl keeps the mesh manifold) ...
    u, g, _, _ = igl.decimate(np.asfortranarray(mesh.vertices, dtype=np.float64),
                              np.asfortranarray(mesh.faces, dtype=np.int32), 4 * target_faces)
    # ... then size-aware collapses to the target, valence-improving flips and relaxation onto the surface
    v3, f3 = _collapse_shortest(np.asarray(u), np.asarray(g, dtype=np.int64), target_faces, mesh_size(np.asarray(u), S))
    logger.info("collapsed to %d faces (%.1fs)", len(f3), time.time() - t0)
    for _ in range(relax_iters):
        f3 = _flip_edges(v3, f3)
        v3 = _relax(v3, f3, S, 3)
    # remove the few needles left (edges under a third of the typical relative length)
    size = mesh_size(v3, S)
    e = np.concatenate([f3[:, [0, 1]], f3[:, [1, 2]], f3[:, [2, 0]]])
    rel = np.linalg.norm(v3[e[:, 0]] - v3[e[:, 1]], axis=1) / (size[e[:, 0]] + size[e[:, 1]])
    v3, f3 = _collapse_shortest(v3, f3, len(f3), size, min_len=np.median(rel) / 3)
    f3 = _flip_edges(v3, f3)
    v3 = _relax(v3, f3, S, 3)
    mesh = trimesh.Trimesh(v3, f3, process=False)
    if mesh.volume < 0:
        mesh.invert()
    if not (mesh.is_watertight and mesh.is_winding_consistent and len(mesh.split(only_watertight=False)) == 1):
        raise RuntimeError("the skin is not a closed, consistently oriented, single-component mesh")
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


# -------------------------------------------------------------------------------- skinning
def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


BLEND_W = {"finger": (0.009, 0.0055, 0.0045), "thumb": (0.016, 0.008, 0.005)}
CMC_SHIFT = 0.012  # the thumb's CMC blend is centred 12 mm distal of the joint (thenar stays with the palm)


def skinning_weights(v: np.ndarray, faces: np.ndarray, S: dict, smooth_iters: int = 4) -> np.ndarray:
    """``(V, 16)`` linear-blend skinning weights (module docstring), rows sum to 1."""
    ch = S["chain"]
    V = len(v)
    D = np.zeros((V, 5))
    chain_w = np.zeros((5, V, 16))
    for ci, f in enumerate(DIGITS):
        pts = ch[f]
        rad = RADII[f]
        base = NATIVE_BASE[f]
        # distance to the digit (normalised by its radius), including a virtual metacarpal
        start = WRIST + 0.3 * (pts[0] - WRIST) if f != "thumb" else WRIST + 0.5 * (pts[0] - WRIST)
        dmin = _capsule(v, start, pts[0], PALM_HALF_T["mcp"], rad[0])
        for k in range(3):
            dmin = np.minimum(dmin, _capsule(v, pts[k], pts[k + 1], rad[k], rad[k + 1]))
        D[:, ci] = dmin
        # rigid bones, smooth joints
        dirs = [_unit(pts[0] - start)] + [_unit(pts[k + 1] - pts[k]) for k in range(3)]
        widths = BLEND_W["thumb" if f == "thumb" else "finger"]
        h = []
        for k in range(3):
            bis = _unit(dirs[k] + dirs[k + 1])
            s = (v - pts[k]) @ bis
            if f == "thumb" and k == 0:
                s = s - CMC_SHIFT
            h.append(_smoothstep((s + widths[k]) / (2 * widths[k])))
        W = np.zeros((V, 16))
        W[:, 0] = 1 - h[0]
        W[:, base] = h[0] * (1 - h[1])
        W[:, base + 1] = h[1] * (1 - h[2])
        W[:, base + 2] = h[2]
        chain_w[ci] = W
    tau = 0.0025
    m = np.exp(-(D - D.min(1, keepdims=True)) / tau)
    m /= m.sum(1, keepdims=True)
    W = np.einsum("vc,cvk->vk", m, chain_w)
    # harmonic fill: where a vertex is not clearly on one bone (joint bands, seams between digits)
    # or lies on the first web space, replace its weights by the harmonic interpolation of the
    # surrounding one-bone vertices; this spreads the stretch of a bend evenly over the band
    free = (W.max(1) < 0.98) | (_tri_dist(v, *web_triangle(S)) < 0.009)
    W = _harmonic_fill(v, faces, W, free)
    A = _neighbours(faces, V)
    deg = np.asarray(A.sum(1)).ravel()
    for _ in range(smooth_iters):
        W = 0.5 * W + 0.5 * (A @ W) / deg[:, None]
    W[W < 1e-3] = 0.0
    return W / W.sum(1, keepdims=True)


def _harmonic_fill(v: np.ndarray, faces: np.ndarray, W: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Solve the cotangent-Laplace equation for the ``free`` rows of ``W`` with the rest fixed."""
    import igl
    import scipy.sparse.linalg as spla

    L = igl.cotmatrix(v, faces.astype(np.int64)).tocsr()
    fi, bi = np.nonzero(free)[0], np.nonzero(~free)[0]
    A = L[fi][:, fi].tocsc()
    rhs = -(L[fi][:, bi] @ W[bi])
    W = W.copy()
    W[fi] = spla.spsolve(A, rhs)
    W = np.clip(W, 0.0, None)
    return W / W.sum(1, keepdims=True)


# ---------------------------------------------------------------------- derived quantities
def tip_vertices(v: np.ndarray, W: np.ndarray, S: dict) -> np.ndarray:
    """Per digit (thumb..pinky) the vertex mostly on the distal bone lying farthest along it."""
    ids = []
    for f in TIP_ORDER:
        pts = S["chain"][f]
        d = _unit(pts[3] - pts[2])
        owned = W[:, NATIVE_BASE[f] + 2] > 0.9
        score = np.where(owned, (v - pts[2]) @ d, -np.inf)
        ids.append(int(np.argmax(score)))
    return np.array(ids, dtype=np.int64)


def anatomical_axes(S: dict) -> np.ndarray:
    """``(15, 3, 3)`` per finger joint the model-frame (flexion, abduction, twist) unit axes (rows).

    Twist = the bone direction ``d``; ``n`` = the pad normal (palmar for the fingers, the pronated
    pad direction for the thumb); flexion = ``d × n`` (a positive rotation moves the bone towards its
    pad); abduction = ``±n``, signed so that a positive rotation moves the bone radially (fingers)
    or palmar, away from the palm plane (thumb).
    """
    axes = np.zeros((15, 3, 3))
    for f in DIGITS:
        pts, pads = S["chain"][f], S["pad"][f]
        for k in range(3):
            d = _unit(pts[k + 1] - pts[k])
            n = _unit(pads[k] - (pads[k] @ d) * d)
            flex = np.cross(d, n)
            ab = n
            target = PAL if f == "thumb" else RAD
            if np.cross(ab, d) @ target < 0:
                ab = -ab
            axes[NATIVE_BASE[f] - 1 + k] = np.stack([flex, ab, d])
    return axes


def joint_limits(axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box ``(45,)`` in model axes that encloses each joint's anatomical range box.

    For joint ``j`` with anatomical axes ``e_a`` and ranges ``[lo_a, hi_a]``, the pose
    ``Σ_a θ_a e_a`` has model component ``i`` in ``[Σ_a min(lo_a e_ai, hi_a e_ai), Σ_a max(...)]``.
    """
    lower, upper = np.zeros((15, 3)), np.zeros((15, 3))
    for f in DIGITS:
        rng = np.deg2rad(np.array(RANGES_DEG["thumb" if f == "thumb" else "finger"], dtype=float))
        for k in range(3):
            j = NATIVE_BASE[f] - 1 + k
            for a in range(3):
                lo_c, hi_c = rng[k, a, 0] * axes[j, a], rng[k, a, 1] * axes[j, a]
                lower[j] += np.minimum(lo_c, hi_c)
                upper[j] += np.maximum(lo_c, hi_c)
    return lower.reshape(45), upper.reshape(45)


def contact_regions(v: np.ndarray, faces: np.ndarray, W: np.ndarray, S: dict) -> dict[str, np.ndarray]:
    """Vertex ids of the palmar pads of the distal phalanges and of the palmar palm surface."""
    import trimesh

    normals = np.asarray(trimesh.Trimesh(v, faces, process=False).vertex_normals)
    out = {}
    for f in DIGITS:
        pts = S["chain"][f]
        n = S["pad"][f][2]
        d = _unit(pts[3] - pts[2])
        L = np.linalg.norm(pts[3] - pts[2])
        along = (v - pts[2]) @ d
        sel = (W[:, NATIVE_BASE[f] + 2] > 0.5) & (normals @ n > 0.4) & (along > 0.15 * L)
        out[f] = np.nonzero(sel)[0]
    q = v - WRIST
    a, r = q @ AX, q @ RAD
    poly = palm_outline(S)
    inside = _poly_sdf2(np.stack([a, r], 1), poly) < -0.004
    mcp_line = min((S["chain"][f][0] - WRIST) @ AX for f in FINGERS)
    palm = (W[:, 0] > 0.8) & (normals @ PAL > 0.7) & inside & (a > 0.012) & (a < mcp_line)
    out["palm"] = np.nonzero(palm)[0]
    return out


def shape_space(v: np.ndarray, W: np.ndarray, S: dict) -> tuple[np.ndarray, np.ndarray]:
    """Vertex ``(V, 3, 10)`` and joint ``(16, 3, 10)`` linear blend shapes.

    * 0 size: uniform scale about the wrist, ``BETA_SIZE`` per unit;
    * 1 proportion: digits' phalanges longer by ``BETA_FINGER`` (scaled along each bone) while the
      palm (and the thumb metacarpal) shortens axially by ``BETA_PALM`` about the wrist, so hand
      length stays the same; each bone's affine map is blended with the skinning weights;
    * 2 breadth: radial coordinates ×(1 + ``BETA_BREADTH``), palmar ×(1 + ``BETA_THICK``) about
      the wrist;
    * 3-9 reserved (zero).
    """
    J = S["J"]
    sd = np.zeros((len(v), 3, 10))
    jd = np.zeros((16, 3, 10))
    sd[:, :, 0] = BETA_SIZE * (v - WRIST)
    jd[:, :, 0] = BETA_SIZE * (J - WRIST)

    def palm_map(p):  # axial compression about the wrist
        return -BETA_PALM * (((p - WRIST) @ AX)[..., None] * AX)

    # joint displacements along each chain, and per-bone affine maps
    jd1 = np.zeros((16, 3))
    jd1[0] = 0.0
    bone_map = {0: lambda p: palm_map(p)}
    for f in DIGITS:
        b = NATIVE_BASE[f]
        pts = S["chain"][f]
        jd1[b] = palm_map(pts[0])
        for k in range(3):
            d = _unit(pts[k + 1] - pts[k])
            if f == "thumb" and k == 0:  # the thumb metacarpal belongs to the palm's proportion
                def m(p):
                    return palm_map(p)
            else:
                def m(p, d=d, j=b + k):
                    return jd1[j] + BETA_FINGER * (((p - J[j]) @ d)[..., None] * d)
            bone_map[b + k] = m
            if k < 2:
                jd1[b + k + 1] = m(pts[k + 1])
    jd[:, :, 1] = jd1
    disp = np.zeros_like(v)
    for k, m in bone_map.items():
        disp += W[:, k : k + 1] * m(v)
    sd[:, :, 1] = disp
    scale2 = BETA_BREADTH * RAD[:, None] * RAD[None, :] + BETA_THICK * PAL[:, None] * PAL[None, :]
    sd[:, :, 2] = (v - WRIST) @ scale2
    jd[:, :, 2] = (J - WRIST) @ scale2
    return sd, jd


# ------------------------------------------------------------------------------------ main
def build(voxel: float = 0.001, target_faces: int = 5600, relax_iters: int = 4) -> dict[str, np.ndarray]:
    """All arrays of the asset (right hand)."""
    S = skeleton()
    v, faces = build_mesh(S, voxel, target_faces, relax_iters)
    W = skinning_weights(v, faces, S)
    tips = tip_vertices(v, W, S)
    axes = anatomical_axes(S)
    lower, upper = joint_limits(axes)
    regions = contact_regions(v, faces, W, S)
    sd, jd = shape_space(v, W, S)
    meta = {
        "hand_length_param_m": HL,
        "hand_breadth_m": HB,
        "wrist_m": WRIST.tolist(),
        "voxel_m": voxel,
        "target_faces": target_faces,
        "layout": "MANO right hand: fingers -x, thumb +z, palm faces -y, wrist at MANO mean J0",
        "sources": {
            "skeleton": "Buchholz, Armstrong & Goldstein 1992, Ergonomics 35(3):261-273",
            "hand_breadth": "Pheasant, Bodyspace (British men 50th pct, 85 mm, SD 5 mm)",
            "joint_ranges": "clinical ranges as in shared/REFERENCE.md 'Joint ranges'",
            "build": "scripts/build_open_hand.py",
        },
    }
    out = {
        "v_template": v.astype(np.float32),
        "faces": faces.astype(np.int32),
        "weights": W.astype(np.float32),
        "joints": S["J"].astype(np.float32),
        "tip_ids": tips,
        "shapedirs": sd.astype(np.float32),
        "jshapedirs": jd.astype(np.float32),
        "anatomical_axes": axes.astype(np.float32),
        "limits_lower": lower.astype(np.float32),
        "limits_upper": upper.astype(np.float32),
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    }
    for k, ids in regions.items():
        out[f"region_{k}"] = ids.astype(np.int32)
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/bghop/assets/open_hand/open_hand_right.npz"))
    ap.add_argument("--voxel", type=float, default=0.001)
    ap.add_argument("--faces", type=int, default=5600)
    ap.add_argument("--relax", type=int, default=4)
    args = ap.parse_args()
    t0 = time.time()
    arrays = build(args.voxel, args.faces, args.relax)
    import trimesh

    m = trimesh.Trimesh(arrays["v_template"], arrays["faces"], process=False)
    logger.info("V=%d F=%d watertight=%s winding=%s components=%d volume=%.1f cm3 (%.1fs)", len(m.vertices),
                len(m.faces), m.is_watertight, m.is_winding_consistent, len(m.split(only_watertight=False)),
                m.volume * 1e6, time.time() - t0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    logger.info("wrote %s (%.0f kB)", args.out, Path(args.out).stat().st_size / 1e3)


if __name__ == "__main__":
    main()
