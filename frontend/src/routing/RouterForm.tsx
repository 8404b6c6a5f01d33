// A router's configuration: candidates (cheapest first), quality target, verifier, and, for a
// workspace router, whether it answers `auto` everywhere. Used to create (on the Routers page or a
// node's panel) and to edit.
import { useState, type FormEvent, type ReactNode } from "react";
import type { ApiError } from "../types";
import { Field, unclaimed, ErrorList } from "../ui";
import type { Router, RouterEmbedding, RouterFields } from "./types";

export interface RouterDraft {
  name: string;
  candidates: string[];
  targetPercent: number;
  refusal: boolean;
  minConfidence: string; // empty: no confidence check
  isDefault: boolean;
  embedding: RouterEmbedding;
}

export function draftOf(router: Router): RouterDraft {
  return {
    name: router.name, candidates: router.candidates, targetPercent: Math.round(router.target * 1000) / 10,
    refusal: router.verifier.refusal ?? true, minConfidence: router.verifier.min_confidence == null ? "" : String(router.verifier.min_confidence),
    isDefault: router.is_default, embedding: router.embedding,
  };
}

export function blankDraft(name: string, modelNames: string[]): RouterDraft {
  return { name, candidates: modelNames.slice(0, 2), targetPercent: 95, refusal: true, minConfidence: "", isDefault: false, embedding: "static" };
}

/** The API body of a draft (the scope, workflow and node, is the caller's). */
export function bodyOf(draft: RouterDraft, { workspaceRouter }: { workspaceRouter: boolean }): RouterFields {
  return {
    name: draft.name, candidates: draft.candidates, target: draft.targetPercent / 100,
    verifier: { refusal: draft.refusal, min_confidence: draft.minConfidence === "" ? null : Number(draft.minConfidence) },
    embedding: draft.embedding,
    ...(workspaceRouter ? { is_default: draft.isDefault } : {}),
  };
}

const PATHS = ["name", "candidates", "target", "verifier", "verifier.min_confidence", "embedding", "is_default"];

export function RouterForm({ initial, modelNames, workspaceRouter, submitLabel, errors, onSubmit, onCancel, children }: {
  initial: RouterDraft;
  modelNames: string[];
  workspaceRouter: boolean;
  submitLabel: string;
  errors: ApiError[];
  onSubmit: (draft: RouterDraft) => Promise<void>;
  onCancel?: () => void;
  children?: ReactNode; // scope fields, above the rest
}) {
  const [draft, setDraft] = useState(initial);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<RouterDraft>) => setDraft({ ...draft, ...patch });
  const candidateErrors = errors.filter((e) => e.path.startsWith("candidates"));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    try {
      await onSubmit(draft);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="router-form" data-testid="router-form" onSubmit={submit}>
      {children}
      <Field label="Name" path="name" errors={errors} hint={<>Nodes and the gateway name it as their model.</>}>
        <input name="router_name" value={draft.name} onChange={(e) => set({ name: e.target.value })} required />
      </Field>
      <div className={`field ${candidateErrors.length ? "field-invalid" : ""}`} data-path="candidates">
        <label className="field-label">Candidates, cheapest first</label>
        <ol className="candidate-list">
          {draft.candidates.map((name, i) => (
            <li key={i}>
              <select name={`candidate_${i}`} aria-label={`Candidate ${i + 1}`} value={name}
                onChange={(e) => set({ candidates: draft.candidates.map((c, j) => (j === i ? e.target.value : c)) })}>
                {!modelNames.includes(name) && <option value={name}>{name || "choose a model"}</option>}
                {modelNames.map((m) => <option key={m} value={m}>{m}</option>)}
              </select>
              {i === draft.candidates.length - 1 && <span className="muted"> strong model: its answer is final</span>}
              <button type="button" className="link" aria-label={`Remove candidate ${i + 1}`}
                onClick={() => set({ candidates: draft.candidates.filter((_, j) => j !== i) })}>remove</button>
            </li>
          ))}
        </ol>
        <button type="button" onClick={() => set({ candidates: [...draft.candidates, modelNames.find((m) => !draft.candidates.includes(m)) ?? ""] })}>
          Add candidate
        </button>
        {candidateErrors.map((e, i) => <p key={i} className="field-error">{e.path !== "candidates" && <code>{e.path} </code>}{e.message}</p>)}
      </div>
      <Field label="Quality target, % of the strong model's" path="target" errors={errors}
        hint="The threshold is calibrated to the cheapest routing that keeps this much quality on the held-out split.">
        <input name="target" type="number" min={1} max={100} step="any" value={draft.targetPercent} onChange={(e) => set({ targetPercent: Number(e.target.value) })} />
      </Field>
      <fieldset className="verifier">
        <legend>Verifier: what makes a cheaper answer escalate</legend>
        <label className="checkbox"><input name="refusal" type="checkbox" checked={draft.refusal} onChange={(e) => set({ refusal: e.target.checked })} /> a refusal (“I'm sorry, I can't …”)</label>
        <Field label="Minimum mean token probability (optional)" path="verifier.min_confidence" errors={errors}
          hint="Where the backend records log-probabilities. Invalid JSON or schema, and bad tool calls, always escalate.">
          <input name="min_confidence" type="number" min={0} max={1} step="any" value={draft.minConfidence} placeholder="none" onChange={(e) => set({ minConfidence: e.target.value })} />
        </Field>
      </fieldset>
      <Field label="Prompt embedding" path="embedding" errors={errors}
        hint="Static: the encoder's word pieces, averaged (about 0.1 ms a decision). Full encoder: reads word order and context (about 20 ms). Changing it discards the training.">
        <select name="embedding" value={draft.embedding} onChange={(e) => set({ embedding: e.target.value as RouterEmbedding })}>
          <option value="static">static (fast)</option>
          <option value="minilm">full encoder (all-MiniLM-L6-v2)</option>
        </select>
      </Field>
      {workspaceRouter && (
        <label className="checkbox"><input name="is_default" type="checkbox" checked={draft.isDefault} onChange={(e) => set({ isDefault: e.target.checked })} /> The workspace's default router: answers <code>auto</code> wherever a node has no router of its own, and the gateway</label>
      )}
      <ErrorList errors={unclaimed(errors, PATHS).filter((e) => !e.path.startsWith("candidates"))} />
      <div className="button-row">
        <button className="primary" type="submit" disabled={busy}>{submitLabel}</button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}
