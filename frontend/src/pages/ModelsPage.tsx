// The model registry: register and edit endpoints. API keys are write-only: we only learn whether one is set.
import { useEffect, useState, type FormEvent } from "react";
import { del, get, patch, post } from "../api";
import type { ApiError, ModelBackend, ModelEndpoint } from "../types";
import { ErrorList, errorsFrom } from "../ui";
import { useDialogs } from "../dialogs";

interface Draft {
  name: string;
  backend: string;
  model: string;
  base_url: string;
  api_key: string;
  price_in: string;
  price_out: string;
  is_default: boolean;
}

const blank: Draft = { name: "", backend: "openai", model: "", base_url: "", api_key: "", price_in: "0", price_out: "0", is_default: false };

function draftOf(model: ModelEndpoint): Draft {
  return {
    name: model.name, backend: model.backend, model: model.model, base_url: model.base_url ?? "", api_key: "",
    price_in: String(model.price_in ?? 0), price_out: String(model.price_out ?? 0), is_default: model.is_default,
  };
}

export function ModelsPage() {
  const dialogs = useDialogs();
  const [models, setModels] = useState<ModelEndpoint[] | null>(null);
  const [editing, setEditing] = useState<{ original: string | null; draft: Draft } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [backends, setBackends] = useState<ModelBackend[]>([]);

  const reload = () => get<ModelEndpoint[]>("/api/models").then(setModels, (e) => setErrors(errorsFrom(e)));
  useEffect(() => {
    void reload();
    get<ModelBackend[]>("/api/model-backends").then(setBackends, (e) => setErrors(errorsFrom(e)));
  }, []);
  const needsUrl = (name: string) => backends.find((b) => b.name === name)?.needs_base_url ?? false;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!editing) return;
    const { draft, original } = editing;
    const body: Record<string, unknown> = {
      name: draft.name, backend: draft.backend, model: draft.model, base_url: draft.base_url || null,
      price_in: Number(draft.price_in), price_out: Number(draft.price_out), is_default: draft.is_default,
    };
    // Only send a key when one was typed: an empty field means "keep the stored key".
    if (draft.api_key) body.api_key = draft.api_key;
    setErrors([]);
    try {
      if (original === null) await post("/api/models", body);
      else await patch(`/api/models/${encodeURIComponent(original)}`, body);
      setEditing(null);
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function remove(name: string) {
    const message = "Nodes that name it will fail to validate until they name another model.";
    if (!(await dialogs.confirm({ title: `Delete the model “${name}”?`, message, confirmLabel: "Delete", danger: true }))) return;
    try {
      await del(`/api/models/${encodeURIComponent(name)}`);
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  const set = (patch: Partial<Draft>) => editing && setEditing({ ...editing, draft: { ...editing.draft, ...patch } });
  const editedModel = models?.find((m) => m.name === editing?.original);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Models</h1>
        <span className="spacer" />
        <button className="primary" onClick={() => setEditing({ original: null, draft: blank })}>Register model</button>
      </div>
      <ErrorList errors={errors} />
      {editing && (
        <form className="card model-form" onSubmit={submit}>
          <h2>{editing.original ? `Edit ${editing.original}` : "Register a model"}</h2>
          <div className="grid-2">
            <label>Name<input name="name" value={editing.draft.name} onChange={(e) => set({ name: e.target.value })} required /></label>
            <label>Backend
              <select name="backend" value={editing.draft.backend} onChange={(e) => set({ backend: e.target.value })}>
                {backends.map((b) => <option key={b.name} value={b.name}>{b.title}</option>)}
              </select>
            </label>
            <label>Model<input name="model" value={editing.draft.model} placeholder={needsUrl(editing.draft.backend) ? "gpt-4o-mini" : "Qwen/Qwen2.5-0.5B-Instruct or a folder in the model folders"} onChange={(e) => set({ model: e.target.value })} required /></label>
            {needsUrl(editing.draft.backend) && (
              <label>Base URL<input name="base_url" value={editing.draft.base_url} placeholder="http://vllm:8000/v1" onChange={(e) => set({ base_url: e.target.value })} /></label>
            )}
            {needsUrl(editing.draft.backend) && (
              <label>API key
                <input name="api_key" type="password" autoComplete="off" value={editing.draft.api_key}
                  placeholder={editedModel?.has_api_key ? "stored — type to replace" : "none"} onChange={(e) => set({ api_key: e.target.value })} />
              </label>
            )}
            <label>Price in ($ / 1M tokens)<input name="price_in" type="number" min={0} step="any" value={editing.draft.price_in} onChange={(e) => set({ price_in: e.target.value })} /></label>
            <label>Price out ($ / 1M tokens)<input name="price_out" type="number" min={0} step="any" value={editing.draft.price_out} onChange={(e) => set({ price_out: e.target.value })} /></label>
            <label className="checkbox"><input name="is_default" type="checkbox" checked={editing.draft.is_default} onChange={(e) => set({ is_default: e.target.checked })} /> Default model (what <code>auto</code> uses)</label>
          </div>
          <div className="button-row">
            <button className="primary" type="submit">Save</button>
            <button type="button" onClick={() => setEditing(null)}>Cancel</button>
          </div>
        </form>
      )}
      {models === null ? <p className="muted">Loading…</p> : models.length === 0 ? <div className="empty">No models registered.</div> : (
        <table className="table">
          <thead><tr><th>Name</th><th>Backend</th><th>Model</th><th>Base URL</th><th>Key</th><th>$ in / out per 1M</th><th /></tr></thead>
          <tbody>
            {models.map((m) => (
              <tr key={m.name}>
                <td><b>{m.name}</b> {m.is_default && <span className="badge">default</span>}</td>
                <td>{m.backend}</td>
                <td><code>{m.model}</code></td>
                <td>{m.base_url ?? "—"}</td>
                <td>{m.has_api_key ? "set" : "—"}</td>
                <td>{String(m.price_in ?? 0)} / {String(m.price_out ?? 0)}</td>
                <td className="row-actions">
                  <button className="link" onClick={() => setEditing({ original: m.name, draft: draftOf(m) })}>Edit</button>
                  <button className="link danger" onClick={() => void remove(m.name)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
