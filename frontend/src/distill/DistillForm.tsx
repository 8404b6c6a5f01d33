// The job form for one LLM or agent node: student, method, LoRA and a few hyperparameters, with a live
// preview of what the job would train on and every reason the server would refuse it.
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { get, post } from "../api";
import type { ApiError, DistillationJob, DistillMethod, DistillMethodInfo, DistillPreview, DistillRequest } from "../types";
import { ErrorList, errorsFrom, formatNumber } from "../ui";

const PREVIEW_DELAY_MS = 400;

interface Settings {
  student: string;
  method: DistillMethod;
  lora: boolean;
  loraRank: number;
  epochs: number;
  maxSteps: string; // empty: train for the epochs
  batchSize: number;
  learningRate: number;
  evalEvery: string;
  minExamples: number;
  heldOutPercent: number; // of the traces, for validation and again for test
  evalTokens: number;
}

/** The job body; only sections the form sets, so the server's defaults hold for the rest. */
function requestOf(settings: Settings, workflowId: string, nodeId: string): DistillRequest {
  const train: Record<string, number> = { epochs: settings.epochs, batch_size: settings.batchSize, lr: settings.learningRate };
  if (settings.maxSteps) train.max_steps = Number(settings.maxSteps);
  if (settings.evalEvery) train.eval_every = Number(settings.evalEvery);
  return {
    workflow: workflowId,
    node_id: nodeId,
    student: settings.student.trim(),
    method: settings.method,
    config: {
      data: { min_examples: settings.minExamples, validation_fraction: settings.heldOutPercent / 100, test_fraction: settings.heldOutPercent / 100 },
      lora: settings.lora ? { enabled: true, r: settings.loraRank, alpha: settings.loraRank * 2 } : { enabled: false },
      train,
      eval: { max_new_tokens: settings.evalTokens },
    },
  };
}

/** How many examples pass the required verification stages, and each stage's count (verify.py). */
function verificationOf(preview: DistillPreview): string | null {
  const v = preview.verification as Verification | undefined;
  if (!v || !v.checked) return null;
  const stages = (["format", "execution", "semantic"] as const).map((stage) => `${stage} ${v[stage].passed}/${v.checked}`);
  return `${v.passed} of ${v.checked} pass ${v.required.join(" + ") || "no required stage"} (${stages.join(" · ")})`;
}

/** PreviewOut.verification, a free-form dict in the schema. */
interface Verification {
  required: string[];
  checked: number;
  passed: number;
  format: { passed: number; failed: number };
  execution: { passed: number; failed: number };
  semantic: { passed: number; failed: number; unknown: number };
}

