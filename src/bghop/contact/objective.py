"""The one grasp objective: named per-grasp energy terms over posed hands and an object.

Both prior-free optimisation (the synthetic-set builder and the ``energy`` baseline,
:mod:`bghop.contact.optimizer`) and the contact refinement after score distillation
(:mod:`bghop.synthesis.grasp`) minimise this objective; they differ only in its weights
(:class:`ObjectiveConfig`). The terms, each ``(B,)`` per grasp (metres² or radians²):

* ``contact``: finger pads and palm pulled onto the surface (soft-min distance per region,
  :func:`~bghop.contact.energies.contact_energy`), aiming ``press_depth`` into it;
* ``penetration``: hand vertices inside the object beyond ``press_depth``;
* ``object_in_hand``: the other way round: samples of the object's surface inside capsules
  fitted to the hand's bones (:mod:`bghop.contact.capsules`), so that a rim, a handle or a blade
  cannot slice between hand vertices unseen;
* ``limits``: squared violation of the anatomical joint-limit box (hands that have one);
* ``natural_pose``: squared distance of the articulation to the relaxed grasp pose;
* ``wrench``: the frictionless force-closure residual of the contacts
  (:func:`~bghop.contact.energies.wrench_energy`, DexGraspNet's wrench balance);
* ``hand_hand``: overlapping collision spheres along both skeletons;
* ``opposition``: two hands: the palms face each other across the object, its centre between
  them; one hand: the thumb pad faces the index and middle pads;
* ``damping``: ``|Δpose|² + |Δrot|² + |Δtransl / damping_length|²`` to an anchor state (the
  refinement keeps the score-distillation result close).

A term whose weight is 0 is not computed. The total is accumulated in the order above, per hand
for the first five, so that every caller gets the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
import trimesh
from torch import Tensor

from bghop.contact.capsules import CapsuleNeighbours, fit_capsules, object_in_hand_energy, object_samples
from bghop.contact.energies import (
    ObjectSDF,
    contact_energy,
    contact_points,
    hand_hand_energy,
    hand_regions,
    penetration_energy,
    wrench_energy,
)
from bghop.hands.base import HandModel
from bghop.hands.frames import palm_center, palm_frame
from bghop.hands.poses import named_pose

logger = logging.getLogger(__name__)

__all__ = ["TERM_NAMES", "ObjectiveConfig", "ObjectiveValue", "GraspObjective", "REFINE_OBJECTIVE"]

#: the objective's terms, in the order they are accumulated
TERM_NAMES: tuple[str, ...] = ("contact", "penetration", "object_in_hand", "limits", "natural_pose", "wrench",
                               "hand_hand", "opposition", "damping")

#: contact-region weights of the finger pads and the palm
_CONTACT_WEIGHTS: tuple[tuple[str, float], ...] = (("thumb", 1.0), ("index", 1.0), ("middle", 1.0),
                                                   ("ring", 0.5), ("pinky", 0.3), ("palm", 0.5))


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights of the grasp objective (module docstring) and which hand vertices it sees.

    The defaults are the data builder's (:class:`~bghop.contact.optimizer.EnergyConfig`);
    :data:`REFINE_OBJECTIVE` is the refinement's.

    Attributes:
        w_contact / w_penetration / w_object_in_hand / w_limits / w_natural_pose / w_hand_hand /
            w_opposition / w_damping: term weights.
        w_wrench / w_wrench_single: weight of the force-closure residual with two hands / one hand
            (a single fixed hand only holds an object when its contacts balance).
        contact_weights: per contact region (missing regions count 0).
        press_depth: metres the contact regions aim to press into the surface (soft pads);
            vertices up to this deep are not penalised as penetration.
        damping_length: metres that count as one unit of translation in the damping term.
        skin_stride: the terms see every ``skin_stride``-th hand vertex plus every vertex of the
            contact regions (1 = all); skinning fewer vertices is what makes a large batch fast.
        object_spacing: spacing of the object-surface samples of ``object_in_hand``, metres
            (coarser on objects whose surface would need more than 32k samples).
        thin_depth: objects whose deepest inside point (on the SDF grid) is less deep than this are
            seen on every hand vertex, whatever ``skin_stride`` says: a thin wall or rim fits
            between the subset's vertices (``scripts/object_depths.py``; 0 = never).
    """

    w_contact: float = 1000.0
    w_penetration: float = 3000.0
    w_object_in_hand: float = 3000.0
    w_limits: float = 10.0
    w_natural_pose: float = 0.02
    w_wrench: float = 0.0
    w_wrench_single: float = 0.5
    w_hand_hand: float = 3000.0
    w_opposition: float = 0.05
    w_damping: float = 0.0
    contact_weights: tuple[tuple[str, float], ...] = _CONTACT_WEIGHTS
    press_depth: float = 0.002
    damping_length: float = 0.05
    skin_stride: int = 3
    object_spacing: float = 0.004
    thin_depth: float = 0.01

    def __post_init__(self) -> None:
        if self.skin_stride < 1:
            raise ValueError(f"skin_stride must be at least 1, got {self.skin_stride}")
        if self.object_spacing <= 0:
            raise ValueError(f"object_spacing must be positive, got {self.object_spacing}")
        if self.damping_length <= 0:
            raise ValueError(f"damping_length must be positive, got {self.damping_length}")

    def to_dict(self) -> dict:
        return asdict(self)


