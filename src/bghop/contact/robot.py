"""Human grasps to robot hands: keypoint retargeting, then a contact optimisation with the robot's own
collision geometry and joint limits, then a squeeze target beyond first contact.

Per hand, in the object frame, batched, with Adam on the base pose (translation and a rotation
increment) and the joints (each ``q = lower + (upper − lower)·sigmoid(u)``, so the limits hold by
construction):

1. **Start**: the robot's palm frame (:class:`~bghop.hands.robot_spec.RobotHandSpec`: centre, normal,
   finger axis) laid on the human palm frame (:func:`bghop.hands.frames.palm_frame`), its palm surface
   :attr:`RobotFitConfig.palm_gap` out from the human palm centre (the centre of the wrist and knuckle
   joints lies inside the human palm), joints at :attr:`RobotFitConfig.start_flexion` of their range.
   By default (:attr:`RobotFitConfig.seat_palms`) the palm is then moved along the human palm's normal to
   :attr:`RobotFitConfig.seat_gap` off the surface and stage 2 is skipped: the robot keeps the human
   grasp's sides and palm orientations, not its fingertip positions.
2. **Retargeting** (``seat_palms=False``) (:attr:`~RobotFitConfig.retarget_steps`): robot fingertips onto the human fingertips
   of the same fingers (a robot without a little finger ignores the human one), palm centre and normal
   onto the human palm's, and no part inside the object.
3. **Contact** (:attr:`~RobotFitConfig.contact_steps`): each fingertip link onto the surface (the
   object's signed distance at the link's nearest surface sample, aiming
   :attr:`~RobotFitConfig.press_depth` in), the hand's surface samples kept out of the object and the
   object's surface samples kept out of the hand's collision boxes (penetration both ways), the two
   hands out of each other, and (after retargeting) the fingertips near where retargeting put them.
4. **Squeeze**: ``ctrl = q − squeeze · sign(∂ Σ_f sdf_f / ∂q)`` for the joints of fingers within
   :attr:`~RobotFitConfig.squeeze_reach` of the surface, clamped to the limits: position actuators
   holding ``ctrl`` press the touching fingers into the object, as a robot must to hold anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor

from bghop.contact.capsules import object_samples
from bghop.contact.energies import ObjectSDF
from bghop.core.rotations import axis_angle_to_matrix
from bghop.hands.base import KEYPOINT_NAMES
from bghop.hands.frames import palm_center, palm_frame
from bghop.hands.robot import BoxPairs, RobotHand, RobotPose

logger = logging.getLogger(__name__)

__all__ = ["HUMAN_TIPS", "RobotFitConfig", "RobotGrasp", "fit_robot_grasps", "robot_depths"]

#: human fingertip keypoint index by finger name
HUMAN_TIPS = {"thumb": KEYPOINT_NAMES.index("thumb_tip"), "index": KEYPOINT_NAMES.index("index_tip"),
              "middle": KEYPOINT_NAMES.index("middle_tip"), "ring": KEYPOINT_NAMES.index("ring_tip"),
              "little": KEYPOINT_NAMES.index("pinky_tip")}


@dataclass(frozen=True)
class RobotFitConfig:
    """Schedule and weights of :func:`fit_robot_grasps` (module docstring; lengths in metres).

    Attributes:
        retarget_steps / contact_steps: Adam steps of the two stages.
        lr_joint / lr_rot / lr_transl: Adam learning rates of the joint logits, the base rotation
            increment (radians) and the base translation (m) when retargeting.
        contact_lr_scale: their factor in the contact stage (finer steps near the surface).
        start_flexion: share of each joint's range from its lower limit at the start.
        palm_gap: metres from the human palm centre out to where the robot's palm surface starts.
        w_tip / w_palm / w_normal: retargeting weights (fingertips, palm centre, palm normal).
        w_contact / w_palm_contact / w_penetration / w_object_in_hand / w_hand_hand / w_stay: contact-stage weights.
        press_depth: metres the fingertip links aim into the surface.
        squeeze: radians (or metres for slide joints) the control target lies beyond the touching
            configuration.
        squeeze_reach: fingers whose tip link is within this distance of the surface squeeze.
        sample_spacing: metres between the object's surface samples (object-in-hand term).
        seat_palms: instead of retargeting the fingertips (stage 2), keep only the human palm's side and
            orientation: the robot palm starts ``seat_gap`` metres off the surface along the human palm's
            normal, then the contact stage alone (no pull towards the human fingertips). The default: LEAP is
            about 1.5 times a human hand, and its fingertips laid on a human's left its palm off the object
            (measured in the README, "Robot hands").
    """

    retarget_steps: int = 120
    contact_steps: int = 200
    lr_joint: float = 0.08
    lr_rot: float = 0.02
    lr_transl: float = 0.004
    contact_lr_scale: float = 0.3
    start_flexion: float = 0.2
    palm_gap: float = 0.012
    w_tip: float = 1.0
    w_palm: float = 0.5
    w_normal: float = 0.002
    w_contact: float = 1.0
    w_palm_contact: float = 1.0
    w_penetration: float = 30.0
    w_object_in_hand: float = 30.0
    w_hand_hand: float = 30.0
    w_stay: float = 0.05
    press_depth: float = 0.001
    squeeze: float = 0.15
    squeeze_reach: float = 0.01
    seat_palms: bool = True
    seat_gap: float = 0.01
    sample_spacing: float = 0.004


@dataclass
class RobotGrasp:
    """A batch of ``B`` robot grasps (object frame, metres, radians).

    Attributes:
        base_pose: side → ``(B, 4, 4)`` pose of each hand's palm body.
        q: side → ``(B, J)`` joints that touch, in :attr:`RobotHand.joint_names` order.
        ctrl: side → ``(B, J)`` the actuators' targets (``q`` plus the squeeze).
        retarget_error: side → ``(B,)`` mean distance of the robot fingertips to the human ones
            after retargeting (m).
        terms: contact-stage terms at the end, each ``(B,)``.
    """

    base_pose: dict[str, Tensor]
    q: dict[str, Tensor]
    ctrl: dict[str, Tensor]
    retarget_error: dict[str, Tensor]
    terms: dict[str, Tensor]


def _lay_palm(hand: RobotHand, H: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Base rotation ``(B, 3, 3)`` and translation ``(B, 3)`` putting the robot's palm frame (finger axis,
    normal) on the columns of ``H`` ``(B, 3, 3)`` (finger, normal, finger × normal) and its palm centre at
    ``target`` ``(B, 3)``."""
    centre, normal, axis = hand.palm_axes.unbind(0)
    L = torch.stack([axis, normal, torch.cross(axis, normal, dim=0)], dim=-1)
    R = H @ L.to(H).T
    return R, target - (R @ centre.to(H)[:, None])[..., 0]


