"""Text prompts, as upstream: "grasp a {name} with both hands" / "grasp a {name} with the right hand".

Re-exported from :mod:`bghop.core.prompts`, where prompts are formatted and parsed:
``prompt`` is :func:`bghop.core.prompts.format_prompt`.
"""

from __future__ import annotations

from bghop.core.prompts import format_prompt as prompt

__all__ = ["prompt"]
