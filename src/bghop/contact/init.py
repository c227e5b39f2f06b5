"""The one grasp initialiser: ``n`` diverse starting grasps around an object.

Each hand starts in the relaxed pose (plus articulation noise) with its palm facing the object's
centre from a random direction, ``offset`` metres off the bounding box, with a random roll about
that direction; the left hand starts on the opposite side. With one hand and ``wrap_single`` the
start is a power grasp instead: the approach is perpendicular to the object's longest box axis,
the fingers run around that axis and are curled ``wrap_curl`` of the way to a fist, so they wrap
the narrow part as a hand wraps a bottle. With two hands and ``span > 0``, that share of the starts
*span* the object instead (:func:`span_starts`): each hand faces its own point on the object's
longest principal axis, at ±30–90 % of the half-length from the centre, approaching either along
that axis (palms on the two ends: a carton, a tray's short edges) or across it (around a pipe or a
pole at two places).

Used by the prior-free optimiser (:mod:`bghop.contact.optimizer`) and by grasp synthesis
(:mod:`bghop.synthesis.grasp`). Every random draw comes from one ``numpy`` generator in a fixed
order, so a seed fixes the starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.contact.capsules import CapsuleNeighbours, capsule_depths, fit_capsules, object_samples
from bghop.geometry.axes import principal_extents, principal_frame
from bghop.hands.base import HandModel
from bghop.hands.frames import place_hand
from bghop.hands.poses import named_pose

__all__ = ["InitConfig", "HandStart", "initial_hands", "random_directions", "wrap_directions", "span_starts"]


@dataclass(frozen=True)
class InitConfig:
    """How the starting grasps are drawn.

    Attributes:
        offset: metres between the object's bounding box and each palm.
        pose_noise: std (radians) of the articulation noise added to the relaxed pose.
        clamp_to_limits: project the noisy pose into the hand's joint limits.
        wrap_single: one hand starts as a power grasp around the object's narrow part.
        wrap_curl: that start's pose, this far from relaxed towards the fist (0 relaxed, 1 fist).
        back_off: a start whose hand already holds part of the object inside it (object-surface
            samples inside the hand's bone capsules, :mod:`bghop.contact.capsules`: a relaxed
            hand's curled fingers reach through a plate 2 cm away) is moved back along its approach
            direction in 5 mm steps until it is clear, at most this far, metres (0: never).
        span: share of two-hand starts that span the object's longest axis (module docstring;
            0: every start faces the centre from opposite random directions, as before).
    """

    offset: float = 0.02
    pose_noise: float = 0.1
    clamp_to_limits: bool = True
    wrap_single: bool = False
    wrap_curl: float = 0.4
    back_off: float = 0.1
    span: float = 0.0


#: step of the back-off of a start that already holds the object inside it, metres
BACK_OFF_STEP = 0.005


@dataclass
class HandStart:
    """One hand's starting parameters for a batch (object frame).

    Attributes:
        pose: ``(n, 45)`` articulation.
        global_orient: ``(n, 3)`` axis-angle about the rest wrist.
        transl: ``(n, 3)`` metres.
    """

    pose: Tensor
    global_orient: Tensor
    transl: Tensor


def random_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` unit vectors, uniform on the sphere."""
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def wrap_directions(n: int, mesh: trimesh.Trimesh, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One-hand power-grasp starts: approach directions ``(n, 3)`` perpendicular to the object's
    longest box axis, and finger directions ``(n, 3)`` around that axis (either way round)."""
    axis = np.zeros(3)
    axis[int(np.argmax(mesh.extents))] = 1.0
    d = random_directions(n, rng)
    d = d - (d @ axis)[:, None] * axis
    d /= np.linalg.norm(d, axis=1, keepdims=True).clip(1e-9)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)[:, None]
    finger = sign * np.cross(axis, d)
    tilt = rng.normal(scale=0.25, size=(n, 1))  # some tilt of the hand along the axis
    finger = finger + tilt * axis
    return d, finger / np.linalg.norm(finger, axis=1, keepdims=True)


def _place(hand: HandModel, mesh: trimesh.Trimesh, dirs: np.ndarray, rng: np.random.Generator, cfg: InitConfig,
           device: torch.device, fingers: np.ndarray | None = None, curl: float = 0.0,
           targets: np.ndarray | None = None) -> HandStart:
    """Hands whose palms face the object centre (or ``targets`` ``(n, 3)``, points inside the object's
    box) from ``dirs``, fingers along ``fingers`` (a random roll when None), in the relaxed pose moved
    ``curl`` of the way to the fist, plus noise."""
    n = len(dirs)
    g = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    pose = named_pose("relaxed", side=hand.side)
    if curl:
        pose = torch.lerp(pose, named_pose("fist", side=hand.side), curl)
    pose = pose[None].repeat(n, 1) + cfg.pose_noise * torch.randn(n, 45, generator=g)
    lim = hand.joint_limits
    if cfg.clamp_to_limits and lim is not None:
        pose = lim.clamp(pose)
    pose = pose.to(device)
    d = torch.tensor(dirs, dtype=torch.float32, device=device)
    if targets is None:
        center = torch.tensor(mesh.bounds.mean(0), dtype=torch.float32, device=device)
        # distance from the centre to the surface along d, from the bounding box (a conservative start)
        half = torch.tensor(mesh.extents / 2, dtype=torch.float32, device=device)
        reach = (half / d.abs().clamp_min(1e-6)).min(dim=1).values
    else:  # from each target to where the ray along d leaves the bounding box
        center = torch.tensor(targets, dtype=torch.float32, device=device)
        lo, hi = (torch.tensor(b, dtype=torch.float32, device=device) for b in mesh.bounds)
        wall = torch.where(d > 0, hi, lo) - center
        reach = torch.where(d.abs() > 1e-6, wall / torch.where(d.abs() > 1e-6, d, torch.ones_like(d)),
                            torch.full_like(d, float("inf"))).min(dim=1).values.clamp_min(0.0)
    anchor = center + d * (reach[:, None] + cfg.offset)
    roll = torch.tensor(random_directions(n, rng) if fingers is None else fingers, dtype=torch.float32, device=device)
    finger = roll - (roll * d).sum(-1, keepdim=True) * d
    with torch.no_grad():
        pl = place_hand(hand, pose, finger, -d, anchor, offset=0.0)
        transl = pl.transl
        if cfg.back_off > 0:
            transl = _back_off(hand, mesh, pose, pl.global_orient, transl, d, cfg.back_off)
    return HandStart(pose, pl.global_orient, transl)


def _back_off(hand: HandModel, mesh: trimesh.Trimesh, pose: Tensor, orient: Tensor, transl: Tensor, d: Tensor,
              limit: float) -> Tensor:
    """``transl`` moved along ``d`` (away from the object) in :data:`BACK_OFF_STEP` steps until no
    object sample is inside the hand's capsules, at most ``limit`` (no gradients)."""
    caps = fit_capsules(hand, pose.device)
    pts = object_samples(mesh, device=pose.device)
    joints = hand.keypoints(pose, orient, transl)
    moved = torch.zeros(len(pose), device=pose.device)
    near = CapsuleNeighbours()
    for _ in range(int(round(limit / BACK_OFF_STEP))):
        depth, _ = capsule_depths(pts, joints + (moved[:, None] * d)[:, None], caps, near)
        stuck = (depth > 0).any(-1) if depth.shape[1] else torch.zeros_like(moved, dtype=torch.bool)
        if not bool(stuck.any()):
            break
        moved = moved + BACK_OFF_STEP * stuck
    return transl + moved[:, None] * d


def initial_hands(layers: Mapping[str, HandModel], mesh: trimesh.Trimesh, n: int, rng: np.random.Generator,
                  cfg: InitConfig = InitConfig(), device: torch.device | str = "cpu") -> dict[str, HandStart]:
    """``n`` starting grasps of ``mesh`` (module docstring).

    Args:
        layers: hand layers by side (``"right"``, optionally ``"left"``).
        mesh: the object, metres, object frame.
        n: number of grasps.
        rng: the random generator (advanced by the draws).
        cfg: how to draw.
        device: torch device of the results.
    Returns:
        ``{side: HandStart}`` in the object frame.
    """
    device = torch.device(device)
    if "left" not in layers and cfg.wrap_single:
        dirs, fingers = wrap_directions(n, mesh, rng)
        return {"right": _place(layers["right"], mesh, dirs, rng, cfg, device, fingers, cfg.wrap_curl)}
    dirs = random_directions(n, rng)
    if "left" in layers and cfg.span > 0:
        spans = rng.random(n) < cfg.span
        k = int(spans.sum())
        if k:
            starts = {s: _place(layers[s], mesh, dirs[~spans] * (1 if s == "right" else -1), rng, cfg, device)
                      for s in ("right", "left")} if k < n else {}
            d, t = span_starts(k, mesh, rng)
            spanned = {s: _place(layers[s], mesh, d[s], rng, cfg, device, targets=t[s]) for s in ("right", "left")}
            order = torch.as_tensor(np.argsort(np.concatenate([np.flatnonzero(~spans), np.flatnonzero(spans)]),
                                               kind="stable"), device=device)
            out = {}
            for s in ("right", "left"):
                parts = [starts[s]] if starts else []
                parts.append(spanned[s])
                out[s] = HandStart(*(torch.cat([getattr(p, f) for p in parts])[order]
                                     for f in ("pose", "global_orient", "transl")))
            return out
    out = {"right": _place(layers["right"], mesh, dirs, rng, cfg, device)}
    if "left" in layers:
        out["left"] = _place(layers["left"], mesh, -dirs, rng, cfg, device)
    return out


def span_starts(n: int, mesh: trimesh.Trimesh, rng: np.random.Generator
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Approach directions and target points ``{side: (n, 3)}`` of two-hand starts that span the object.

    Each hand's target lies on the object's longest principal axis
    (:func:`bghop.geometry.axes.principal_frame`), the right hand's at +30–90 % of the half-length from
    the centre and the left's as far on the other side. Half of the pairs approach along the axis
    from outside (the right from +axis, the left from −axis: palms on the ends), the other half
    across it from a random direction perpendicular to the axis, the left hand's turned about the
    axis by a random angle (the same side, the opposite side or anything between).
    """
    oTa = principal_frame(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    axis, centre = oTa[:3, 0], oTa[:3, 3]
    half = 0.5 * float(principal_extents(np.asarray(mesh.vertices), oTa)[0])
    frac = rng.uniform(0.3, 0.9, size=n)
    targets = {"right": centre + (frac * half)[:, None] * axis, "left": centre - (frac * half)[:, None] * axis}
    along = rng.random(n) < 0.5
    across = random_directions(n, rng)
    across = across - (across @ axis)[:, None] * axis
    across /= np.linalg.norm(across, axis=1, keepdims=True).clip(1e-9)
    turn = rng.uniform(0.0, 2 * np.pi, size=n)
    # Rodrigues: the left hand's approach is the right's turned about the axis
    other = (across * np.cos(turn)[:, None] + np.cross(axis, across) * np.sin(turn)[:, None])
    dirs = {"right": np.where(along[:, None], axis, across), "left": np.where(along[:, None], -axis, other)}
    return dirs, targets
