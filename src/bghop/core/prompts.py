"""Text prompts: the one place that formats and parses them.

The prior was trained (upstream BG-HOP) on two templates::

    "grasp a {name} with both hands"        (bimanual)
    "grasp a {name} with the right hand"    (single hand)

with the article "an" before a vowel. Shipped training records hold these exact strings, so
every function here returns, for every input, exactly what the functions it replaced returned
(``bghop.data.prompts.prompt``, ``bghop.synthesis.prompts.expand_prompt``, the parser of
``bghop.eval.faithfulness`` and ``bghop.train.data.as_right_hand_prompt``):

* :func:`format_prompt` — an object name as it is → the template (no normalisation);
* :func:`expand_prompt` — a user's text (``"box"``, ``"a mug"``, or a full ``"grasp ..."``
  prompt, kept as it is) → the template, whitespace collapsed;
* :func:`parse_object_name` — a template prompt (or a bare name) → its object name;
* :func:`right_hand_prompt` — the bimanual prompt → the right-hand one;
* :func:`is_bimanual_prompt` — whether a prompt asks for both hands.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = [
    "BIMANUAL_SUFFIX",
    "RIGHT_HAND_SUFFIX",
    "article",
    "expand_prompt",
    "format_prompt",
    "is_bimanual_prompt",
    "parse_object_name",
    "right_hand_prompt",
    "training_vocabulary",
    "vocabulary_note",
]

#: the end of a bimanual prompt
BIMANUAL_SUFFIX = "with both hands"
#: the end of a single-hand prompt
RIGHT_HAND_SUFFIX = "with the right hand"

#: leading words of a user's text that already carries an article (checked in lower case)
_ARTICLES = ("a ", "an ", "the ")
#: the training templates (either hand, optional article, optional full stop), case-insensitive
_PROMPT_RE = re.compile(
    r"^\s*grasp\s+(?:(?:a|an|the)\s+)?(?P<name>.+?)\s+with\s+(?:both\s+hands|the\s+(?:right|left)\s+hand)\s*\.?\s*$",
    re.IGNORECASE)


def article(name: str) -> str:
    """``"an"`` when ``name`` starts with a vowel (a, e, i, o, u; any case), else ``"a"``.

    The rule is the shipped one, character for character: it looks at ``name[:1]`` only, so an
    empty name gets ``"an"`` and a name starting with a space gets ``"a"``.
    """
    return "an" if name[:1].lower() in "aeiou" else "a"


def _with_suffix(phrase: str, bimanual: bool) -> str:
    """``"grasp {phrase} with both hands"`` / ``"grasp {phrase} with the right hand"``."""
    return f"grasp {phrase} {BIMANUAL_SUFFIX if bimanual else RIGHT_HAND_SUFFIX}"


def format_prompt(name: str, bimanual: bool = True) -> str:
    """The training/generation prompt for an object name, which is used as it is.

    Args:
        name: the object name (``"mug"``, ``"apple"``), used as it is (not normalised; an article is
            always added, even to ``"a mug"``).
        bimanual: "with both hands" (True) or "with the right hand" (False).
    Returns:
        e.g. ``"grasp a mug with both hands"``, ``"grasp an apple with the right hand"``.
    """
    return _with_suffix(f"{article(name)} {name}", bimanual)


def expand_prompt(text: str, bimanual: bool = True) -> str:
    """Expand a user's text into the training prompt.

    Whitespace is collapsed; a text starting with "grasp" (any case) is a full prompt and kept as
    it is; a text starting with an article ("a ", "an ", "the ") keeps it; else the article of
    :func:`article` is added.

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
        t = f"{article(t)} {t}"
    return _with_suffix(t, bimanual)


def parse_object_name(text: str | None) -> str | None:
    """The object name of a training-style prompt (``"grasp a mug with both hands"`` → ``"mug"``).

    Either hand's template is accepted (also "with the left hand"), in any case, with or without
    an article or a final full stop; the name is returned in lower case with single spaces. Text
    that does not follow the template is returned normalised the same way, without a leading
    article, when it is a bare name not starting with "grasp" (``"Box"`` → ``"box"``,
    ``"an Apple"`` → ``"apple"``); else None.

    Args:
        text: a prompt, a bare name, or None.
    Returns:
        the object name, or None (no text, or a free-form "grasp ..." sentence).
    """
    if not isinstance(text, str) or not text.strip():
        return None
    m = _PROMPT_RE.match(text)
    if m:
        return " ".join(m.group("name").lower().split())
    t = " ".join(text.lower().split())
    if t.startswith("grasp"):
        return None
    return re.sub(r"^(?:a|an|the)\s+", "", t) or None


def right_hand_prompt(text: str) -> str:
    """The single-hand prompt of a bimanual one: ``"… with both hands"`` → ``"… with the right hand"``.

    Every occurrence of ``" with both hands"`` is replaced (case-sensitive); other text is returned
    unchanged.
    """
    return text.replace(f" {BIMANUAL_SUFFIX}", f" {RIGHT_HAND_SUFFIX}")


def is_bimanual_prompt(text: str | None) -> bool:
    """Whether a prompt asks for both hands: it contains ``"both hands"`` (case-sensitive); False for None or ``""``."""
    return bool(text) and "both hands" in text


def training_vocabulary(texts: Iterable[str]) -> tuple[str, ...]:
    """The object names of training prompts, sorted and unique (``PriorConfig.vocabulary``).

    Args:
        texts: training prompts (``"grasp a mug with both hands"``); texts without an object name
            (the empty prompt, free-form "grasp ..." sentences) are skipped.
    Returns:
        e.g. ``("box", "mug", "teapot")``.
    """
    return tuple(sorted({n for t in texts if (n := parse_object_name(t))}))


def vocabulary_note(text: str, vocabulary: Iterable[str] | None) -> str | None:
    """A message when a prompt's object name is not one the prior was trained on; None otherwise.

    The prompt is still used as it is (the text encoder embeds any English); the message says
    so and names the closest training names.

    Args:
        text: the prompt or a bare object name.
        vocabulary: the prior's training names (``PriorConfig.vocabulary``); None for a model
            saved before vocabularies were recorded (no message: unknown).
    Returns:
        the message, or None (inside the vocabulary, the empty prompt, or no vocabulary recorded).
    """
    if vocabulary is None:
        return None
    name = parse_object_name(text)
    vocab = sorted(vocabulary)
    if name is None or name in vocab:
        return None
    close = difflib.get_close_matches(name, vocab, n=3, cutoff=0.6)
    hint = f"closest: {', '.join(close)}" if close else f"e.g. {', '.join(vocab[:6])}"
    return (f"{name!r} is outside the prior's training vocabulary ({len(vocab)} object names; {hint}): the sample "
            "follows the text encoder's embedding of it and may look like a neighbouring training object")
