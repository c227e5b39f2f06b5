"""Prior-free energy grasp optimiser for one or two hands (a BimanGrasp-style baseline).

Many random initialisations are optimised in one batch with Adam on

* contact: finger pads and palm pulled onto the surface (soft-min distance per region),
* penetration: hand vertices inside the object,
* hand–hand penetration: overlapping collision spheres along both skeletons,
* joint limits: squared violation of the anatomical box,
* natural pose: distance to a relaxed grasp pose,
* opposition (two hands): the palms face each other across the object, their centres on
  opposite sides (a force-closure proxy between the hands); (one hand): the thumb pad faces
  the index/middle pads.

Hands are parameterised in the object frame: articulation ``pose``, a 6D global rotation and
a translation per hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.contact.energies import (
    ObjectSDF,
    contact_energy,
    contact_points,
    hand_hand_energy,
    hand_regions,
    penetration_energy,
    wrench_energy,
)
from bghop.core.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_matrix,
)
from bghop.hands.base import HandModel
from bghop.hands.frames import palm_center, palm_frame, place_hand
from bghop.hands.params import HandParams
from bghop.hands.poses import named_pose, squeeze_pose

logger = logging.getLogger(__name__)

__all__ = ["EnergyConfig", "GraspBatch", "optimize_grasps", "squeeze_pose"]


@dataclass(frozen=True)
class EnergyConfig:
    """Weights and schedule of the energy optimiser.

    Attributes:
        iterations: Adam steps.
        lr_pose / lr_rot / lr_transl: learning rates (radians, 6D units, metres).
        w_*: energy weights (energies are in metres² or radians²).
        contact_weights: per contact region.
        w_wrench / w_wrench_single: weight of the force-closure residual
            (:func:`~bghop.contact.energies.wrench_energy`) of the contact regions with two hands /
            one hand; a single fixed hand only holds an object when its contacts balance.
        init_offset: metres between the surface and each palm at initialisation.
        skin_stride: the energies see every ``skin_stride``-th hand vertex plus every vertex of
            the contact regions (1 = all); skinning fewer vertices is what makes the batch fast,
            and the final checks always use the full mesh.
        wrap_curl: one hand only: the initial pose is this far from ``relaxed`` towards ``fist``
            (0 = relaxed, 1 = fist), so the fingers start half-wrapped around the object.
        press_depth: metres the contact regions aim to press into the surface (soft pads); vertices
            up to this deep are not penalised as penetration.
        thin_depth: objects whose deepest inside point (on the SDF grid) is less deep than this
            are optimised on every hand vertex, whatever ``skin_stride`` says: a thin wall or rim
            fits between the subset's vertices, and once it does, the grasp settles with a vertex
            the energies never see deep inside (12 mm bowl and pot walls: 0 of 8 candidates within
            5 mm on the subset, 5 and 7 of 8 on every vertex). Procedural vessels, plates,
            trays, tubes and laptops are 4–8 mm deep, solid shapes 16 mm or more, books and
            rings either way (``scripts/object_depths.py``). 0 = never.
    """

    iterations: int = 300
    lr_pose: float = 0.03
    lr_rot: float = 0.02
    lr_transl: float = 0.003
    w_contact: float = 1000.0
    w_penetration: float = 3000.0
    w_hand_hand: float = 3000.0
    w_limits: float = 10.0
    w_prior: float = 0.02
    w_opposition: float = 0.05
    w_wrench: float = 0.0
    w_wrench_single: float = 0.5
    init_offset: float = 0.02
    press_depth: float = 0.002
    wrap_curl: float = 0.4
    skin_stride: int = 3
    thin_depth: float = 0.01
    contact_weights: tuple[tuple[str, float], ...] = (("thumb", 1.0), ("index", 1.0), ("middle", 1.0),
                                                      ("ring", 0.5), ("pinky", 0.3), ("palm", 0.5))


@dataclass
class GraspBatch:
    """Optimised grasps in the object frame.

    Attributes:
        hands: ``{"right": HandParams (B), "left": HandParams (B)}`` (left absent for one hand).
        energy: ``(B,)`` final total energy (lower is better).
        skin_stride: the hand-vertex stride the energies used (1 for thin objects, see
            :attr:`EnergyConfig.thin_depth`).
    """

    hands: dict[str, HandParams]
    energy: Tensor
    skin_stride: int = 1


def _random_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _wrap_directions(n: int, mesh: trimesh.Trimesh, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One-hand power-grasp starts: approach directions ``(n, 3)`` perpendicular to the object's
    longest box axis, and finger directions ``(n, 3)`` around that axis (either way round), so the
    curling fingers wrap the narrow part of the object as a hand wraps a bottle."""
    axis = np.zeros(3)
    axis[int(np.argmax(mesh.extents))] = 1.0
    d = _random_directions(n, rng)
    d = d - (d @ axis)[:, None] * axis
    d /= np.linalg.norm(d, axis=1, keepdims=True).clip(1e-9)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)[:, None]
    finger = sign * np.cross(axis, d)
    tilt = rng.normal(scale=0.25, size=(n, 1))  # some tilt of the hand along the axis
    finger = finger + tilt * axis
    return d, finger / np.linalg.norm(finger, axis=1, keepdims=True)