function duration(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

export function DistillForm({ workflowId, nodeId, maxTokens, modelNames, onClose }: {
  workflowId: string;
  nodeId: string;
  maxTokens: number; // the node's reply limit: evaluation never needs longer replies
  modelNames: string[];
  onClose: () => void;
}) {
  const navigate = useNavigate();
  const [settings, setSettings] = useState<Settings>({
    student: "", method: "sft", lora: true, loraRank: 16, epochs: 3, maxSteps: "", batchSize: 8,
    learningRate: 2e-4, evalEvery: "", minExamples: 100, heldOutPercent: 10, evalTokens: maxTokens,
  });
  const [methods, setMethods] = useState<DistillMethodInfo[]>([]);
  const [preview, setPreview] = useState<DistillPreview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [launching, setLaunching] = useState(false);
  const set = (patch: Partial<Settings>) => setSettings((old) => ({ ...old, ...patch }));
  const body = JSON.stringify(requestOf(settings, workflowId, nodeId));

  // The methods come from the server's one list, so the form never offers one it would refuse.
  useEffect(() => {
    get<DistillMethodInfo[]>("/api/distillation-methods").then(setMethods, (error) => setErrors(errorsFrom(error)));
  }, []);

  // Preview after each pause in typing; an answer to an older body is dropped.
  useEffect(() => {
    setPreview(null);
    setErrors([]);
    setPreviewing(Boolean(settings.student.trim()));
    if (!settings.student.trim()) return;
    let current = true;
    const timer = window.setTimeout(() => {
      post<DistillPreview>("/api/distillations/preview", JSON.parse(body)).then(
        (answer) => current && setPreview(answer),
        (error) => current && setErrors(errorsFrom(error)),
      ).finally(() => current && setPreviewing(false));
    }, PREVIEW_DELAY_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [body, settings.student]);

  async function launch(event: FormEvent) {
    event.preventDefault();
    setLaunching(true);
    try {
      const job = await post<DistillationJob>("/api/distillations", JSON.parse(body));
      navigate(`/distillations/${job.id}`);
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setLaunching(false);
    }
  }

  const refused = !preview || preview.refusals.length > 0;
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <form className="card modal distill-form" onSubmit={launch} onClick={(e) => e.stopPropagation()} data-testid="distill-form">
        <div className="panel-head">
          <h2>Distil <code>{nodeId}</code> into a smaller model</h2>
          <button type="button" className="link" onClick={onClose}>Close</button>
        </div>
        <p className="hint">Trains a student on this node's recorded calls (its teacher's replies; golden outputs win), measures it before and after, and lets you deploy it to shadow.</p>
        <div className="grid-2">
          <div>
            <label>Student base model
              <input name="student" list="distill-models" value={settings.student} placeholder="a registered model or a Hugging Face id (org/name)" onChange={(e) => set({ student: e.target.value })} required />
              <datalist id="distill-models">{modelNames.map((name) => <option key={name} value={name} />)}</datalist>
            </label>
            <label>Method
              <select name="method" value={settings.method} onChange={(e) => set({ method: e.target.value as DistillMethod })}>
                {methods.length
                  ? methods.map((m) => <option key={m.name} value={m.name}>{m.name}: {m.description}</option>)
                  : <option value={settings.method}>{settings.method}</option>}
              </select>
            </label>
            <label className="checkbox"><input name="lora" type="checkbox" checked={settings.lora} onChange={(e) => set({ lora: e.target.checked })} /> LoRA adapter (off: full fine-tuning)</label>
            <div className="grid-2">
              {settings.lora && <label>LoRA rank<input name="lora_rank" type="number" min={1} value={settings.loraRank} onChange={(e) => set({ loraRank: Number(e.target.value) })} /></label>}
              <label>Epochs<input name="epochs" type="number" min={1} value={settings.epochs} onChange={(e) => set({ epochs: Number(e.target.value) })} /></label>
              <label>Max steps<input name="max_steps" type="number" min={1} value={settings.maxSteps} placeholder="from epochs" onChange={(e) => set({ maxSteps: e.target.value })} /></label>
              <label>Batch size<input name="batch_size" type="number" min={1} value={settings.batchSize} onChange={(e) => set({ batchSize: Number(e.target.value) })} /></label>
              <label>Learning rate<input name="learning_rate" type="number" min={0} step="any" value={settings.learningRate} onChange={(e) => set({ learningRate: Number(e.target.value) })} /></label>
              <label>Validate every<input name="eval_every" type="number" min={1} value={settings.evalEvery} placeholder="50 steps" onChange={(e) => set({ evalEvery: e.target.value })} /></label>
              <label>Min examples<input name="min_examples" type="number" min={1} value={settings.minExamples} onChange={(e) => set({ minExamples: Number(e.target.value) })} /></label>
              <label>Held out, % each<input name="held_out" type="number" min={0} max={45} value={settings.heldOutPercent} title="the share of traces kept for validation, and again for the final test" onChange={(e) => set({ heldOutPercent: Number(e.target.value) })} /></label>
              <label>Eval reply tokens<input name="eval_tokens" type="number" min={1} value={settings.evalTokens} onChange={(e) => set({ evalTokens: Number(e.target.value) })} /></label>
            </div>
          </div>
          <div className="preview" data-testid="distill-preview" data-state={!settings.student.trim() ? "empty" : previewing || !preview ? "pending" : preview.refusals.length ? "refused" : "ready"}>
            <h3>Preview</h3>
            {!settings.student.trim() ? <p className="muted">Name a student model to see what the job would train on.</p> : !preview ? <p className="muted">Checking…</p> : (
              <>
                <dl className="facts wide">
                  <dt>Traces</dt><dd data-testid="preview-matched">{formatNumber(preview.matched)} matched, {formatNumber(preview.with_golden)} with golden outputs{preview.golden_upsampled.repeats ? ` (repeated ${formatNumber(preview.golden_upsampled.repeats)} times in train)` : ""}</dd>
                  {preview.lora && <><dt>Fine-tuning</dt><dd data-testid="preview-lora"><b>{preview.lora.fine_tuning === "lora" ? "LoRA" : "Full"}</b>: {preview.lora.reason}</dd></>}
                  {preview.teacher_scoring && <><dt>Teacher log-probs</dt><dd data-testid="preview-scoring">{formatNumber(preview.teacher_scoring.recorded)} recorded, {formatNumber(preview.teacher_scoring.to_score)} to be scored by the teacher first</dd></>}
                  <dt>Splits</dt><dd data-testid="preview-splits">{preview.splits.train} train · {preview.splits.validation} validation · {preview.splits.test} test</dd>
                  <dt>Tokens</dt><dd>{formatNumber(preview.tokens.prompt)} prompt · {formatNumber(preview.tokens.output)} output</dd>
                  <dt>Estimate</dt><dd>{duration(preview.estimated_seconds)}</dd>
                  <dt>Teacher</dt><dd><code>{preview.teacher}</code></dd>
                  {verificationOf(preview) && <><dt>Verified</dt><dd data-testid="preview-verification">{verificationOf(preview)}</dd></>}
                </dl>
                {preview.refusals.length > 0 ? <ErrorList errors={preview.refusals} /> : <p className="ok">Nothing stands in the way.</p>}
              </>
            )}
            <ErrorList errors={errors} />
          </div>
        </div>
        <div className="button-row">
          <button className="primary" type="submit" disabled={refused || previewing || launching}>Launch</button>
          <button type="button" onClick={onClose}>Cancel</button>
          {preview && preview.refusals.length > 0 && <span className="muted">Fix what the preview lists to launch.</span>}
        </div>
      </form>
    </div>
  );
}
