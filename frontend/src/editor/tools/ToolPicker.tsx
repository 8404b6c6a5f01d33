// The tool picker: the form widget of an agent's `tools` field (schema format "tools"). Entries
// are added by kind, folded to one line, reordered and removed; each kind's form is generated
// from its schema, with hand-made fields where a generated one would be poor. An entry the
// editor does not understand is shown as JSON and can be removed, never parsed.
import { useMemo, useRef, useState } from "react";
import type { JsonObject, JsonSchema, JsonValue, ToolKind, ToolSpec } from "../../types";
import { ErrorList, JsonView } from "../../ui";
import { SchemaField, type FieldProps, type FormContext } from "../ConfigForm";
import { BodyField, ParametersField } from "./HttpToolFields";
import { McpServerField, McpToolsField } from "./McpToolFields";
import { KIND_LABELS, argumentNames, asToolSpec, entryLevelErrors, entrySummary, newEntry, normalizeToolErrors, toolVariants } from "./toolEntries";
import { useMcpServers } from "./useMcpServers";

/** Stable React keys for entries that are plain JSON: they move with the entries the picker moves. */
function useEntryKeys(count: number) {
  const keys = useRef<string[]>([]);
  const next = useRef(0);
  if (keys.current.length !== count) keys.current = Array.from({ length: count }, (_, i) => keys.current[i] ?? `tool-${next.current++}`);
  const fresh = () => `tool-${next.current++}`;
  return { keys, fresh };
}

export function ToolPicker({ schema, value, onChange, path, form }: FieldProps) {
  const variants = useMemo(() => toolVariants(schema, form.root), [schema, form.root]);
  const mcp = useMcpServers();
  const entries = useMemo<JsonValue[]>(() => (Array.isArray(value) ? value : []), [value]);
  const errors = useMemo(() => normalizeToolErrors(form.errors, path, entries), [form.errors, path, entries]);
  const { keys, fresh } = useEntryKeys(entries.length);
  // Folded or not, as the person chose; until they choose, an entry with a problem is unfolded.
  const [unfolded, setUnfolded] = useState<Map<string, boolean>>(new Map());
  const isOpen = (index: number) => unfolded.get(keys.current[index]) ?? errors.some((e) => e.path === `${path}[${index}]` || e.path.startsWith(`${path}[${index}].`));
  const toggle = (index: number) => setUnfolded((old) => new Map(old).set(keys.current[index], !isOpen(index)));

  if (value !== undefined && value !== null && !Array.isArray(value)) {
    return (
      <div className="tool-picker">
        <p className="field-error">This is not a list of tools:</p>
        <JsonView value={value} />
        <button type="button" onClick={() => onChange([])}>Replace it with no tools</button>
      </div>
    );
  }

  function move(index: number, by: -1 | 1) {
    const to = index + by;
    const order = entries.map((_, i) => (i === index ? to : i === to ? index : i));
    keys.current = order.map((i) => keys.current[i]);
    onChange(order.map((i) => entries[i]));
  }

  function remove(index: number) {
    keys.current = keys.current.filter((_, i) => i !== index);
    onChange(entries.filter((_, i) => i !== index));
  }

  function add(kind: ToolKind) {
    const key = fresh();
    keys.current = [...keys.current, key];
    setUnfolded((old) => new Map(old).set(key, true));
    onChange([...entries, newEntry(kind, variants[kind]!, form.root, entries)]);
  }

  const entryForm: FormContext = { ...form, errors };
  return (
    <div className="tool-picker" data-testid="tool-picker">
      {entries.length === 0 && <p className="hint">No tools yet: without any, the agent answers in a single turn.</p>}
      <ol className="tool-entries">
        {entries.map((entry, index) => (
          <ToolEntry
            key={keys.current[index]}
            entry={entry}
            index={index}
            count={entries.length}
            path={`${path}[${index}]`}
            variants={variants}
            open={isOpen(index)}
            onToggle={() => toggle(index)}
            onChange={(next) => onChange(entries.map((old, i) => (i === index ? next : old)))}
            onMove={(by) => move(index, by)}
            onRemove={() => remove(index)}
            form={entryForm}
            mcp={mcp}
          />
        ))}
      </ol>
      <div className="tool-add" aria-label="Add a tool">
        {(Object.keys(variants) as ToolKind[]).map((kind) => (
          <button type="button" key={kind} data-add-tool={kind} onClick={() => add(kind)}>+ {KIND_LABELS[kind]}</button>
        ))}
      </div>
    </div>
  );
}

