"""Diversity of a set of grasps: k-means over per-grasp features, entropy and mean cluster size.

Protocol (Grasping Field, Karunratanakul et al., 3DV 2020; reused in the "diversity" evaluation of
GraspTTA, Jiang et al., ICCV 2021, and of FastGrasp): cluster the generated grasps with k-means
(k = 20 there) and report

* the **entropy of the cluster assignments**, ``H = -Σ_i p_i ln p_i`` with ``p_i`` the fraction
  of grasps in cluster ``i`` — higher is more diverse, at most ``ln k``. We report it in
  **nats** (natural log, as ``scipy.stats.entropy`` computes it by default) and also in bits;
* the **mean cluster size**, grasps per non-empty cluster — lower is more diverse.

The papers cluster one hand's pose parameters. For two hands a grasp is described here by
(see :func:`grasp_features`): both hands' finger articulation (45 + 45 axis-angle), the left
wrist's position and rotation relative to the right hand (3 + 6D), and the right wrist's
placement relative to the object centroid (3 + 6D). Every feature is standardised (zero mean,
unit variance over the set) so that radians and metres weigh alike.

The number of clusters defaults to ``k = max(2, min(20, n // 2))`` for ``n`` grasps (20 as in
the papers when there are enough grasps), and never exceeds the number of *distinct* feature
vectors, so that identical grasps form one cluster (entropy 0, mean cluster size ``n``).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from bghop.core.rotations import axis_angle_to_matrix, matrix_to_rot6d

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_CLUSTERS",
    "DiversityResult",
    "HandPlacement",
    "cluster_count",
    "diversity",
    "grasp_features",
]

#: k of GraspTTA / Grasping Field
DEFAULT_MAX_CLUSTERS = 20


@dataclass
class DiversityResult:
    """k-means diversity of a set of grasps.

    Attributes:
        num_samples: grasps clustered ``n``.
        num_clusters: k used (after capping at the number of distinct grasps).
        entropy_nats: entropy of the cluster-size distribution, natural log (0 … ln k).
        entropy_bits: the same in bits (log base 2).
        mean_cluster_size: grasps per non-empty cluster.
        cluster_sizes: sizes of the non-empty clusters, largest first.
        labels: cluster of each grasp ``(n,)``.
    """

    num_samples: int
    num_clusters: int
    entropy_nats: float
    entropy_bits: float
    mean_cluster_size: float
    cluster_sizes: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HandPlacement:
    """What :func:`grasp_features` needs of one hand (object frame, metres).

    Attributes:
        pose: ``(45,)`` finger articulation, axis-angle (radians).
        global_orient: ``(3,)`` axis-angle of the hand in the object frame.
        wrist: ``(3,)`` wrist keypoint position, metres.
    """

    pose: np.ndarray
    global_orient: np.ndarray
    wrist: np.ndarray


def cluster_count(num_samples: int, max_clusters: int = DEFAULT_MAX_CLUSTERS) -> int:
    """Default k: ``max(2, min(max_clusters, n // 2))``, but never more than ``n`` (0 for an empty set)."""
    if num_samples <= 0:
        return 0
    return min(num_samples, max(2, min(max_clusters, num_samples // 2)))


def _rot(aa: np.ndarray) -> np.ndarray:
    """``(3,)`` axis-angle → ``(3, 3)`` rotation matrix (float64)."""
    return axis_angle_to_matrix(torch.as_tensor(np.asarray(aa, dtype=np.float64))).cpu().numpy()


def _rot6d(R: np.ndarray) -> np.ndarray:
    return matrix_to_rot6d(torch.as_tensor(R)).cpu().numpy().reshape(6)


def grasp_features(right: HandPlacement, left: HandPlacement | None, object_centroid: np.ndarray) -> np.ndarray:
    """Feature vector ``(108,)`` of one grasp, for :func:`diversity`.

    Layout: right pose (45) · left pose (45) · left wrist in the right hand's frame (3, metres)
    · left rotation relative to the right, 6D (6) · right wrist minus object centroid in the object
    frame (3, metres) · right rotation in the object frame, 6D (6). A single-hand grasp has zeros
    in the left hand's 54 entries.
    """
    Rr = _rot(right.global_orient)
    wr = np.asarray(right.wrist, dtype=np.float64).reshape(3)
    if left is not None:
        Rl = _rot(left.global_orient)
        rel_pos = Rr.T @ (np.asarray(left.wrist, dtype=np.float64).reshape(3) - wr)
        rel_rot = _rot6d(Rr.T @ Rl)
        left_pose = np.asarray(left.pose, dtype=np.float64).reshape(45)
    else:
        rel_pos, rel_rot, left_pose = np.zeros(3), np.zeros(6), np.zeros(45)
    place = wr - np.asarray(object_centroid, dtype=np.float64).reshape(3)
    return np.concatenate([np.asarray(right.pose, dtype=np.float64).reshape(45), left_pose, rel_pos, rel_rot,
                           place, _rot6d(Rr)])


def _entropy(sizes: np.ndarray) -> float:
    p = sizes[sizes > 0] / sizes.sum()
    return float(max(0.0, -(p * np.log(p)).sum()))


def diversity(features: np.ndarray, clusters: int | None = None, max_clusters: int = DEFAULT_MAX_CLUSTERS,
              seed: int = 0, standardize: bool = True) -> DiversityResult:
    """Cluster ``features`` ``(n, D)`` with k-means and measure how spread the grasps are.

    Args:
        features: one row per grasp (e.g. :func:`grasp_features`).
        clusters: k; default :func:`cluster_count` ``(n, max_clusters)``. Capped at ``n`` and at
            the number of distinct rows.
        max_clusters: cap of the default k.
        seed: k-means initialisation seed (results are reproducible).
        standardize: scale every feature to zero mean and unit variance first (constant features
            are left at zero).
    Returns:
        :class:`DiversityResult` (entropy in nats and bits, mean cluster size).
    Raises:
        ValueError: ``features`` is not 2-D, holds non-finite values, or ``clusters < 1``.
    """
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"features must have shape (n, D), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features contain NaN or infinite values")
    if clusters is not None and clusters < 1:
        raise ValueError(f"clusters must be at least 1, got {clusters}")
    n = X.shape[0]
    if n == 0:
        return DiversityResult(0, 0, 0.0, 0.0, 0.0)
    if standardize:
        mu = X.mean(0)
        sd = X.std(0)
        X = (X - mu) / np.where(sd > 1e-12, sd, 1.0)
    k = cluster_count(n, max_clusters) if clusters is None else min(int(clusters), n)
    distinct = len(np.unique(np.round(X, 9), axis=0))
    k = max(1, min(k, distinct))
    if k == 1:
        labels = np.zeros(n, dtype=np.int64)
    else:
        from sklearn.cluster import KMeans

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on near-duplicate rows
            labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
    sizes = np.bincount(labels, minlength=k)
    nonempty = np.sort(sizes[sizes > 0])[::-1]
    h = _entropy(sizes)
    return DiversityResult(num_samples=n, num_clusters=k, entropy_nats=h, entropy_bits=h / math.log(2),
                           mean_cluster_size=float(n / len(nonempty)), cluster_sizes=[int(s) for s in nonempty],
                           labels=[int(x) for x in labels])
