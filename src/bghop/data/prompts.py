"""Text prompts, as upstream: "grasp a {name} with both hands" / "grasp a {name} with the right hand"."""

from __future__ import annotations

__all__ = ["prompt"]


def prompt(name: str, bimanual: bool = True) -> str:
    """The training/generation prompt for an object name."""
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"grasp {article} {name} with both hands" if bimanual else f"grasp {article} {name} with the right hand"