#: the contact refinement's objective: every vertex, no natural-pose or wrench term, damping to
#: the score-distillation result
REFINE_OBJECTIVE = ObjectiveConfig(w_natural_pose=0.0, w_wrench_single=0.0, w_damping=0.02, skin_stride=1,
                                   thin_depth=0.0)


@dataclass
class ObjectiveValue:
    """The objective of a batch of grasps.

    Attributes:
        total: ``(B,)`` weighted sum of the terms.
        terms: ``{name: (B,)}`` weighted value of each computed term (:data:`TERM_NAMES` order).
    """

    total: Tensor
    terms: dict[str, Tensor]

    def per_grasp(self, i: int) -> dict[str, float]:
        """Grasp ``i``'s terms as plain floats (for ``summary.json``)."""
        return {k: float(v[i]) for k, v in self.terms.items()}


class GraspObjective:
    """The grasp objective for one object and one or two hand layers.

    Args:
        sdf: the object's SDF (object frame, metres).
        layers: hand layers by side (``"right"``, optionally ``"left"``).
        mesh: the object (its bounding box gives the centre and the torque scale).
        config: weights.
        device: torch device.
    """

    def __init__(self, sdf: ObjectSDF, layers: Mapping[str, HandModel], mesh: trimesh.Trimesh,
                 config: ObjectiveConfig = ObjectiveConfig(), device: torch.device | str = "cpu") -> None:
        self.sdf = sdf
        self.config = config
        self.device = torch.device(device)
        self.sides = tuple(s for s in ("right", "left") if s in layers)
        self.layers = {s: layers[s] for s in self.sides}
        stride = config.skin_stride
        depth = float(-sdf.grid.min())  # deepest inside point, metres
        if config.thin_depth > 0 and stride > 1 and depth < config.thin_depth:
            stride = 1
            logger.debug("thin object (deepest inside point %.1f mm): energies on every hand vertex", 1000 * depth)
        #: the hand-vertex stride in use (1 on thin objects)
        self.skin_stride = stride
        self.vertex_ids: dict[str, Tensor | None] = {}
        self.regions: dict[str, dict[str, Tensor]] = {}
        for s in self.sides:
            if stride > 1 or config.skin_stride > 1:
                self.vertex_ids[s], self.regions[s] = _skin_subset(self.layers[s], stride, self.device)
            else:
                self.vertex_ids[s], self.regions[s] = None, hand_regions(self.layers[s], self.device)
        self.center = torch.tensor(mesh.bounds.mean(0), dtype=torch.float32, device=self.device)
        self.torque_scale = float(max(mesh.extents.max() / 2, 0.02))
        self._relaxed = {s: named_pose("relaxed", side=s).to(self.device) for s in self.sides}
        self._cw = dict(config.contact_weights)
        if config.w_object_in_hand:
            #: object surface samples ``(P, 3)`` of the object-in-hand term (None when it is off)
            self.object_points = object_samples(mesh, config.object_spacing, device=self.device)
            self.capsules = {s: fit_capsules(self.layers[s], self.device) for s in self.sides}
        else:
            self.object_points, self.capsules = None, {}
        # the samples near each hand, kept from one call to the next (the steps of an optimisation)
        self._neighbours = {s: CapsuleNeighbours() for s in self.capsules}

    @property
    def w_wrench(self) -> float:
        """The wrench weight for this hand count."""
        return self.config.w_wrench if len(self.sides) == 2 else self.config.w_wrench_single

    def __call__(self, poses: Mapping[str, Tensor], vertices: Mapping[str, Tensor], joints: Mapping[str, Tensor],
                 damping: tuple[Mapping[str, Tensor], Mapping[str, Tensor]] | None = None) -> ObjectiveValue:
        """Evaluate the objective.

        Args:
            poses: ``{side: (B, 45)}`` articulation.
            vertices: ``{side: (B, n, 3)}`` hand vertices in the object frame: the layer's
                vertices at :attr:`vertex_ids` (all of them where that is None).
            joints: ``{side: (B, 21, 3)}`` keypoints in the object frame.
            damping: ``(current, anchor)`` tensors by name (keys ending in ``transl`` are metres)
                for the damping term; None leaves it out.
        Returns:
            :class:`ObjectiveValue`.
        """
        cfg = self.config
        B = next(iter(poses.values())).shape[0]
        total = torch.zeros(B, device=self.device)
        terms: dict[str, Tensor] = {}

        def add(name: str, value: Tensor) -> None:
            nonlocal total
            total = total + value
            terms[name] = terms[name] + value if name in terms else value

        w_wrench = self.w_wrench
        cps, cds = [], []
        for side in self.sides:
            s = self.sdf(vertices[side])
            regions = self.regions[side]
            add("contact", cfg.w_contact * contact_energy(s, regions, self._cw, target=-cfg.press_depth))
            add("penetration", cfg.w_penetration * penetration_energy(s, tolerance=cfg.press_depth))
            if cfg.w_object_in_hand:
                add("object_in_hand", cfg.w_object_in_hand
                    * object_in_hand_energy(self.object_points, joints[side], self.capsules[side],
                                            self._neighbours[side]))
            lim = self.layers[side].joint_limits
            if lim is not None and cfg.w_limits:
                add("limits", cfg.w_limits * lim.violation(poses[side]))
            if cfg.w_natural_pose:
                add("natural_pose", cfg.w_natural_pose * ((poses[side] - self._relaxed[side]) ** 2).sum(-1))
            if w_wrench:
                pads = {k: v for k, v in regions.items() if self._cw.get(k, 0) > 0}
                p_c, d_c = contact_points(vertices[side], s, pads)
                cps.append(p_c)
                cds.append(d_c)
        if w_wrench:
            p_c, d_c = torch.cat(cps, 1), torch.cat(cds, 1)
            active = torch.exp(-(d_c / 0.005) ** 2)  # a contact counts fully at the surface, fades by ~1 cm
            add("wrench", w_wrench * wrench_energy(p_c, self.sdf.normals(p_c), active, self.center, self.torque_scale))
        if len(self.sides) == 2:
            if cfg.w_hand_hand:
                add("hand_hand", cfg.w_hand_hand * hand_hand_energy(joints["right"], joints["left"]))
            if cfg.w_opposition:
                add("opposition", cfg.w_opposition * _two_hand_opposition(joints["right"], joints["left"], self.center))
        elif cfg.w_opposition:
            add("opposition", cfg.w_opposition * _thumb_opposition(joints["right"]))
        if damping is not None and cfg.w_damping:
            add("damping", cfg.w_damping * _damping(*damping, cfg.damping_length))
        return ObjectiveValue(total=total, terms=terms)


