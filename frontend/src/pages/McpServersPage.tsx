// MCP servers an agent can use tools from: register, test (list their tools), edit and delete.
// Header values (API keys, tokens) are write-only: the API only ever tells us their names.
import { useEffect, useState, type FormEvent } from "react";
import { del, get, patch, post } from "../api";
import type { ApiError, JsonObject, McpServer, McpTool } from "../types";
import { ErrorList, errorsFrom, formatTime } from "../ui";
import { describeArguments } from "../editor/tools/toolEntries";
import { useDialogs } from "../dialogs";

interface HeaderRow {
  name: string;
  value: string;
  stored: boolean; // the server holds a value for it (never shown); typing one replaces it
}

interface Draft {
  name: string;
  url: string;
  headers: HeaderRow[];
  headersEdited: boolean;
}

// Errors the form shows beside its fields ("headers.X-Key" goes under the headers).
const fieldOf = (path: string) => ["name", "url", "headers"].find((field) => path === field || path.startsWith(`${field}.`));

const blank: Draft = { name: "", url: "", headers: [], headersEdited: false };

function draftOf(server: McpServer): Draft {
  return { name: server.name, url: server.url, headers: server.header_names.map((name) => ({ name, value: "", stored: true })), headersEdited: false };
}

/** The request body for a draft, or the problem that stops it being sent. */
function requestBody(draft: Draft, original: McpServer | null): { body: Record<string, unknown> } | { problem: ApiError } {
  const body: Record<string, unknown> = { name: draft.name.trim(), url: draft.url.trim() };
  const urlChanged = original !== null && body.url !== original.url;
  // Headers go together or not at all: untouched, the stored ones stay as they are.
  if (original !== null && !urlChanged && !draft.headersEdited) return { body };
  const rows = draft.headers.filter((row) => row.name.trim() || row.value);
  const names = rows.map((row) => row.name.trim());
  const unnamed = rows.find((row) => !row.name.trim());
  if (unnamed) return { problem: { path: "headers", message: "Every header needs a name." } };
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated) return { problem: { path: "headers", message: `The header ${repeated} is there twice.` } };
  const missing = rows.find((row) => !row.value);
  if (missing && original === null) return { problem: { path: "headers", message: `Give the header ${missing.name} a value, or remove that row.` } };
  if (missing) {
    const why = urlChanged ? "the URL changed, so the stored values are not sent to the new address" : "headers are saved together";
    return { problem: { path: "headers", message: `Enter the value of ${missing.name} again (${why}), or remove that row.` } };
  }
  if (rows.length || original !== null) body.headers = Object.fromEntries(rows.map((row) => [row.name.trim(), row.value]));
  return { body };
}

