// Every model call: filter, open one, and write the golden output a person would have wanted.
import { useEffect, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { get, patch } from "../api";
import type { ApiError, Trace, TracePage, Workflow } from "../types";
import { ErrorList, JsonView, Pager, StatusBadge, errorsFrom, formatCost, formatTime } from "../ui";

const filterKeys = ["workflow", "node", "model", "since", "until"] as const;

export function TracesPage() {
  const [params, setParams] = useSearchParams();
  const [workflows, setWorkflows] = useState<Workflow[]>([]);
  const [traces, setTraces] = useState<TracePage | null>(null);
  const [open, setOpen] = useState<Trace | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [form, setForm] = useState(() => ({
    ...Object.fromEntries(filterKeys.map((k) => [k, params.get(k) ?? ""])),
    meta: [...params.entries()].filter(([k]) => k.startsWith("meta.")).map(([k, v]) => `${k.slice(5)}=${v}`).join(", "),
  }) as Record<(typeof filterKeys)[number] | "meta", string>);

  useEffect(() => {
    get<Workflow[]>("/api/workflows").then(setWorkflows, (e) => setErrors(errorsFrom(e)));
  }, []);

  const search = params.toString();
  useEffect(() => {
    get<TracePage>(`/api/traces${search ? `?${search}` : ""}`).then(setTraces, (e) => setErrors(errorsFrom(e)));
  }, [search]);

  function apply(event: FormEvent) {
    event.preventDefault();
    const next: Record<string, string> = {};
    for (const key of filterKeys) if (form[key]) next[key] = key === "since" || key === "until" ? new Date(form[key]).toISOString() : form[key];
    for (const pair of form.meta.split(",")) {
      const [key, ...rest] = pair.split("=");
      if (key.trim() && rest.length) next[`meta.${key.trim()}`] = rest.join("=").trim();
    }
    setParams(next);
  }

  const names = new Map(workflows.map((w) => [String(w.id), w.name]));
  return (
    <div className="page">
      <div className="page-head"><h1>Traces</h1></div>
      <form className="filters" onSubmit={apply}>
        <select aria-label="Workflow" value={form.workflow} onChange={(e) => setForm({ ...form, workflow: e.target.value })}>
          <option value="">All workflows</option>
          {workflows.map((w) => <option key={w.id} value={String(w.id)}>{w.name}</option>)}
        </select>
        <input placeholder="node id" value={form.node} onChange={(e) => setForm({ ...form, node: e.target.value })} />
        <input placeholder="model" value={form.model} onChange={(e) => setForm({ ...form, model: e.target.value })} />
        <label>since <input type="datetime-local" value={form.since} onChange={(e) => setForm({ ...form, since: e.target.value })} /></label>
        <label>until <input type="datetime-local" value={form.until} onChange={(e) => setForm({ ...form, until: e.target.value })} /></label>
        <input placeholder="metadata: key=value, …" value={form.meta} onChange={(e) => setForm({ ...form, meta: e.target.value })} />
        <button type="submit">Filter</button>
      </form>
      <ErrorList errors={errors} />
      <div className="split">
        <div>
          {traces === null ? <p className="muted">Loading…</p> : traces.results.length === 0 ? <div className="empty">No traces match.</div> : (
            <table className="table">
              <thead><tr><th>When</th><th>Workflow · node</th><th>Model</th><th>Status</th><th>Tokens</th><th>Latency</th><th>Cost</th><th>Golden</th></tr></thead>
              <tbody>
                {traces.results.map((t) => (
                  <tr key={t.id} className={open?.id === t.id ? "selected-row" : ""} onClick={() => setOpen(t)}>
                    <td>{formatTime(t.created_at)}</td>
                    <td>{names.get(String(t.workflow)) ?? t.workflow ?? "—"} · <code>{t.node_id}</code></td>
                    <td>{t.model}</td>
                    <td><StatusBadge status={t.status} /></td>
                    <td>{t.tokens_in} / {t.tokens_out}</td>
                    <td>{Math.round(t.latency_ms)} ms</td>
                    <td>{formatCost(t.cost)}</td>
                    <td>{t.golden_output ? "✓" : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {traces && <Pager page={traces} noun="traces" onCursor={(to) => setParams({ ...Object.fromEntries(params), cursor: to })} />}
        </div>
        {open && <TraceDetail key={open.id} trace={open} onSaved={(t) => {
          setOpen(t);
          setTraces((old) => old && { ...old, results: old.results.map((r) => (r.id === t.id ? t : r)) });
        }} />}
      </div>
    </div>
  );
}

function TraceDetail({ trace, onSaved }: { trace: Trace; onSaved: (trace: Trace) => void }) {
  const [golden, setGolden] = useState(trace.golden_output ?? "");
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [saved, setSaved] = useState(false);

  async function save() {
    setErrors([]);
    try {
      onSaved(await patch<Trace>(`/api/traces/${trace.id}`, { golden_output: golden }));
      setSaved(true);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  return (
    <aside className="card trace-detail" data-testid="trace-detail">
      <h2>Trace</h2>
      <p className="muted">{formatTime(trace.created_at)} · {trace.model} {trace.run && <>· <Link to={`/runs/${trace.run}`}>run</Link></>}</p>
      <h4>Messages</h4>
      {trace.messages.map((m, i) => (
        <div key={i} className={`message message-${m.role}`}><b>{m.role}</b><pre>{m.content}</pre></div>
      ))}
      <h4>Output</h4>
      <pre className="json">{trace.output}</pre>
      {trace.error !== null && trace.error !== "" && <><h4>Error</h4><JsonView value={trace.error} /></>}
      {Object.keys(trace.metadata ?? {}).length > 0 && <><h4>Metadata</h4><JsonView value={trace.metadata} /></>}
      <h4>Golden output</h4>
      <textarea name="golden_output" rows={5} value={golden} onChange={(e) => { setGolden(e.target.value); setSaved(false); }} placeholder="What the model should have answered" />
      <ErrorList errors={errors} />
      <div className="button-row">
        <button className="primary" onClick={() => void save()}>Save golden output</button>
        {saved && <span className="muted">Saved.</span>}
      </div>
    </aside>
  );
}