def _two_hand_opposition(j_r: Tensor, j_l: Tensor, center: Tensor) -> Tensor:
    """``(B,)``: palms facing each other, the right palm facing the left hand, the centre between them."""
    n_r = palm_frame(j_r, "right")[..., 1]
    n_l = palm_frame(j_l, "left")[..., 1]
    c_r, c_l = palm_center(j_r), palm_center(j_l)
    across = torch.nn.functional.normalize(c_l - c_r, dim=-1)
    return ((1 + (n_r * n_l).sum(-1)) + (1 - (n_r * across).sum(-1))
            + torch.relu(((center - c_r) * (center - c_l)).sum(-1)) * 100)


def _thumb_opposition(j: Tensor) -> Tensor:
    """``(B,)``: the thumb pad facing the index and middle pads."""
    thumb = torch.nn.functional.normalize(j[:, 4] - j[:, 3], dim=-1)
    fingers = torch.nn.functional.normalize(0.5 * (j[:, 8] + j[:, 12]) - j[:, 4], dim=-1)
    return 1 - (thumb * fingers).sum(-1)


def _damping(current: Mapping[str, Tensor], anchor: Mapping[str, Tensor], length: float) -> Tensor:
    """``(B,)``: squared change from ``anchor`` summed over the tensors, translations in ``length`` units."""
    damp = None
    for k, t in current.items():
        d = t - anchor[k]
        if k.endswith("transl"):
            d = d / length
        v = d.pow(2).sum(-1)
        damp = v if damp is None else damp + v
    return damp


def _skin_subset(hand: HandModel, stride: int, device: torch.device) -> tuple[Tensor, dict[str, Tensor]]:
    """Vertex ids ``(n,)`` the terms look at (every ``stride``-th plus the contact regions), and the
    contact regions re-indexed into that subset."""
    full = hand_regions(hand, device)
    keep = torch.zeros(hand.num_vertices, dtype=torch.bool, device=device)
    keep[::max(1, stride)] = True
    for ids in full.values():
        keep[ids] = True
    ids = keep.nonzero()[:, 0]
    where = torch.full((hand.num_vertices,), -1, dtype=torch.long, device=device)
    where[ids] = torch.arange(ids.shape[0], device=device)
    return ids, {k: where[v] for k, v in full.items()}
