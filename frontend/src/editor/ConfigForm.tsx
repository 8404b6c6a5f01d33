// A form generated from a node type's JSON Schema, so the editor never disagrees with the backend.
import { useRef, useState, type ComponentType, type ReactNode } from "react";
import type { ApiError, JsonObject, JsonSchema, JsonValue } from "../types";
import type { FieldGroup } from "./fieldGroups";

export interface FormContext {
  root: JsonSchema; // the node type's whole schema, for "$ref": "#/$defs/..."
  errors: ApiError[]; // paths relative to the node, e.g. "config.branches[0].when"
  suggestions: string[]; // template variables: inputs.topic, nodes.draft.output, ...
  modelNames: string[];
  workflows: { id: string | number; name: string }[];
  widgets?: Record<string, ComponentType<FieldProps>>; // a field whose schema `format` is named here is drawn by it
}

export interface FieldProps {
  schema: JsonSchema;
  value: JsonValue | undefined;
  onChange: (value: JsonValue | undefined) => void;
  path: string;
  label: string;
  required?: boolean;
  placeholder?: string;
  form: FormContext;
}

/** Follow `$ref` and unwrap pydantic's nullable `anyOf: [X, {type: null}]`, keeping the outer title/description. */
export function resolveSchema(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const { $ref, anyOf, ...outer } = schema;
  if ($ref) {
    const target = root.$defs?.[$ref.replace("#/$defs/", "")] ?? {};
    return resolveSchema({ ...target, ...outer }, root);
  }
  const variants = (anyOf ?? []).filter((variant) => variant.type !== "null");
  if (anyOf && variants.length === 1) return resolveSchema({ ...variants[0], ...outer }, root);
  return anyOf ? { ...outer, anyOf } : outer;
}

/** "InputField" -> "input field": pydantic's class names as words. */
function humanize(title: string): string {
  return title.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

export function schemaType(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== "null");
  return schema.type;
}

export function FieldErrors({ path, form }: { path: string; form: FormContext }) {
  const mine = form.errors.filter((e) => e.path === path);
  return <>{mine.map((e, i) => <p key={i} className="field-error">{e.message}</p>)}</>;
}

// A Jinja template ("Hello {{ inputs.name }}") or, with `expression`, a bare Jinja expression.
export function TemplateInput({ value, onChange, suggestions, name, expression = false }: { value: string; onChange: (v: string) => void; suggestions: string[]; name: string; expression?: boolean }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [cursor, setCursor] = useState(0);
  // While the cursor sits inside an open "{{", suggest what completes the typed prefix.
  const before = value.slice(0, cursor);
  const open = before.lastIndexOf("{{");
  const typing = expression
    ? (before.match(/[\w.]*$/)?.[0] || null)
    : open >= 0 && before.indexOf("}}", open) < 0 ? before.slice(open + 2).trim() : null;
  const shown = suggestions.filter((s) => typing === null || s.startsWith(typing));

  function insert(variable: string) {
    const start = typing === null ? cursor : expression ? cursor - typing.length : open;
    const inserted = expression ? variable : `{{ ${variable} }}`;
    onChange(`${value.slice(0, start)}${inserted}${value.slice(cursor)}`);
    const at = start + inserted.length;
    requestAnimationFrame(() => {
      area.current?.focus();
      area.current?.setSelectionRange(at, at);
      setCursor(at);
    });
  }

  return (
    <div className="template-field">
      <textarea
        ref={area}
        name={name}
        rows={expression ? 1 : Math.min(10, Math.max(3, value.split("\n").length + 1))}
        value={value}
        spellCheck={false}
        onChange={(e) => {
          onChange(e.target.value);
          setCursor(e.target.selectionStart);
        }}
        onSelect={(e) => setCursor(e.currentTarget.selectionStart)}
      />
      {shown.length > 0 && (
        <div className="suggestions" aria-label="Template variables">
          {shown.map((s) => (
            <button type="button" key={s} className="chip" onMouseDown={(e) => e.preventDefault()} onClick={() => insert(s)}>{s}</button>
          ))}
        </div>
      )}
    </div>
  );
}

function JsonInput({ value, onChange, name }: { value: JsonValue | undefined; onChange: (v: JsonValue | undefined) => void; name: string }) {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, 2));
  const [invalid, setInvalid] = useState("");
  return (
    <>
      <textarea
        name={name}
        className="mono"
        rows={4}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          if (text.trim() === "") return onChange(undefined);
          try {
            onChange(JSON.parse(text));
            setInvalid("");
          } catch (error) {
            setInvalid(`Not valid JSON: ${(error as Error).message}`);
          }
        }}
      />
      {invalid && <p className="field-error">{invalid}</p>}
    </>
  );
}

