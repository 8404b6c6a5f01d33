// An MCP entry's two fields: which registered server, and all of its tools or a checked subset.
import { useState } from "react";
import type { McpServer, McpToolSpec } from "../../types";
import { formatTime } from "../../ui";
import { FieldShell, type FieldProps } from "../ConfigForm";

export interface McpFieldProps extends FieldProps {
  spec: McpToolSpec;
  servers: McpServer[] | null; // null: still loading
  reloadServers: () => void;
  setEntry: (entry: McpToolSpec) => void;
}

export function McpServerField({ spec, servers, reloadServers, setEntry, path, label, required, form }: McpFieldProps) {
  const known = servers?.find((s) => s.name === spec.server);
  return (
    <FieldShell path={path} label={label} required={required} form={form}>
      <div className="inline-row">
        <select name={path} value={spec.server ?? ""} onChange={(e) => setEntry({ ...spec, server: e.target.value, tools: null })}>
          <option value="">{servers === null ? "Loading…" : servers.length ? "— pick a server —" : "no MCP server registered"}</option>
          {spec.server && servers && !known && <option value={spec.server}>{spec.server} (not registered)</option>}
          {(servers ?? []).map((s) => <option key={s.id} value={s.name}>{s.name}</option>)}
        </select>
        <button type="button" className="link" onClick={reloadServers} title="Fetch the list of servers again">Reload</button>
      </div>
      <p className="hint">
        {known ? `${known.url} · ${known.tools.length} tools, listed ${formatTime(known.tools_refreshed_at)} · ` : ""}
        <a href="/mcp-servers" target="_blank" rel="noreferrer">Manage MCP servers</a>
      </p>
    </FieldShell>
  );
}

export function McpToolsField({ spec, servers, setEntry, path, label, form }: McpFieldProps) {
  const server = servers?.find((s) => s.name === spec.server);
  const chosen = Array.isArray(spec.tools) ? spec.tools : [];
  const [subset, setSubset] = useState(chosen.length > 0);
  const offered = server?.tools ?? [];
  const stale = chosen.filter((name) => !offered.some((t) => t.name === name));
  const toggle = (name: string, on: boolean) => {
    const next = on ? [...chosen, name] : chosen.filter((n) => n !== name);
    setEntry({ ...spec, tools: next.length ? next : null });
  };
  if (!spec.server) return null;
  return (
    <FieldShell path={path} label={label} form={form}>
      {!server || offered.length === 0 ? (
        <p className="hint">
          {server ? "No tools are known for this server yet: use Test connection on the MCP servers page." : "The agent is offered every tool of the server."}
        </p>
      ) : null}
      <div className="segmented" role="radiogroup" aria-label="Which tools">
        <label className={!subset ? "active" : ""}>
          <input type="radio" name={`${path}.mode`} value="all" checked={!subset} onChange={() => { setSubset(false); setEntry({ ...spec, tools: null }); }} />
          All its tools{server ? ` (${offered.length})` : ""}
        </label>
        <label className={subset ? "active" : ""}>
          <input type="radio" name={`${path}.mode`} value="some" checked={subset} disabled={!offered.length && !chosen.length} onChange={() => setSubset(true)} />
          Only these
        </label>
      </div>
      {subset && (
        <ul className="tool-checklist">
          {offered.map((tool) => (
            <li key={tool.name}>
              <label title={tool.description ?? ""}>
                <input type="checkbox" name={`${path}.${tool.name}`} checked={chosen.includes(tool.name)} onChange={(e) => toggle(tool.name, e.target.checked)} />
                <code>{tool.name}</code> <span className="muted">{tool.description}</span>
              </label>
            </li>
          ))}
          {stale.map((name) => (
            <li key={name}>
              <label>
                <input type="checkbox" checked onChange={() => toggle(name, false)} /> <code>{name}</code> <span className="error">not on the server</span>
              </label>
            </li>
          ))}
          {chosen.length === 0 && <li className="hint">None checked: the agent gets all of them.</li>}
        </ul>
      )}
    </FieldShell>
  );
}
