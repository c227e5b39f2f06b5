"""Evaluation: geometric grasp metrics and MuJoCo stability (used by filtering, ranking, reports)."""

from bghop.eval.metrics import GraspMetrics, grasp_metrics, in_contact, intersection_volume, penetration
from bghop.eval.physics import PhysicsConfig, StabilityResult, hand_pieces, simulate_stability
from bghop.eval.robot_physics import RobotHandState, RobotPhysicsConfig, RobotStabilityResult, simulate_robot_grasp

__all__ = [
    "GraspMetrics",
    "grasp_metrics",
    "in_contact",
    "intersection_volume",
    "penetration",
    "PhysicsConfig",
    "StabilityResult",
    "hand_pieces",
    "simulate_stability",
    "RobotHandState",
    "RobotPhysicsConfig",
    "RobotStabilityResult",
    "simulate_robot_grasp",
]
