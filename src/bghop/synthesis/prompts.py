"""Object names → the prompts the prior was trained on.

Training prompts (upstream BG-HOP): ``"grasp a {name} with both hands"`` (bimanual) and
``"grasp a {name} with the right hand"`` (single hand). A user's text that already starts with
"grasp" is used as it is.
"""

from __future__ import annotations

__all__ = ["expand_prompt"]

_ARTICLES = ("a ", "an ", "the ")


def expand_prompt(text: str, bimanual: bool = True) -> str:
    """Expand an object name into the training prompt.

    Args:
        text: ``"box"``, ``"a mug"`` or a full prompt (``"grasp ..."``, kept as it is).
        bimanual: "with both hands" (True) or "with the right hand" (False).
    Returns:
        the prompt, e.g. ``"grasp a box with both hands"``.
    Raises:
        ValueError: empty text.
    """
    t = " ".join(str(text).split())
    if not t:
        raise ValueError("the text is empty: give an object name such as 'box' or 'mug'")
    if t.lower().startswith("grasp"):
        return t
    if not t.lower().startswith(_ARTICLES):
        t = f"{'an' if t[0].lower() in 'aeiou' else 'a'} {t}"
    return f"grasp {t} with both hands" if bimanual else f"grasp {t} with the right hand"
