"""Human grasps to robot hands: keypoint retargeting, then a contact optimisation with the robot's own
collision geometry and joint limits, then a squeeze target beyond first contact.

Per hand, in the object frame, batched, with Adam on the base pose (translation and a rotation
increment) and the joints (each ``q = lower + (upper − lower)·sigmoid(u)``, so the limits hold by
construction):

1. **Start**: the robot's palm frame (:class:`~bghop.hands.robot_spec.RobotHandSpec`: centre, normal,
   finger axis) laid on the human palm frame (:func:`bghop.hands.frames.palm_frame`), its palm surface
   :attr:`RobotFitConfig.palm_gap` out from the human palm centre (the centre of the wrist and knuckle
   joints lies inside the human palm), joints at :attr:`RobotFitConfig.start_flexion` of their range.
2. **Retargeting** (:attr:`~RobotFitConfig.retarget_steps`): robot fingertips onto the human fingertips
   of the same fingers (a robot without a little finger ignores the human one), palm centre and normal
   onto the human palm's, and no part inside the object.
3. **Contact** (:attr:`~RobotFitConfig.contact_steps`): each fingertip link onto the surface (the
   soft minimum of the object's signed distance over the link's surface samples, aiming
   :attr:`~RobotFitConfig.press_depth` in), the hand's surface samples kept out of the object and the
   object's surface samples kept out of the hand's collision boxes (penetration both ways), the two
   hands out of each other, and the fingertips near where retargeting put them.
4. **Squeeze**: ``ctrl = q − squeeze · sign(∂ Σ_f sdf_f / ∂q)`` for the joints of fingers within
   :attr:`~RobotFitConfig.squeeze_reach` of the surface, clamped to the limits: position actuators
   holding ``ctrl`` press the touching fingers into the object, as a robot must to hold anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import trimesh
from torch import Tensor

from bghop.contact.capsules import object_samples
from bghop.contact.energies import ObjectSDF
from bghop.core.rotations import axis_angle_to_matrix
from bghop.hands.base import KEYPOINT_NAMES
from bghop.hands.frames import palm_center, palm_frame
from bghop.hands.robot import RobotHand, RobotPose

logger = logging.getLogger(__name__)

__all__ = ["RobotFitConfig", "RobotGrasp", "fit_robot_grasps", "robot_depths", "HUMAN_TIPS"]

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
            increment (radians) and the base translation (m).
        start_flexion: share of each joint's range from its lower limit at the start.
        palm_gap: metres from the human palm centre out to where the robot's palm surface starts.
        w_tip / w_palm / w_normal: retargeting weights (fingertips, palm centre, palm normal).
        w_contact / w_penetration / w_object_in_hand / w_hand_hand / w_stay: contact-stage weights.
        press_depth: metres the fingertip links aim into the surface.
        contact_temperature: metres, the soft minimum's temperature over a link's samples.
        squeeze: radians (or metres for slide joints) the control target lies beyond the touching
            configuration.
        squeeze_reach: fingers whose tip link is within this distance of the surface squeeze.
        sample_spacing: metres between the object's surface samples (object-in-hand term).
    """

    retarget_steps: int = 120
    contact_steps: int = 200
    lr_joint: float = 0.08
    lr_rot: float = 0.02
    lr_transl: float = 0.004
    start_flexion: float = 0.2
    palm_gap: float = 0.012
    w_tip: float = 1.0
    w_palm: float = 0.5
    w_normal: float = 0.002
    w_contact: float = 1.0
    w_penetration: float = 30.0
    w_object_in_hand: float = 30.0
    w_hand_hand: float = 30.0
    w_stay: float = 0.05
    press_depth: float = 0.001
    contact_temperature: float = 0.002
    squeeze: float = 0.3
    squeeze_reach: float = 0.004
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


def _start(hand: RobotHand, joints: Tensor, side: str, cfg: RobotFitConfig) -> tuple[Tensor, Tensor]:
    """Base rotation ``(B, 3, 3)`` and translation ``(B, 3)`` laying the robot palm on the human one."""
    H = palm_frame(joints, side)  # columns: finger, normal, finger × normal
    centre, normal, axis = hand.palm_axes.unbind(0)
    L = torch.stack([axis, normal, torch.cross(axis, normal, dim=0)], dim=-1)
    R = H @ L.T
    target = palm_center(joints) + cfg.palm_gap * H[..., 1]
    t = target - (R @ centre[:, None])[..., 0]
    return R, t