def _start(hand: RobotHand, joints: Tensor, side: str, cfg: RobotFitConfig) -> tuple[Tensor, Tensor]:
    """Base rotation ``(B, 3, 3)`` and translation ``(B, 3)`` laying the robot palm on the human one."""
    H = palm_frame(joints, side)  # columns: finger, normal, finger × normal
    return _lay_palm(hand, H, palm_center(joints) + cfg.palm_gap * H[..., 1])


def _tip_links(hand: RobotHand) -> Tensor:
    """``(F, S)`` mask: the surface samples of each fingertip's link."""
    return hand.surface_body[None, :] == hand.tip_body[:, None]


def _tip_distance(d: Tensor, links: Tensor) -> Tensor:
    """``(B, F)`` the object's signed distance at each fingertip link's nearest surface sample, from the
    samples' distances ``d`` ``(B, S)`` and the links' masks ``(F, S)``. A hard minimum: a soft one over a
    link's few hundred samples lies ``temperature · log(n)`` below the nearest (about 1 cm at 2 mm), which
    left the links millimetres off the surface while the objective read them as pressed in."""
    big = torch.ones_like(d)
    return torch.stack([torch.where(m, d, big).amin(dim=1) for m in links], dim=1)


def robot_depths(hand: RobotHand, pose: RobotPose, sdf: ObjectSDF, points: Tensor) -> tuple[Tensor, Tensor]:
    """Penetration both ways: the deepest hand surface sample inside the object and the deepest object
    sample inside the hand's collision boxes, each ``(B,)`` metres."""
    hand_in = (-sdf(pose.surface)).clamp(min=0).amax(dim=1)
    obj_in = hand.inside_depth(pose, points).amax(dim=1)
    return hand_in, obj_in