export function McpServersPage() {
  const dialogs = useDialogs();
  const [servers, setServers] = useState<McpServer[] | null>(null);
  const [editing, setEditing] = useState<{ original: McpServer | null; draft: Draft } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [shown, setShown] = useState<Set<string>>(new Set()); // servers whose tools are unfolded
  const [testing, setTesting] = useState<string | null>(null);
  const [tested, setTested] = useState<Record<string, { ok: boolean; errors: ApiError[] }>>({});

  const reload = () => get<McpServer[]>("/api/mcp-servers").then(
    (list) => setServers([...list].sort((a, b) => a.name.localeCompare(b.name))),
    (e) => setErrors(errorsFrom(e)),
  );
  useEffect(() => {
    void reload();
  }, []);
  const show = (id: string, on = true) => setShown((old) => {
    const next = new Set(old);
    if (on) next.add(id);
    else next.delete(id);
    return next;
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!editing) return;
    const { original, draft } = editing;
    const request = requestBody(draft, original);
    if ("problem" in request) return setErrors([request.problem]);
    setErrors([]);
    try {
      const saved = original === null
        ? await post<McpServer>("/api/mcp-servers", request.body)
        : await patch<McpServer>(`/api/mcp-servers/${original.id}`, request.body);
      setEditing(null);
      if (saved?.id !== undefined) show(String(saved.id));
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function testConnection(server: McpServer) {
    const id = String(server.id);
    setTesting(id);
    try {
      await post(`/api/mcp-servers/${server.id}/refresh`);
      setTested((old) => ({ ...old, [id]: { ok: true, errors: [] } }));
      show(id);
      await reload();
    } catch (error) {
      setTested((old) => ({ ...old, [id]: { ok: false, errors: errorsFrom(error) } }));
    } finally {
      setTesting(null);
    }
  }

  async function remove(server: McpServer) {
    const message = "Agent nodes that use its tools will no longer validate until they name another server.";
    if (!(await dialogs.confirm({ title: `Delete the MCP server “${server.name}”?`, message, confirmLabel: "Delete", danger: true }))) return;
    try {
      await del(`/api/mcp-servers/${server.id}`);
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1>MCP servers</h1>
        <span className="spacer" />
        <button className="primary" onClick={() => { setErrors([]); setEditing({ original: null, draft: blank }); }}>Add server</button>
      </div>
      <p className="hint page-intro">
        Servers that speak the Model Context Protocol over streamable HTTP. An agent node can use some or all of a server's tools (pick them in its <b>Tools</b> field).
      </p>
      <ErrorList errors={editing ? errors.filter((e) => !fieldOf(e.path)) : errors} />
      {editing && (
        <ServerForm
          original={editing.original}
          draft={editing.draft}
          onDraft={(draft) => setEditing({ ...editing, draft })}
          onSubmit={submit}
          onCancel={() => { setEditing(null); setErrors([]); }}
          errors={errors}
        />
      )}
      {servers === null ? <p className="muted">Loading…</p> : servers.length === 0 ? <div className="empty">No MCP server registered yet.</div> : (
        <table className="table mcp-table" data-testid="mcp-servers">
          <thead><tr><th>Name</th><th>URL</th><th>Headers</th><th>Tools</th><th>Last refresh</th><th /></tr></thead>
          <tbody>
            {servers.map((server) => {
              const id = String(server.id);
              const result = tested[id];
              return [
                <tr key={id} data-server={server.name}>
                  <td><b>{server.name}</b></td>
                  <td><code>{server.url}</code></td>
                  <td>{server.header_names.length ? server.header_names.map((h) => <code key={h} className="header-name">{h}</code>) : <span className="muted">—</span>}</td>
                  <td>
                    <button className="link" onClick={() => show(id, !shown.has(id))} aria-expanded={shown.has(id)} disabled={!server.tools.length}>
                      {server.tools.length} tool{server.tools.length === 1 ? "" : "s"}
                    </button>
                  </td>
                  <td>{formatTime(server.tools_refreshed_at)}</td>
                  <td className="row-actions">
                    <button className="link" disabled={testing === id} onClick={() => void testConnection(server)}>{testing === id ? "Testing…" : "Test connection"}</button>
                    <button className="link" onClick={() => { setErrors([]); setEditing({ original: server, draft: draftOf(server) }); }}>Edit</button>
                    <button className="link danger" onClick={() => void remove(server)}>Delete</button>
                  </td>
                </tr>,
                (shown.has(id) || result) && (
                  <tr key={`${id}-tools`} className="detail-row" data-tools-of={server.name}>
                    <td colSpan={6}>
                      {result?.ok && <p className="notice" data-testid="connection-ok">Connected: {server.tools.length} tool{server.tools.length === 1 ? "" : "s"} listed.</p>}
                      {result && !result.ok && <ErrorList errors={result.errors} />}
                      {shown.has(id) && <McpToolList tools={server.tools} />}
                    </td>
                  </tr>
                ),
              ];
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function ServerForm({ original, draft, onDraft, onSubmit, onCancel, errors }: {
  original: McpServer | null;
  draft: Draft;
  onDraft: (draft: Draft) => void;
  onSubmit: (event: FormEvent) => void;
  onCancel: () => void;
  errors: ApiError[];
}) {
  const urlChanged = original !== null && draft.url.trim() !== original.url;
  const setRow = (index: number, patch: Partial<HeaderRow>) =>
    onDraft({ ...draft, headersEdited: true, headers: draft.headers.map((row, i) => (i === index ? { ...row, ...patch } : row)) });
  const fieldError = (field: string) => errors.filter((e) => fieldOf(e.path) === field).map((e, i) => <p key={i} className="field-error">{e.message}</p>);
  return (
    <form className="card model-form mcp-form" onSubmit={onSubmit} data-testid="mcp-form">
      <h2>{original ? `Edit ${original.name}` : "Add an MCP server"}</h2>
      <div className="grid-2">
        <label>Name<input name="name" value={draft.name} placeholder="shop" onChange={(e) => onDraft({ ...draft, name: e.target.value })} required />{fieldError("name")}</label>
        <label>URL<input name="url" value={draft.url} placeholder="https://mcp.example.com/mcp" onChange={(e) => onDraft({ ...draft, url: e.target.value })} required />{fieldError("url")}</label>
      </div>
      <h3>Headers</h3>
      <p className="hint">
        Sent with every request, e.g. <code>Authorization: Bearer …</code>. Values are stored encrypted and never shown again.
        {original && " Leave them untouched to keep the stored ones; to change one, type every value again."}
      </p>
      {urlChanged && draft.headers.length > 0 && (
        <p className="warning" data-testid="url-changed">The URL changed: enter the header values again, so that credentials meant for the old address are never sent to the new one.</p>
      )}
      <div className="header-rows">
        {draft.headers.map((row, index) => (
          <div className="kv-row" key={index}>
            <input aria-label="Header name" name={`headers[${index}].name`} value={row.name} placeholder="Authorization" onChange={(e) => setRow(index, { name: e.target.value, stored: false })} />
            <input aria-label="Header value" name={`headers[${index}].value`} type="password" autoComplete="off" value={row.value}
              placeholder={row.stored && !urlChanged ? "stored — type to replace" : "value"} onChange={(e) => setRow(index, { value: e.target.value })} />
            <button type="button" className="link danger" onClick={() => onDraft({ ...draft, headersEdited: true, headers: draft.headers.filter((_, i) => i !== index) })}>Remove</button>
          </div>
        ))}
        <button type="button" onClick={() => onDraft({ ...draft, headersEdited: true, headers: [...draft.headers, { name: "", value: "", stored: false }] })}>Add header</button>
        {fieldError("headers")}
      </div>
      <div className="button-row">
        <button className="primary" type="submit">{original ? "Save" : "Add and connect"}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
        <span className="hint">Saving connects to the server and lists its tools.</span>
      </div>
    </form>
  );
}

function McpToolList({ tools }: { tools: McpTool[] }) {
  if (!tools.length) return <p className="muted">No tools listed. Test the connection to ask the server again.</p>;
  return (
    <ul className="mcp-tools" data-testid="mcp-tools">
      {tools.map((tool) => {
        const args = describeArguments(tool.input_schema as JsonObject);
        return (
          <li key={tool.name} data-tool={tool.name}>
            <div><code className="tool-name">{tool.name}</code> <span>{tool.description || <span className="muted">no description</span>}</span></div>
            <details>
              <summary className="muted">{args.length ? `Arguments: ${args.join(", ")}` : "No arguments"} · input schema</summary>
              <pre className="json">{JSON.stringify(tool.input_schema ?? {}, null, 2)}</pre>
            </details>
          </li>
        );
      })}
    </ul>
  );
}