type McpState = ReturnType<typeof useMcpServers>;

function ToolEntry({ entry, index, count, path, variants, open, onToggle, onChange, onMove, onRemove, form, mcp }: {
  entry: JsonValue;
  index: number;
  count: number;
  path: string;
  variants: Partial<Record<ToolKind, JsonSchema>>;
  open: boolean;
  onToggle: () => void;
  onChange: (entry: JsonValue) => void;
  onMove: (by: -1 | 1) => void;
  onRemove: () => void;
  form: FormContext;
  mcp: McpState;
}) {
  const spec = asToolSpec(entry, variants);
  const variant = spec ? variants[spec.kind] : undefined;
  const fields = Object.keys(variant?.properties ?? {}).filter((key) => key !== "kind");
  const loose = entryLevelErrors(form.errors, path, spec ? fields : []);
  const invalid = form.errors.some((e) => e.path === path || e.path.startsWith(`${path}.`));
  const kind = spec?.kind ?? "unknown";
  return (
    <li className={`tool-entry ${invalid ? "invalid" : ""}`} data-testid="tool-entry" data-kind={kind} data-index={index} data-path={path}>
      <div className="tool-entry-head">
        <span className={`kind-chip kind-${kind}`}>{spec ? KIND_LABELS[spec.kind] : "Unknown"}</span>
        <button type="button" className="tool-entry-summary" onClick={onToggle} aria-expanded={open} title={open ? "Fold" : "Edit"}>
          {spec ? entrySummary(spec, form.workflows, mcp.servers) : "not a tool this editor knows"}
        </button>
        <button type="button" className="icon-button" aria-label="Move up" title="Move up" disabled={index === 0} onClick={() => onMove(-1)}>↑</button>
        <button type="button" className="icon-button" aria-label="Move down" title="Move down" disabled={index === count - 1} onClick={() => onMove(1)}>↓</button>
        <button type="button" className="icon-button danger" aria-label="Remove" title="Remove" onClick={onRemove}>✕</button>
      </div>
      {loose.map((e, i) => <p key={i} className="field-error">{e.message}</p>)}
      {!spec && <JsonView value={entry} />}
      {spec && variant && open && (
        <ToolEntryForm spec={spec} variant={variant} path={path} onChange={onChange} form={form} mcp={mcp} />
      )}
    </li>
  );
}

function ToolEntryForm({ spec, variant, path, onChange, form, mcp }: {
  spec: ToolSpec;
  variant: JsonSchema;
  path: string;
  onChange: (entry: JsonValue) => void;
  form: FormContext;
  mcp: McpState;
}) {
  const entry = spec as unknown as JsonObject;
  const set = (key: string) => (value: JsonValue | undefined) => {
    const next = { ...entry };
    if (value === undefined) delete next[key];
    else next[key] = value;
    onChange(next);
  };
  // An HTTP tool's templates see its arguments as args.<name>.
  const fieldForm = spec.kind === "http" ? { ...form, suggestions: [...argumentNames(spec.parameters).map((n) => `args.${n}`), ...form.suggestions] } : form;
  return (
    <div className="tool-entry-form">
      {mcp.errors.length > 0 && spec.kind === "mcp" && <ErrorList errors={mcp.errors} />}
      {Object.entries(variant.properties ?? {}).filter(([key]) => key !== "kind").map(([key, child]) => {
        const props: FieldProps = {
          schema: child, value: entry[key], onChange: set(key), path: `${path}.${key}`, label: child.title ?? key,
          required: variant.required?.includes(key), form: fieldForm,
        };
        if (spec.kind === "http" && key === "parameters") return <ParametersField key={key} {...props} />;
        if (spec.kind === "http" && key === "body") return <BodyField key={key} {...props} />;
        if (spec.kind === "mcp" && (key === "server" || key === "tools")) {
          const Field = key === "server" ? McpServerField : McpToolsField;
          return <Field key={key} {...props} spec={spec} servers={mcp.servers} reloadServers={() => void mcp.reload()} setEntry={(next) => onChange(next as unknown as JsonObject)} />;
        }
        return <SchemaField key={key} {...props} />;
      })}
    </div>
  );
}
