"""Where the teacher's signal comes from (DistillKit's `signals/`), one interface per kind:

- recorded: the replies already in the traces (sequence-level KD; nothing to do here);
- relabel:  fresh replies from an inference client, `complete(messages) -> str`;
- online:   a teacher model in the same process -> `DenseTeacher` (hidden states + lm_head);
- offline:  top-k log-probs scored once and kept on disk (`TopKStore`) -> `SparseTeacher`, so
            training runs without the teacher in memory.

How the signal is compared with the student is `losses.py`'s business.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from orchestra.distill.dataset import IGNORE_INDEX, Example, collate, tokenize
from orchestra.distill.losses import DenseTeacher, SparseTeacher
from orchestra.distill.store_codec import decode_block, encode_block

Complete = Callable[[list[dict[str, str]]], str]


class TeacherError(ValueError):
    """The teacher cannot provide the requested signal; the message says why."""


def check_same_vocabulary(student_tokenizer, teacher_tokenizer) -> None:
    """Logit KD compares distributions token by token, so both sides must mean the same ids."""
    student_vocab, teacher_vocab = student_tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    if student_vocab != teacher_vocab:
        differing = sorted(set(student_vocab.items()) ^ set(teacher_vocab.items()), key=lambda kv: kv[1])[:5]
        raise TeacherError(
            f"teacher and student tokenizers differ (student {len(student_vocab)} tokens, teacher "
            f"{len(teacher_vocab)}; e.g. {differing}); logit distillation needs one shared tokenizer: "
            f"pick a student from the teacher's family or use method 'sft'"
        )


# --- relabel -------------------------------------------------------------------------------------


def relabel(examples: Iterable[Example], complete: Complete) -> list[Example]:
    """New teacher replies for each prompt; golden outputs stay as they are."""
    return [replace(e, teacher_output=complete(e.messages), tool_calls=None, topk=None) for e in examples]


def openai_completer(*, base_url: str, model: str, api_key: str | None = None, max_tokens: int = 512) -> Complete:
    """A `complete` over any OpenAI-compatible chat endpoint (vLLM, OpenAI, ...), greedy.

    Only `api_key` is sent: the SDK's fallback to OPENAI_API_KEY would hand this process's key to
    whichever server the config names."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key or "not-needed")

    def complete(messages: list[dict[str, str]]) -> str:
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
        return reply.choices[0].message.content or ""

    return complete


def local_completer(*, model, tokenizer, max_new_tokens: int = 512) -> Complete:
    """A `complete` over a transformers model in this process, greedy."""
    from orchestra.distill.evaluate import greedy_generate

    def complete(messages: list[dict[str, str]]) -> str:
        return greedy_generate(model, tokenizer, [messages], max_new_tokens=max_new_tokens, batch_size=1)[0].text

    return complete


# --- online --------------------------------------------------------------------------------------