def _tip_links(hand: RobotHand) -> Tensor:
    """``(F, S)`` mask: the surface samples of each fingertip's link."""
    return hand.surface_body[None, :] == hand.tip_body[:, None]


def _softmin(x: Tensor, t: float, dim: int = -1) -> Tensor:
    return -t * torch.logsumexp(-x / t, dim=dim)


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
    points = object_samples(mesh, cfg.sample_spacing, device=device)
    sides = [s for s in ("right", "left") if s in hands and s in keypoints]
    params, targets, fingers = {}, {}, {}
    for s in sides:
        h, kp = hands[s], keypoints[s].to(device=device, dtype=torch.float32)
        R0, t0 = _start(h, kp, s, cfg)
        frac = torch.full((kp.shape[0], h.num_joints), cfg.start_flexion, device=device)
        params[s] = {"u": torch.logit(frac).requires_grad_(), "w": torch.zeros(kp.shape[0], 3, device=device,
                     requires_grad=True), "t": t0.clone().requires_grad_(), "R0": R0}
        fingers[s] = [HUMAN_TIPS[f] for f in h.fingers]
        H = palm_frame(kp, s)
        targets[s] = {"tips": kp[:, fingers[s]], "palm": palm_center(kp) + cfg.palm_gap * H[..., 1],
                      "normal": H[..., 1]}

    def posed(s: str) -> tuple[RobotPose, Tensor, Tensor]:
        p, h = params[s], hands[s]
        q = h.lower + (h.upper - h.lower) * torch.sigmoid(p["u"])
        T = torch.zeros(q.shape[0], 4, 4, device=device)
        T[:, :3, :3] = axis_angle_to_matrix(p["w"]) @ p["R0"]
        T[:, :3, 3] = p["t"]
        T[:, 3, 3] = 1
        return h(T, q), T, q

    def optimiser() -> torch.optim.Optimizer:
        groups = []
        for s in sides:
            groups += [{"params": [params[s]["u"]], "lr": cfg.lr_joint}, {"params": [params[s]["w"]], "lr": cfg.lr_rot},
                       {"params": [params[s]["t"]], "lr": cfg.lr_transl}]
        return torch.optim.Adam(groups)

    # 2. retargeting
    opt = optimiser()
    for _ in range(cfg.retarget_steps):
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
            retarget_error[s] = (pose.fingertips - targets[s]["tips"]).norm(dim=-1).mean(-1)
            anchors[s] = pose.fingertips.detach()
    links = {s: _tip_links(hands[s]) for s in sides}

    def contact_terms() -> tuple[dict[str, Tensor], dict[str, tuple]]:
        terms: dict[str, Tensor] = {}
        state = {}
        for s in sides:
            pose, T, q = posed(s)
            state[s] = (pose, T, q)
            d = sdf(pose.surface)  # (B, S)
            big = torch.full_like(d, 1.0)
            per_tip = torch.stack([_softmin(torch.where(m, d, big), cfg.contact_temperature) for m in links[s]], 1)
            add = {"contact": ((per_tip + cfg.press_depth) ** 2).sum(-1),
                   "penetration": ((-d - cfg.press_depth).clamp(min=0) ** 2).sum(-1),
                   "object_in_hand": (hands[s].inside_depth(pose, points) ** 2).sum(-1),
                   "stay": ((pose.fingertips - anchors[s]) ** 2).sum(-1).sum(-1)}
            for k, v in add.items():
                terms[k] = terms.get(k, 0) + v
        if len(sides) == 2:
            (pr, _, _), (pl, _, _) = state["right"], state["left"]
            terms["hand_hand"] = (hands["left"].inside_depth(pl, pr.surface) ** 2).sum(-1) + \
                (hands["right"].inside_depth(pr, pl.surface) ** 2).sum(-1)
        return terms, state

    weights = {"contact": cfg.w_contact, "penetration": cfg.w_penetration, "object_in_hand": cfg.w_object_in_hand,
               "stay": cfg.w_stay, "hand_hand": cfg.w_hand_hand}
    # 3. contact
    opt = optimiser()
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
        d = sdf(pose_d.surface)
        big = torch.full_like(d, 1.0)
        per_tip = torch.stack([_softmin(torch.where(m, d, big), cfg.contact_temperature) for m in links[s]], 1)
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
