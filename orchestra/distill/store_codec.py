"""The compact encoding of the offline store's top-k rows (format 2 of teacher.TopKStore).

One example's rows [tokens, k] are one block of four parts, each decoded with whole-array numpy:

- ids: each row sorted by id, coded as gaps (the first id, then id_j - id_{j-1} - 1) with a Rice
  code whose parameter r is picked per block for the fewest bits; its unary quotients and its r-bit
  remainders are two separate bit streams, so decoding needs no loop. About log2(vocab / k) + 2 bits
  per id instead of 16 or 32.
- log-probs: each kept token's distance below the row's most likely one, on LOGPROB_BITS-bit
  levels spaced on a square-root scale between 0 and the row's widest distance (one byte per row,
  in RANGE_STEP nats): fine near the top, where the probability mass is, coarse far below it,
  where it is not. A fixed step would have to give up either the runner-ups of a confident
  teacher (10 nats below its pick, the knowledge KD is for) or the precision of a flat one.
- the top: the position of the most likely token among the row's ids (log2 k bits), so that it
  stays first when rounding ties it with a close second.
- kept mass: log of the in-range tokens' total probability, float16 (precise for a tail of 1e-5 and
  for one of 0.99 alike); decoding scales their probabilities to it, so the loss's rest bucket
  (losses.py) holds the teacher's own missing mass rather than whatever the rounding left.

DistillKit's compressed store (a polynomial fit of the sorted log-probs plus quantised residuals)
is about 114 B/token at k = 50; this one is measured by bench/distill_store.py.
"""

from __future__ import annotations

import numpy as np

LOGPROB_BITS = 4
TOP_LEVEL = 2**LOGPROB_BITS - 1
RANGE_STEP = 0.1  # nats; a row's range is stored in one byte, so distances beyond 25.5 nats are clipped there


def _pack(values: np.ndarray, bits: int) -> bytes:
    """Fixed-width unsigned integers, most significant bit first."""
    if bits == 0 or values.size == 0:
        return b""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    return np.packbits(((values[:, None].astype(np.int64) >> shifts) & 1).astype(np.uint8).ravel()).tobytes()


def _unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    if bits == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    raw = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    return raw.astype(np.int64) @ (1 << np.arange(bits - 1, -1, -1, dtype=np.int64))


def _position_bits(k: int) -> int:
    return max(1, (k - 1).bit_length())


def _rice_parameter(gaps: np.ndarray) -> int:
    """The Rice parameter with the fewest bits for these gaps: sum(quotients) + n (r + 1)."""
    costs = [int((gaps >> r).sum()) + gaps.size * (r + 1) for r in range(25)]
    return int(np.argmin(costs))


def encode_block(indices: np.ndarray, logprobs: np.ndarray) -> tuple[bytes, list[int]]:
    """One example's rows -> (bytes, [r, unary bytes, remainder bytes, log-prob bytes])."""
    order = np.argsort(indices, axis=1, kind="stable")
    ids = np.take_along_axis(indices.astype(np.int64), order, axis=1)
    values = np.take_along_axis(logprobs.astype(np.float64), order, axis=1)
    gaps = np.diff(ids, axis=1, prepend=-1).ravel() - 1
    r = _rice_parameter(gaps)
    quotients = gaps >> r
    unary = np.ones(int(quotients.sum()) + gaps.size, dtype=np.uint8)
    unary[np.cumsum(quotients + 1) - 1] = 0  # each code: quotient ones, then a zero
    unary_bytes = np.packbits(unary).tobytes()
    remainder_bytes = _pack(gaps & ((1 << r) - 1), r)
    top = values.argmax(axis=1)  # kept apart: rounding may tie it with a close second, and it is the teacher's pick
    top_bytes = _pack(top, _position_bits(values.shape[1]))
    distance = np.minimum(values.max(axis=1, keepdims=True) - values, 255 * RANGE_STEP)
    steps = np.ceil(distance.max(axis=1) / RANGE_STEP).astype(np.int64)  # the row's range, rounded up
    span = np.maximum(steps, 1)[:, None] * RANGE_STEP
    levels = np.rint(np.sqrt(distance / span) * TOP_LEVEL).astype(np.int64)
    logprob_bytes = _pack(levels.ravel(), LOGPROB_BITS) + steps.astype(np.uint8).tobytes()
    kept = np.log(np.exp(values).sum(axis=1))
    parts = [unary_bytes, remainder_bytes, logprob_bytes, top_bytes]
    return b"".join(parts) + kept.astype(np.float16).tobytes(), [r, *map(len, parts)]


def decode_block(data: bytes, rows: int, k: int, layout: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, rows, k, layout from encode_block) -> (ids [rows, k] int64, log-probs [rows, k] float32)."""
    r, unary_size, remainder_size, logprob_size, top_size = layout
    count = rows * k
    unary = np.unpackbits(np.frombuffer(data[:unary_size], dtype=np.uint8))
    ends = np.flatnonzero(unary == 0)[:count]
    quotients = np.diff(ends, prepend=-1) - 1
    remainders = _unpack(data[unary_size : unary_size + remainder_size], count, r)
    gaps = ((quotients << r) | remainders).reshape(rows, k)
    ids = np.cumsum(gaps + 1, axis=1) - 1
    start = unary_size + remainder_size
    levels = _unpack(data[start : start + logprob_size - rows], count, LOGPROB_BITS).reshape(rows, k)
    steps = np.frombuffer(data[start + logprob_size - rows : start + logprob_size], dtype=np.uint8)
    top = _unpack(data[start + logprob_size : start + logprob_size + top_size], rows, _position_bits(k))
    start += logprob_size + top_size
    kept = np.frombuffer(data[start : start + 2 * rows], dtype=np.float16)
    span = np.maximum(steps.astype(np.float64), 1)[:, None] * RANGE_STEP
    relative = -span * (levels / TOP_LEVEL) ** 2
    # the kept tokens share the kept mass in the proportions their quantised log-probs give
    logprobs = relative - np.log(np.exp(relative).sum(axis=1, keepdims=True)) + kept.astype(np.float64)[:, None]
    is_top = np.zeros_like(levels, dtype=bool)
    is_top[np.arange(rows), top] = True
    order = np.lexsort((~is_top, -logprobs), axis=1)  # descending, the teacher's pick first among equals
    return (np.take_along_axis(ids, order, axis=1), np.take_along_axis(logprobs, order, axis=1).astype(np.float32))
