"""Object names → the prompts the prior was trained on (re-exported from :mod:`bghop.core.prompts`).

Training prompts (upstream BG-HOP): ``"grasp a {name} with both hands"`` (bimanual) and
``"grasp a {name} with the right hand"`` (single hand). A user's text that already starts with
"grasp" is used as it is. The formatting and parsing live in :mod:`bghop.core.prompts`; this
module keeps the public name ``bghop.synthesis.expand_prompt`` working.
"""

from __future__ import annotations

from bghop.core.prompts import expand_prompt

__all__ = ["expand_prompt"]
