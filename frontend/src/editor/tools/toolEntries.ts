// An agent's `tools` entries as the tool picker sees them: which kinds the schema offers, what an
// entry is, how to label it, and which API errors belong to which entry and field.
import type { ApiError, JsonObject, JsonSchema, JsonValue, McpServer, ToolKind, ToolSpec } from "../../types";
import { blankObject, resolveSchema } from "../ConfigForm";

export const KIND_LABELS: Record<ToolKind, string> = { workflow: "Workflow", http: "HTTP request", mcp: "MCP server" };

/** The schema of each kind of entry, from the field's `items` (a `oneOf` told apart by `kind`). */
export function toolVariants(field: JsonSchema, root: JsonSchema): Partial<Record<ToolKind, JsonSchema>> {
  const variants: Partial<Record<ToolKind, JsonSchema>> = {};
  for (const option of field.items?.oneOf ?? field.items?.anyOf ?? []) {
    const resolved = resolveSchema(option, root);
    const kind = resolved.properties?.kind?.const ?? resolved.properties?.kind?.enum?.[0];
    if (kind === "workflow" || kind === "http" || kind === "mcp") variants[kind] = resolved;
  }
  return variants;
}

const isObject = (value: JsonValue | undefined): value is JsonObject => !!value && typeof value === "object" && !Array.isArray(value);

/** The entry as a tool spec when its kind is one we know; anything else is shown as it is, never parsed. */
export function asToolSpec(entry: JsonValue, variants: Partial<Record<ToolKind, JsonSchema>>): ToolSpec | null {
  if (!isObject(entry) || typeof entry.kind !== "string" || !(entry.kind in variants)) return null;
  return entry as unknown as ToolSpec;
}

export function newEntry(kind: ToolKind, variant: JsonSchema, root: JsonSchema, taken: JsonValue[]): JsonObject {
  const entry: JsonObject = { ...blankObject(variant, root), kind };
  if (kind === "http") {
    const names = new Set(taken.map((t) => (isObject(t) ? t.name : null)));
    let n = 1;
    while (names.has(`http_tool_${n}`)) n += 1;
    entry.name = `http_tool_${n}`;
  }
  return entry;
}

/** One line that says what an entry offers the model. */
export function entrySummary(spec: ToolSpec, workflows: { id: string | number; name: string }[], servers: McpServer[] | null): string {
  switch (spec.kind) {
    case "workflow": {
      const workflow = workflows.find((w) => String(w.id) === spec.workflow);
      const what = workflow?.name ?? (spec.workflow ? `workflow ${spec.workflow}` : "no workflow picked");
      return spec.name ? `${what} as ${spec.name}` : what;
    }
    case "http":
      return `${spec.method ?? "GET"} ${spec.name || "unnamed"}`;
    case "mcp": {
      if (!spec.server) return "no server picked";
      const known = servers?.find((s) => s.name === spec.server)?.tools.length;
      const picked = Array.isArray(spec.tools) && spec.tools.length ? `${spec.tools.length} of ${known ?? "its"} tools` : "all tools";
      return `${spec.server} · ${picked}`;
    }
  }
}

/** What the canvas shows for an entry: a short name. */
export function entryChip(entry: JsonValue, workflowNames: Map<string, string>): string {
  if (!isObject(entry)) return "?";
  if (entry.kind === "workflow") return String(entry.name || workflowNames.get(String(entry.workflow)) || "workflow");
  if (entry.kind === "http") return String(entry.name || "http");
  if (entry.kind === "mcp") {
    const tools = Array.isArray(entry.tools) && entry.tools.length ? ` (${entry.tools.length})` : "";
    return `${String(entry.server || "mcp")}${tools}`;
  }
  return "?";
}

/**
 * Errors with paths made to match the form's fields: pydantic reports a field of a `kind`-tagged
 * entry as `tools[0].http.name`; the form's field is `tools[0].name`.
 */
export function normalizeToolErrors(errors: ApiError[], path: string, entries: JsonValue[]): ApiError[] {
  const prefix = new RegExp(`^${path.replace(/[.[\]]/g, "\\$&")}\\[(\\d+)\\]\\.(workflow|http|mcp)\\.(.+)$`);
  return errors.map((error) => {
    const match = error.path.match(prefix);
    if (!match) return error;
    const entry = entries[Number(match[1])];
    return isObject(entry) && entry.kind === match[2] ? { ...error, path: `${path}[${match[1]}].${match[3]}` } : error;
  });
}

/** An entry's errors that no field of its form shows (a wrong kind, say). */
export function entryLevelErrors(errors: ApiError[], entryPath: string, fields: string[]): ApiError[] {
  return errors.filter((e) => (e.path === entryPath || e.path.startsWith(`${entryPath}.`) || e.path.startsWith(`${entryPath}[`))
    && !fields.some((field) => e.path === `${entryPath}.${field}` || e.path.startsWith(`${entryPath}.${field}.`) || e.path.startsWith(`${entryPath}.${field}[`)));
}

/** Argument names of an HTTP tool's parameters schema, for its URL's suggestions (args.<name>). */
export function argumentNames(parameters: JsonValue | undefined): string[] {
  return isObject(parameters) && isObject(parameters.properties) ? Object.keys(parameters.properties) : [];
}

/** Why a value is not usable as an HTTP tool's parameters (a JSON Schema of type object), or null. */
export function parametersProblem(value: JsonValue): string | null {
  if (!isObject(value)) return 'The parameters are a JSON Schema object, e.g. {"type": "object", "properties": {…}}.';
  if (value.type !== "object") return 'A tool\'s parameters are a JSON Schema of "type": "object".';
  const properties = value.properties ?? {};
  if (!isObject(properties)) return '"properties" is an object that maps each argument\'s name to its schema.';
  const notSchema = Object.keys(properties).find((key) => !isObject(properties[key]));
  if (notSchema) return `"properties.${notSchema}" is not a schema object (e.g. {"type": "string"}).`;
  const required = value.required ?? [];
  if (!Array.isArray(required) || required.some((name) => typeof name !== "string")) return '"required" is a list of argument names.';
  const unknown = required.find((name) => typeof name === "string" && !(name in properties));
  if (unknown !== undefined) return `"required" names "${String(unknown)}", which is not in "properties".`;
  return null;
}

/** "order_id (string, required)" for each argument, for the parameters editor's summary. */
export function describeArguments(parameters: JsonValue | undefined): string[] {
  if (!isObject(parameters) || !isObject(parameters.properties)) return [];
  const required = Array.isArray(parameters.required) ? parameters.required : [];
  return Object.entries(parameters.properties).map(([name, schema]) => {
    const type = isObject(schema) && typeof schema.type === "string" ? schema.type : "any";
    return `${name} (${type}${required.includes(name) ? ", required" : ""})`;
  });
}
