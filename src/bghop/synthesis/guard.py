"""Non-finite values caught per grasp: a grasp that goes NaN or infinite is frozen at a finite
state, dropped from the results and reported (:class:`DroppedGrasp`); the others finish."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from bghop.synthesis.hoi import GraspVariables

logger = logging.getLogger(__name__)

__all__ = ["DroppedGrasp", "NaNGuard"]


@dataclass
class DroppedGrasp:
    """A grasp that produced non-finite values.

    Attributes:
        index: its initialisation index.
        stage: ``"init"``, ``"sds"``, ``"refine"`` or ``"rank"``.
        iteration: the step at which it was caught.
        reason: what was non-finite.
    """

    index: int
    stage: str
    iteration: int
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


class NaNGuard:
    """Per-grasp non-finite detection: freezes bad grasps at a finite state and records them.

    Args:
        v: the batch's starting state (non-finite grasps in it are dropped at once, stage ``"init"``).
        dropped: where dropped grasps are appended.
        ids: the initialisation index of each grasp of the batch.
    """

    def __init__(self, v: GraspVariables, dropped: list[DroppedGrasp], ids: list[int]) -> None:
        self.alive = v.finite()
        self.dropped = dropped
        self.ids = ids
        safe = v.clone()
        for k, t in safe.tensors().items():
            t[~self.alive] = 0.0
            if k.endswith("rot"):
                t[~self.alive] = torch.tensor([1.0, 0, 0, 0, 1.0, 0], device=t.device)
        self.safe = safe
        for i in torch.nonzero(~self.alive).flatten().tolist():
            self.dropped.append(DroppedGrasp(self.ids[i], "init", 0, "non-finite initial parameters"))
        self._restore(v)

    def _restore(self, v: GraspVariables) -> None:
        """Put the safe state into the dropped grasps of ``v`` (keeps the batch finite)."""
        with torch.no_grad():
            for k, t in v.tensors().items():
                t[~self.alive] = getattr(self.safe, k)[~self.alive]

    def mask_grads(self, v: GraspVariables) -> None:
        """Zero the gradients of dropped grasps, and any non-finite gradient entry."""
        for t in v.tensors().values():
            if t.grad is not None:
                t.grad[~self.alive] = 0.0
                t.grad.nan_to_num_(0.0, 0.0, 0.0)

    def check(self, v: GraspVariables, loss: Tensor, stage: str, it: int) -> None:
        """After a step: drop grasps whose loss ``(B,)`` or parameters became non-finite."""
        bad = self.alive & (~v.finite() | ~torch.isfinite(loss.detach()))
        if bad.any():
            for i in torch.nonzero(bad).flatten().tolist():
                what = "loss" if not bool(torch.isfinite(loss[i])) else "parameters"
                self.dropped.append(DroppedGrasp(self.ids[i], stage, it, f"non-finite {what}"))
                logger.warning("grasp %d dropped: non-finite %s at %s iteration %d", self.ids[i], what, stage, it)
            self.alive &= ~bad
        self._restore(v)