def final_hidden(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Final (post-norm) hidden states [B, T, H] without materialising full-vocabulary logits."""
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        output_hidden_states=True,
        logits_to_keep=1,
        use_cache=False,
    )
    return out.hidden_states[-1]


def target_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions whose hidden state predicts a reply token (hidden at t predicts label t+1)."""
    next_labels = labels[:, 1:]
    selected = torch.zeros_like(labels, dtype=torch.bool)
    selected[:, :-1] = next_labels != IGNORE_INDEX
    return selected, next_labels[next_labels != IGNORE_INDEX]


class OnlineTeacher:
    """Teacher model in the same process; frozen, evaluated under no_grad."""

    def __init__(self, model):
        self.model = model.eval().requires_grad_(False)

    @torch.no_grad()
    def signal(self, batch: dict[str, torch.Tensor], selected: torch.Tensor, keys: list[str]) -> DenseTeacher:
        hidden = final_hidden(self.model, batch)[selected]
        head = self.model.get_output_embeddings()
        return DenseTeacher(hidden=hidden, weight=head.weight, bias=head.bias)


# --- offline: a compact top-k store --------------------------------------------------------------


class TopKStore:
    """Top-k teacher log-probs per reply token (log-probs at temperature 1), read example by example.
    Two formats in `folder`, told apart by meta.json's `version`:

    2 (compact, the default): blocks.bin, one block per example (store_codec.py: Rice-coded sorted
      ids, 4-bit log-probs relative to the top, the kept mass); meta {prompt key: [offset, rows,
      layout...]}.
    1 (float16, exact to float16; stores without a version are this): indices.bin [tokens, k] uint16
      when the vocabulary fits (< 65536), else int32; logprobs.bin [tokens, k] float16 sorted
      descending; meta {prompt key: [first row, rows]}.

    Rows per example = reply tokens + end token.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            raise TeacherError(f"no teacher top-k store at {self.folder}: run `orchestra distill score-teacher` first")
        self.meta = json.loads(meta_path.read_text())
        self.version = self.meta.get("version", 1)
        k, tokens = self.meta["k"], self.meta["tokens"]
        if self.version == 2:
            self.blocks = np.memmap(self.folder / "blocks.bin", dtype=np.uint8, mode="r") if tokens else b""
        else:
            self.indices = np.memmap(
                self.folder / "indices.bin", dtype=self.meta["index_dtype"], mode="r", shape=(tokens, k)
            )
            self.logprobs = np.memmap(self.folder / "logprobs.bin", dtype=np.float16, mode="r", shape=(tokens, k))

    @property
    def bytes_per_token(self) -> float:
        if self.version == 2:
            return (self.folder / "blocks.bin").stat().st_size / max(self.meta["tokens"], 1)
        return self.meta["k"] * (np.dtype(self.meta["index_dtype"]).itemsize + 2)

    def __contains__(self, key: str) -> bool:
        return key in self.meta["rows"]

    def rows(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        if key not in self.meta["rows"]:
            raise TeacherError(
                f"prompt {key[:12]} is not in the teacher store {self.folder}; re-run score-teacher for this dataset"
            )
        if self.version == 2:
            offset, count, *layout = self.meta["rows"][key]
            size = sum(layout[1:]) + 2 * count
            indices, logprobs = decode_block(bytes(self.blocks[offset : offset + size]), count, self.meta["k"], layout)
            return torch.from_numpy(indices), torch.from_numpy(logprobs)
        start, count = self.meta["rows"][key]
        return (
            torch.from_numpy(self.indices[start : start + count].astype(np.int64)),
            torch.from_numpy(self.logprobs[start : start + count].astype(np.float32)),
        )

    def signal(self, batch: dict[str, torch.Tensor], selected: torch.Tensor, keys: list[str]) -> SparseTeacher:
        """Rows of the batch's examples in order: they line up with the selected positions."""
        parts = [self.rows(key) for key in keys]
        device = selected.device
        teacher = SparseTeacher(
            indices=torch.cat([p[0] for p in parts]).to(device), logprobs=torch.cat([p[1] for p in parts]).to(device)
        )
        if teacher.indices.shape[0] != int(selected.sum()):
            raise TeacherError(
                f"the teacher store has {teacher.indices.shape[0]} rows for this batch but it has "
                f"{int(selected.sum())} reply tokens; was it scored with another max_seq_len or "
                f"tokenizer? Re-run score-teacher"
            )
        return teacher


class TopKStoreWriter:
    """Appends rows example by example, then writes meta.json (the store is valid only after close).
    `compact` writes format 2, else format 1 (see TopKStore)."""

    def __init__(self, folder: str | Path, *, k: int, vocab_size: int, compact: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.k, self.vocab_size, self.compact = k, vocab_size, compact
        self.index_dtype = "uint16" if vocab_size < 2**16 else "int32"
        self.rows: dict[str, list[int]] = {}
        self.tokens = self.offset = 0
        for stale in ("blocks.bin", "indices.bin", "logprobs.bin", "meta.json"):
            (self.folder / stale).unlink(missing_ok=True)  # a store of the other format must not linger
        names = ("blocks.bin",) if compact else ("indices.bin", "logprobs.bin")
        self._files = [open(self.folder / name, "wb") for name in names]

    def add(self, key: str, indices: torch.Tensor, logprobs: torch.Tensor) -> None:
        if indices.shape != logprobs.shape or indices.shape[1] != self.k:
            raise TeacherError(
                f"top-k rows for {key[:12]} have shape {tuple(indices.shape)}, expected [tokens, {self.k}]"
            )
        ids, values = indices.cpu().numpy(), logprobs.float().cpu().numpy()
        if self.compact:
            block, layout = encode_block(ids, values)
            self._files[0].write(block)
            self.rows[key] = [self.offset, ids.shape[0], *layout]
            self.offset += len(block)
        else:
            self._files[0].write(ids.astype(self.index_dtype).tobytes())
            self._files[1].write(values.astype(np.float16).tobytes())
            self.rows[key] = [self.tokens, ids.shape[0]]
        self.tokens += ids.shape[0]

    def close(self) -> TopKStore:
        for file in self._files:
            file.close()
        meta = (
            {"version": 2, "encoding": "rice-coded ids, 4-bit log-probs below the top, float16 kept mass"}
            if self.compact
            else {"version": 1, "index_dtype": self.index_dtype, "logprob_dtype": "float16"}
        )
        meta |= {"k": self.k, "vocab_size": self.vocab_size, "tokens": self.tokens, "rows": self.rows}
        (self.folder / "meta.json").write_text(json.dumps(meta))
        return TopKStore(self.folder)


@torch.no_grad()
def score_teacher(
    *,
    model,
    tokenizer,
    examples: list[Example],
    folder: str | Path,
    top_k: int,
    max_seq_len: int,
    batch_size: int = 8,
    chunk_size: int = 1024,
    compact: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> TopKStore:
    """Run the teacher once over the examples and keep its top-k log-probs for every reply token."""
    model.eval()
    head = model.get_output_embeddings()
    device = head.weight.device
    writer = TopKStoreWriter(folder, k=top_k, vocab_size=head.weight.shape[0], compact=compact)
    unique = list({e.key: e for e in examples}.values())
    for start in range(0, len(unique), batch_size):
        items = [tokenize(e, tokenizer, max_seq_len=max_seq_len) for e in unique[start : start + batch_size]]
        batch = {name: t.to(device) for name, t in collate(items, pad_token_id=tokenizer.pad_token_id).items()}
        selected, _ = target_positions(batch["labels"])
        hidden = final_hidden(model, batch)
        for row, item in enumerate(items):
            rows = hidden[row][selected[row]]
            picked = [
                torch.topk(torch.log_softmax(head(rows[i : i + chunk_size]).float(), dim=-1), top_k, dim=-1)
                for i in range(0, rows.shape[0], chunk_size)
            ]
            writer.add(item.key, torch.cat([p.indices for p in picked]), torch.cat([p.values for p in picked]))
        if on_progress:
            on_progress(min(start + batch_size, len(unique)), len(unique))
    return writer.close()


def _token_id(entry, tokenizer) -> int:
    if isinstance(entry, dict) and "token_id" in entry:
        return int(entry["token_id"])
    token = entry["token"] if isinstance(entry, dict) else entry
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise TeacherError(f"recorded top-k token {token!r} is not in the student's vocabulary")
    return token_id


def _padded(pairs: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    """The k most likely (token, logprob) pairs, sorted; short rows are filled with other distinct
    tokens at a negligible log-prob, so every row has k distinct ids (the loss relies on it)."""
    pairs = sorted(pairs, key=lambda p: -p[1])[:k]
    present = {token for token, _ in pairs}
    fillers = (token for token in range(k + len(present)) if token not in present)
    return pairs + [(next(fillers), -1e4) for _ in range(k - len(pairs))]


def _recorded_rows(topk: list, tokenizer, k: int) -> list[list[tuple[int, float]]]:
    """vLLM-style per-token top-k ({token: logprob} dicts, or lists of {token_id|token, logprob})."""
    rows = []
    for position in topk:
        pairs = (
            [(_token_id(t, tokenizer), float(lp)) for t, lp in position.items()]
            if isinstance(position, dict)
            else [(_token_id(e, tokenizer), float(e["logprob"])) for e in position]
        )
        rows.append(_padded(pairs, k))
    return rows


def store_recorded_topk(
    *, examples: list[Example], tokenizer, folder: str | Path, top_k: int, max_seq_len: int, compact: bool = True
) -> TopKStore:
    """Store the top-k log-probs that came with the traces, aligned with our tokenisation of the
    reply (+ end token: when the trace has no row for it, the end token gets probability 1)."""
    writer = TopKStoreWriter(folder, k=top_k, vocab_size=len(tokenizer), compact=compact)
    for example in {e.key: e for e in examples}.values():
        if example.golden_output is not None:
            raise TeacherError(
                f"prompt {example.key[:12]} has a golden output, so the recorded top-k no longer "
                f"matches its target; score it with the teacher (score-teacher) instead"
            )
        if not example.topk:
            raise TeacherError(f"prompt {example.key[:12]} has no recorded top-k; score it with the teacher instead")
        if example.trajectory:
            raise TeacherError(
                f"prompt {example.key[:12]} is a trajectory: recorded top-k covers one reply, not "
                f"every turn; score it with the teacher (score-teacher) instead"
            )
        targets = [t for t in tokenize(example, tokenizer, max_seq_len=max_seq_len).labels if t != IGNORE_INDEX]
        rows = _recorded_rows(example.topk, tokenizer, top_k)
        if len(rows) == len(targets) - 1:
            rows.append(_padded([(tokenizer.eos_token_id, 0.0)], top_k))
        if len(rows) != len(targets):
            raise TeacherError(
                f"prompt {example.key[:12]}: {len(rows)} recorded top-k rows but the reply is "
                f"{len(targets)} tokens in the student's tokenizer; the traces were tokenised "
                f"differently, score them with the teacher instead"
            )
        writer.add(
            example.key,
            torch.tensor([[t for t, _ in row] for row in rows]),
            torch.tensor([[lp for _, lp in row] for row in rows]),
        )
    return writer.close()