def fit_robot_grasps(hands: Mapping[str, RobotHand], keypoints: Mapping[str, Tensor], mesh: trimesh.Trimesh,
                     cfg: RobotFitConfig = RobotFitConfig(), device: torch.device | str = "cpu",
                     obj_sdf: ObjectSDF | None = None) -> RobotGrasp:
    """Retarget human grasps to robot hands and fit them to the object (module docstring).

    Args:
        hands: side → robot hand (float32, on ``device``).
        keypoints: side → ``(B, 21, 3)`` human keypoints of the grasps, object frame (m).
        mesh: the object, metres, object frame.
        cfg: schedule and weights.
        device: torch device.
        obj_sdf: a precomputed :class:`ObjectSDF` of ``mesh``.
    Returns:
        :class:`RobotGrasp`.
    """
    device = torch.device(device)
    sdf = obj_sdf or ObjectSDF(mesh, device=device)
    starts, targets = {}, {}
    for s in [s for s in ("right", "left") if s in hands and s in keypoints]:
        h, kp = hands[s], keypoints[s].to(device=device, dtype=torch.float32)
        R, t = _start(h, kp, s, cfg)
        H = palm_frame(kp, s)
        if cfg.seat_palms:  # keep the human palm's side and orientation; seat the robot palm on the surface
            palm = palm_center(kp) + cfg.palm_gap * H[..., 1]
            with torch.no_grad():
                d = sdf(palm[:, None])[:, 0]
            t = t + (d - cfg.seat_gap)[:, None] * H[..., 1]
        starts[s] = (R, t)
        targets[s] = {"tips": kp[:, [HUMAN_TIPS[f] for f in h.fingers]],
                      "palm": palm_center(kp) + cfg.palm_gap * H[..., 1], "normal": H[..., 1]}
    return _fit(hands, starts, None if cfg.seat_palms else targets, mesh, cfg, device, sdf)


def robot_starts(hands: Mapping[str, RobotHand], mesh: trimesh.Trimesh, n: int, rng: np.random.Generator,
                 gap: float = 0.01, device: torch.device | str = "cpu") -> dict[str, tuple[Tensor, Tensor]]:
    """Prior-free starts of two robot hands: palms facing each other across the object's centre along a random
    direction, each ``gap`` metres off the object's extent along it, the finger axes along a random direction
    across it (the left hand's the same or opposite at random).

    Returns:
        side → (base rotation ``(n, 3, 3)``, base translation ``(n, 3)``).
    """
    verts = np.asarray(mesh.vertices)
    centre = 0.5 * (verts.min(0) + verts.max(0))
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    a = rng.normal(size=(n, 3))
    a -= (a * d).sum(1, keepdims=True) * d
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    flip = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    out = {}
    for s, direction, axis in (("right", d, a), ("left", -d, flip * a)):
        reach = ((verts - centre) @ direction.T).max(0)  # the object's extent along each direction
        palm = centre + direction * (reach[:, None] + gap)
        normal = -direction
        H = np.stack([axis, normal, np.cross(axis, normal)], axis=-1)  # columns as the palm frame's
        R, t = _lay_palm(hands[s], torch.tensor(H, dtype=torch.float64), torch.tensor(palm, dtype=torch.float64))
        out[s] = (R.to(device=device, dtype=torch.float32), t.to(device=device, dtype=torch.float32))
    return out