function ArrayField({ schema, value, onChange, path, form }: FieldProps) {
  const items = Array.isArray(value) ? value : [];
  const itemSchema = resolveSchema(schema.items ?? {}, form.root);
  const set = (index: number, item: JsonValue | undefined) => onChange(items.map((old, i) => (i === index ? (item ?? null) : old)));
  const blank = (): JsonValue => (schemaType(itemSchema) === "object" ? {} : schemaType(itemSchema) === "number" ? 0 : "");
  return (
    <div className="array-field">
      {items.map((item, index) => (
        <div className="array-item" key={index}>
          <SchemaField schema={itemSchema} value={item} onChange={(v) => set(index, v)} path={`${path}[${index}]`} label={`${index + 1}`} form={form} />
          <button type="button" className="link danger" onClick={() => onChange(items.filter((_, i) => i !== index))}>Remove</button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...items, blank()])}>Add {humanize(itemSchema.title ?? "item")}</button>
    </div>
  );
}

function KeyValueField({ schema, value, onChange, path, form }: FieldProps) {
  const entries = Object.entries(value && typeof value === "object" && !Array.isArray(value) ? value : {});
  const valueSchema: JsonSchema = typeof schema.additionalProperties === "object" ? schema.additionalProperties : { type: "string" };
  const write = (next: [string, JsonValue][]) => onChange(Object.fromEntries(next));
  return (
    <div className="array-field">
      {entries.map(([key, item], index) => (
        <div className="kv-row" key={index}>
          <input aria-label="key" value={key} onChange={(e) => write(entries.map((entry, i) => (i === index ? [e.target.value, entry[1]] : entry)))} />
          <SchemaField schema={valueSchema} value={item} onChange={(v) => write(entries.map((entry, i) => (i === index ? [entry[0], v ?? ""] : entry)))} path={`${path}.${key}`} label="" form={form} />
          <button type="button" className="link danger" onClick={() => write(entries.filter((_, i) => i !== index))}>Remove</button>
        </div>
      ))}
      <button type="button" onClick={() => write([...entries, [`key${entries.length + 1}`, ""]])}>Add entry</button>
    </div>
  );
}

function ObjectFields({ schema, value, onChange, path, form, groups = [] }: FieldProps & { groups?: FieldGroup[] }) {
  const object: JsonObject = value && typeof value === "object" && !Array.isArray(value) ? value : {};
  const field = (key: string, placeholder?: string) => {
    const child = schema.properties?.[key];
    if (!child) return null;
    return (
      <SchemaField
        key={key}
        schema={child}
        value={object[key]}
        onChange={(v) => {
          const next = { ...object };
          if (v === undefined) delete next[key];
          else next[key] = v;
          onChange(next);
        }}
        path={`${path}.${key}`}
        label={child.title ?? key}
        required={schema.required?.includes(key)}
        placeholder={placeholder}
        form={form}
      />
    );
  };
  const grouped = new Set(groups.flatMap((g) => g.fields));
  return (
    <>
      {Object.keys(schema.properties ?? {}).filter((key) => !grouped.has(key)).map((key) => field(key))}
      {groups.map((group) => {
        const keys = group.fields.filter((key) => schema.properties?.[key]);
        if (!keys.length) return null;
        const invalid = form.errors.some((e) => keys.some((key) => e.path.startsWith(`${path}.${key}`)));
        return (
          <details key={group.title} className="field-group" open={group.open || invalid} data-group={group.title}>
            <summary>{group.title}</summary>
            {group.hint && <p className="hint">{group.hint}</p>}
            <div className={group.columns === 2 ? "grid-fields" : ""}>{keys.map((key) => field(key, group.placeholder))}</div>
          </details>
        );
      })}
    </>
  );
}

/** Every property's default, and "" for required strings: a new object that the form starts from. */
export function blankObject(schema: JsonSchema, root: JsonSchema): JsonObject {
  const object: JsonObject = {};
  for (const [key, unresolved] of Object.entries(schema.properties ?? {})) {
    const child = resolveSchema(unresolved, root);
    if (child.const !== undefined) object[key] = child.const;
    else if (child.default !== undefined && child.default !== null) object[key] = structuredClone(child.default);
    else if (schema.required?.includes(key) && schemaType(child) === "string") object[key] = "";
  }
  return object;
}

const isNullable = (schema: JsonSchema) => !!schema.anyOf?.some((variant) => variant.type === "null");