def _init(hand: HandModel, n: int, mesh: trimesh.Trimesh, dirs: np.ndarray, rng: np.random.Generator,
          cfg: EnergyConfig, device: torch.device, fingers: np.ndarray | None = None,
          curl: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Hands whose palms face the object centre from ``dirs``, fingers along ``fingers`` (a random
    roll when None), in the relaxed pose moved ``curl`` of the way to the fist."""
    pose = named_pose("relaxed", side=hand.side).to(device)
    if curl:
        pose = torch.lerp(pose, named_pose("fist", side=hand.side).to(device), curl)
    pose = pose[None].repeat(n, 1)
    pose = pose + 0.1 * torch.randn(n, 45, generator=torch.Generator().manual_seed(int(rng.integers(1 << 31)))).to(device)
    center = torch.tensor(mesh.bounds.mean(0), dtype=torch.float32, device=device)
    d = torch.tensor(dirs, dtype=torch.float32, device=device)
    # distance from the centre to the surface along d, from the bounding box (a conservative start)
    half = torch.tensor(mesh.extents / 2, dtype=torch.float32, device=device)
    reach = (half / d.abs().clamp_min(1e-6)).min(dim=1).values
    anchor = center + d * (reach[:, None] + cfg.init_offset)
    roll = torch.tensor(_random_directions(n, rng) if fingers is None else fingers, dtype=torch.float32, device=device)
    finger = roll - (roll * d).sum(-1, keepdim=True) * d
    pl = place_hand(hand, pose, finger, -d, anchor, offset=0.0)
    return pose, matrix_to_rot6d(axis_angle_to_matrix(pl.global_orient)), pl.transl


def _skin_subset(hand: HandModel, stride: int, device: torch.device) -> tuple[Tensor, dict[str, Tensor]]:
    """Vertex ids ``(n,)`` the energies look at (every ``stride``-th plus the contact regions), and
    the contact regions re-indexed into that subset."""
    full = hand_regions(hand, device)
    keep = torch.zeros(hand.num_vertices, dtype=torch.bool, device=device)
    keep[::max(1, stride)] = True
    for ids in full.values():
        keep[ids] = True
    ids = keep.nonzero()[:, 0]
    where = torch.full((hand.num_vertices,), -1, dtype=torch.long, device=device)
    where[ids] = torch.arange(ids.shape[0], device=device)
    return ids, {k: where[v] for k, v in full.items()}


def optimize_grasps(mesh: trimesh.Trimesh, hands: dict[str, HandModel], n: int, cfg: EnergyConfig = EnergyConfig(),
                    seed: int = 0, device: torch.device | str = "cpu", obj_sdf: ObjectSDF | None = None) -> GraspBatch:
    """Optimise ``n`` grasps of ``mesh`` with one hand (``{"right": layer}``) or two.

    Args:
        mesh: the object, metres, object frame.
        hands: hand layers by side; ``"right"`` required.
        n: batch size (number of initialisations).
        cfg: weights and schedule.
        seed: random seed (initial directions, rolls, pose noise).
        device: torch device.
        obj_sdf: a precomputed :class:`ObjectSDF` (built from ``mesh`` if None).
    Returns:
        :class:`GraspBatch` in the object frame.
    """
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    sdf = obj_sdf or ObjectSDF(mesh, device=device)
    sides = [s for s in ("right", "left") if s in hands]
    params: dict[str, list[Tensor]] = {}
    if len(sides) == 1:  # one hand: start half-wrapped around the object's narrow part
        dirs, fingers = _wrap_directions(n, mesh, rng)
        pose, r6, t = _init(hands["right"], n, mesh, dirs, rng, cfg, device, fingers, cfg.wrap_curl)
        params["right"] = [pose.detach().clone().requires_grad_(), r6.detach().clone().requires_grad_(),
                           t.detach().clone().requires_grad_()]
    dirs = _random_directions(n, rng)
    for side in sides if len(sides) == 2 else ():
        dd = dirs if side == "right" else -dirs  # the left hand starts on the opposite side
        pose, r6, t = _init(hands[side], n, mesh, dd, rng, cfg, device)
        params[side] = [pose.detach().clone().requires_grad_(), r6.detach().clone().requires_grad_(),
                        t.detach().clone().requires_grad_()]
    groups = []
    for side in sides:
        p, r, t = params[side]
        groups += [{"params": [p], "lr": cfg.lr_pose}, {"params": [r], "lr": cfg.lr_rot},
                   {"params": [t], "lr": cfg.lr_transl}]
    opt = torch.optim.Adam(groups)
    stride = cfg.skin_stride
    depth = float(-sdf.grid.min())  # deepest inside point, metres
    if cfg.thin_depth > 0 and stride > 1 and depth < cfg.thin_depth:
        stride = 1
        logger.debug("thin object (deepest inside point %.1f mm): energies on every hand vertex", 1000 * depth)
    subset, regions = {}, {}
    for s in sides:
        ids, regions[s] = _skin_subset(hands[s], stride, device)
        subset[s] = ids
    cw = dict(cfg.contact_weights)
    relaxed = {s: named_pose("relaxed", side=s).to(device) for s in sides}
    center = torch.tensor(mesh.bounds.mean(0), dtype=torch.float32, device=device)
    w_wrench = cfg.w_wrench if len(sides) == 2 else cfg.w_wrench_single
    torque_scale = float(max(mesh.extents.max() / 2, 0.02))

    def energies() -> tuple[Tensor, dict[str, Tensor]]:
        total = torch.zeros(n, device=device)
        joints = {}
        cps, cds = [], []
        for side in sides:
            pose, r6, t = params[side]
            orient = matrix_to_axis_angle(rot6d_to_matrix(r6))
            out = hands[side].forward_subset(subset[side], pose, orient, t)
            s = sdf(out.vertices)
            total = total + cfg.w_contact * contact_energy(s, regions[side], cw, target=-cfg.press_depth)
            total = total + cfg.w_penetration * penetration_energy(s, tolerance=cfg.press_depth)
            lim = hands[side].joint_limits
            if lim is not None:
                total = total + cfg.w_limits * lim.violation(pose)
            total = total + cfg.w_prior * ((pose - relaxed[side]) ** 2).sum(-1)
            joints[side] = out.joints
            if w_wrench:
                p_c, d_c = contact_points(out.vertices, s, {k: v for k, v in regions[side].items() if cw.get(k, 0) > 0})
                cps.append(p_c)
                cds.append(d_c)
        if w_wrench:
            p_c, d_c = torch.cat(cps, 1), torch.cat(cds, 1)
            active = torch.exp(-(d_c / 0.005) ** 2)  # a contact counts fully at the surface, fades by ~1 cm
            total = total + w_wrench * wrench_energy(p_c, sdf.normals(p_c), active, center, torque_scale)
        if len(sides) == 2:
            total = total + cfg.w_hand_hand * hand_hand_energy(joints["right"], joints["left"])
            n_r = palm_frame(joints["right"], "right")[..., 1]
            n_l = palm_frame(joints["left"], "left")[..., 1]
            c_r, c_l = palm_center(joints["right"]), palm_center(joints["left"])
            across = torch.nn.functional.normalize(c_l - c_r, dim=-1)
            # palms face each other and the object lies between them
            total = total + cfg.w_opposition * ((1 + (n_r * n_l).sum(-1)) + (1 - (n_r * across).sum(-1))
                                                + torch.relu(((center - c_r) * (center - c_l)).sum(-1)) * 100)
        else:
            j = joints["right"]
            thumb = torch.nn.functional.normalize(j[:, 4] - j[:, 3], dim=-1)
            fingers = torch.nn.functional.normalize(0.5 * (j[:, 8] + j[:, 12]) - j[:, 4], dim=-1)
            total = total + cfg.w_opposition * (1 - (thumb * fingers).sum(-1))
        return total, joints

    for _ in range(cfg.iterations):
        opt.zero_grad()
        e, _ = energies()
        e.sum().backward()
        opt.step()
    with torch.no_grad():
        e, _ = energies()
        out = {}
        for side in sides:
            pose, r6, t = params[side]
            out[side] = HandParams(pose.detach(), matrix_to_axis_angle(rot6d_to_matrix(r6)).detach(), t.detach(),
                                   torch.zeros(n, 10, device=device))
    return GraspBatch(hands=out, energy=e.detach(), skin_stride=stride)