def optimize_robot_grasps(hands: Mapping[str, RobotHand], mesh: trimesh.Trimesh, n: int,
                          cfg: RobotFitConfig = RobotFitConfig(), seed: int = 0, device: torch.device | str = "cpu",
                          obj_sdf: ObjectSDF | None = None) -> RobotGrasp:
    """The prior-free energy optimiser on robot hands directly: :func:`robot_starts`, then the contact stage
    (no human grasp, so no retargeting and no pull back towards it), then the squeeze.

    Returns:
        :class:`RobotGrasp` (its ``retarget_error`` is NaN).
    """
    device = torch.device(device)
    starts = robot_starts(hands, mesh, n, np.random.default_rng(seed), device=device)
    return _fit(hands, starts, None, mesh, cfg, device, obj_sdf)


def _fit(hands: Mapping[str, RobotHand], starts: Mapping[str, tuple[Tensor, Tensor]],
         targets: Mapping[str, dict] | None, mesh: trimesh.Trimesh, cfg: RobotFitConfig, device: torch.device,
         obj_sdf: ObjectSDF | None) -> RobotGrasp:
    """Stages 2–4 of the module docstring from the given starts (retargeting only with ``targets``)."""
    sdf = obj_sdf or ObjectSDF(mesh, device=device)
    points = object_samples(mesh, cfg.sample_spacing, device=device)
    sides = list(starts)
    params = {}
    for s in sides:
        R0, t0 = starts[s]
        frac = torch.full((R0.shape[0], hands[s].num_joints), cfg.start_flexion, device=device)
        params[s] = {"u": torch.logit(frac).requires_grad_(), "w": torch.zeros(R0.shape[0], 3, device=device,
                     requires_grad=True), "t": t0.clone().requires_grad_(), "R0": R0}

    def posed(s: str) -> tuple[RobotPose, Tensor, Tensor]:
        p, h = params[s], hands[s]
        q = h.lower + (h.upper - h.lower) * torch.sigmoid(p["u"])
        T = torch.zeros(q.shape[0], 4, 4, device=device)
        T[:, :3, :3] = axis_angle_to_matrix(p["w"]) @ p["R0"]
        T[:, :3, 3] = p["t"]
        T[:, 3, 3] = 1
        return h(T, q), T, q

    def optimiser(scale: float = 1.0) -> torch.optim.Optimizer:
        groups = []
        for s in sides:
            groups += [{"params": [params[s]["u"]], "lr": cfg.lr_joint * scale},
                       {"params": [params[s]["w"]], "lr": cfg.lr_rot * scale},
                       {"params": [params[s]["t"]], "lr": cfg.lr_transl * scale}]
        return torch.optim.Adam(groups)

    # 2. retargeting
    opt = optimiser()
    for _ in range(cfg.retarget_steps if targets is not None else 0):
        opt.zero_grad()
        loss = 0.0
        for s in sides:
            pose, _, _ = posed(s)
            tg = targets[s]
            loss = loss + cfg.w_tip * ((pose.fingertips - tg["tips"]) ** 2).sum(-1).mean(-1) \
                + cfg.w_palm * ((pose.palm_centre - tg["palm"]) ** 2).sum(-1) \
                + cfg.w_normal * ((pose.palm_normal - tg["normal"]) ** 2).sum(-1) \
                + cfg.w_penetration * ((-sdf(pose.surface)).clamp(min=0) ** 2).sum(-1)
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        retarget_error, anchors = {}, {}
        for s in sides:
            pose, _, _ = posed(s)
            retarget_error[s] = (torch.full((pose.fingertips.shape[0],), float("nan"), device=device)
                                 if targets is None else (pose.fingertips - targets[s]["tips"]).norm(dim=-1).mean(-1))
            anchors[s] = pose.fingertips.detach()
    links = {s: _tip_links(hands[s]) for s in sides}
    palm_samples = {s: hands[s].surface_body == 0 for s in sides}  # the palm is body 0
    object_pairs = {s: BoxPairs(hands[s], points, margin=0.015) for s in sides}
    other_pairs = {s: BoxPairs(hands[s], margin=0.015) for s in sides}  # the other hand's surface in this hand's boxes

    def contact_terms() -> tuple[dict[str, Tensor], dict[str, tuple]]:
        terms: dict[str, Tensor] = {}
        state = {}
        for s in sides:
            pose, T, q = posed(s)
            state[s] = (pose, T, q)
            d = sdf(pose.surface)  # (B, S)
            per_tip = _tip_distance(d, links[s])
            palm = torch.where(palm_samples[s], d, torch.ones_like(d)).amin(dim=1)
            add = {"contact": ((per_tip + cfg.press_depth) ** 2).sum(-1),
                   "palm_contact": (palm + cfg.press_depth) ** 2,
                   "penetration": ((-d - cfg.press_depth).clamp(min=0) ** 2).sum(-1),
                   "object_in_hand": (hands[s].inside_depth(pose, points, object_pairs[s].get(pose)) ** 2).sum(-1),
                   "stay": ((pose.fingertips - anchors[s]) ** 2).sum(-1).sum(-1)}
            for k, v in add.items():
                terms[k] = terms.get(k, 0) + v
        if len(sides) == 2:
            (pr, _, _), (pl, _, _) = state["right"], state["left"]
            terms["hand_hand"] = \
                (hands["left"].inside_depth(pl, pr.surface, other_pairs["left"].get(pl, pr.surface)) ** 2).sum(-1) + \
                (hands["right"].inside_depth(pr, pl.surface, other_pairs["right"].get(pr, pl.surface)) ** 2).sum(-1)
        return terms, state

    weights = {"contact": cfg.w_contact, "palm_contact": cfg.w_palm_contact, "penetration": cfg.w_penetration,
               "object_in_hand": cfg.w_object_in_hand, "stay": cfg.w_stay if targets is not None else 0.0,
               "hand_hand": cfg.w_hand_hand}
    # 3. contact
    opt = optimiser(cfg.contact_lr_scale)
    for _ in range(cfg.contact_steps):
        opt.zero_grad()
        terms, _ = contact_terms()
        sum(weights[k] * v for k, v in terms.items()).sum().backward()
        opt.step()
    # 4. squeeze
    terms, state = contact_terms()
    out_T, out_q, out_ctrl = {}, {}, {}
    for s in sides:
        pose, T, q = state[s]
        qd = q.detach().requires_grad_()
        pose_d = hands[s](T.detach(), qd)
        per_tip = _tip_distance(sdf(pose_d.surface), links[s])
        (g,) = torch.autograd.grad(per_tip.sum(), qd)
        near = per_tip.detach() < cfg.squeeze_reach  # (B, F)
        ctrl = qd.detach() - cfg.squeeze * torch.sign(g) * (g.abs() > 1e-6)
        ctrl = torch.where(_finger_joints_near(hands[s], near), ctrl, qd.detach())
        out_T[s], out_q[s], out_ctrl[s] = T.detach(), q.detach(), hands[s].clamp(ctrl)
    return RobotGrasp(base_pose=out_T, q=out_q, ctrl=out_ctrl, retarget_error=retarget_error,
                      terms={k: v.detach() for k, v in terms.items()})


def _finger_joints_near(hand: RobotHand, near: Tensor) -> Tensor:
    """``(B, J)``: the joints on the chain from the palm to a fingertip that is near the surface."""
    chains = hand.finger_chains  # (F, J) bool
    return (near[:, :, None] & chains[None]).any(dim=1)