export function SchemaField(unresolved: FieldProps) {
  const props = { ...unresolved, schema: resolveSchema(unresolved.schema, unresolved.form.root) };
  const { schema, value, onChange, path, label, required, form } = props;
  const type = schemaType(schema);
  const shownDefault = typeof schema.default === "number" || (typeof schema.default === "string" && schema.default !== "");
  const placeholder = shownDefault ? `${String(schema.default)} (default)` : props.placeholder;
  const name = path;
  const Widget = schema.format ? form.widgets?.[schema.format] : undefined;
  let control;
  if (Widget) {
    control = <Widget {...props} />;
  } else if (type === "object" && schema.properties && isNullable(unresolved.schema)) {
    // An optional section (an agent's memory, say): off is null, on starts from its defaults.
    const on = value !== undefined && value !== null;
    return (
      <fieldset className="object-field" data-path={path}>
        <legend>
          <label className="checkbox-legend">
            <input type="checkbox" name={`${path}.enabled`} checked={on} onChange={(e) => onChange(e.target.checked ? blankObject(schema, form.root) : undefined)} /> {label}
          </label>
        </legend>
        {schema.description && <p className="hint">{schema.description}</p>}
        {on ? <ObjectFields {...props} /> : <p className="hint">Off.</p>}
        <FieldErrors path={path} form={form} />
      </fieldset>
    );
  } else if (schema.enum) {
    control = (
      <select name={name} value={value === undefined || value === null ? String(schema.default ?? "") : String(value)} onChange={(e) => onChange(e.target.value === "" ? undefined : (schema.enum!.find((v) => String(v) === e.target.value) ?? e.target.value))}>
        {!required && <option value="">—</option>}
        {schema.enum.map((option) => <option key={String(option)} value={String(option)}>{String(option)}</option>)}
      </select>
    );
  } else if (type === "string" && schema.format === "model") {
    const names = ["auto", ...form.modelNames.filter((n) => n !== "auto")];
    const current = typeof value === "string" ? value : "auto";
    control = (
      <select name={name} value={current} onChange={(e) => onChange(e.target.value)}>
        {!names.includes(current) && <option value={current}>{current} (not registered)</option>}
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
    );
  } else if (type === "string" && schema.format === "workflow") {
    const current = typeof value === "string" ? value : "";
    control = (
      <select name={name} value={current} onChange={(e) => onChange(e.target.value || undefined)}>
        <option value="">—</option>
        {current && !form.workflows.some((w) => String(w.id) === current) && <option value={current}>{current} (not found)</option>}
        {form.workflows.map((w) => <option key={w.id} value={String(w.id)}>{w.name}</option>)}
      </select>
    );
  } else if (type === "string" && (schema.format === "template" || schema.format === "expression")) {
    control = <TemplateInput name={name} value={typeof value === "string" ? value : ""} onChange={onChange} suggestions={form.suggestions} expression={schema.format === "expression"} />;
  } else if (type === "string") {
    control = <input name={name} value={typeof value === "string" ? value : ""} placeholder={placeholder} onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)} />;
  } else if (type === "number" || type === "integer") {
    control = (
      <input name={name} type="number" step={type === "integer" ? 1 : "any"} min={schema.minimum} max={schema.maximum}
        value={typeof value === "number" ? value : ""} placeholder={placeholder}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} />
    );
  } else if (type === "boolean") {
    control = <input name={name} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
  } else if (type === "array" && schema.items && ["object", "string", "number"].includes(schemaType(resolveSchema(schema.items, form.root)) ?? "")) {
    control = <ArrayField {...props} />;
  } else if (type === "object" && schema.properties) {
    return (
      <fieldset className="object-field">
        {label && <legend>{label}</legend>}
        <ObjectFields {...props} />
        <FieldErrors path={path} form={form} />
      </fieldset>
    );
  } else if (type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    control = <KeyValueField {...props} />;
  } else {
    control = <JsonInput name={name} value={value} onChange={onChange} />;
  }
  return (
    <FieldShell path={path} label={label} required={required} form={form} hint={type === "boolean" || Widget ? undefined : schema.description}>
      {control}
    </FieldShell>
  );
}

/** A field's frame: its label, the control, a hint, and the API's errors for exactly its path. */
export function FieldShell({ path, label, required, hint, form, children }: {
  path: string; label: string; required?: boolean; hint?: string; form: FormContext; children: ReactNode;
}) {
  const invalid = form.errors.some((e) => e.path === path);
  return (
    <div className={`field ${invalid ? "field-invalid" : ""}`} data-path={path}>
      {label && (
        <label className="field-label" title={hint}>
          {label}{required && <span className="required">*</span>}
        </label>
      )}
      {children}
      {hint && <p className="hint">{hint}</p>}
      <FieldErrors path={path} form={form} />
    </div>
  );
}

export function ConfigForm({ schema, config, onChange, form, groups }: { schema: JsonSchema; config: JsonObject; onChange: (config: JsonObject) => void; form: FormContext; groups?: FieldGroup[] }) {
  return (
    <ObjectFields schema={schema} value={config} onChange={(v) => onChange((v ?? {}) as JsonObject)} path="config" label="" form={form} groups={groups} />
  );
}
