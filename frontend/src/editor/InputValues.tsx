// Values for a workflow's input fields, typed as text: the test-run form and a schedule's fixed
// inputs. Each field is drawn after its type and framed with the API's errors for `inputs.<name>`.
import type { ApiError, GraphNode, InputField, JsonObject, JsonValue } from "../types";
import { errorsAt } from "../ui";

export function inputFieldsOf(inputNode: GraphNode | undefined): InputField[] {
  const fields = (inputNode?.config.fields as unknown as InputField[] | undefined) ?? [];
  return fields.filter((f) => f?.name);
}

/** A value as the form shows it: strings as typed, anything else as JSON. */
export function textOf(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function parseField(field: InputField, text: string): JsonValue | undefined {
  if (text === "") return undefined;
  switch (field.type) {
    case "number":
    case "integer":
      return Number(text);
    case "boolean":
      return text === "true";
    case "object":
    case "array":
      return JSON.parse(text);
    default:
      return text;
  }
}

/** The typed texts as inputs (empty fields left out); a field whose JSON does not parse is an error at its path. */
export function parseInputs(fields: InputField[], texts: Record<string, string>): { inputs: JsonObject; errors: ApiError[] } {
  const inputs: JsonObject = {};
  const errors: ApiError[] = [];
  for (const field of fields) {
    try {
      const value = parseField(field, texts[field.name] ?? "");
      if (value !== undefined) inputs[field.name] = value;
    } catch (error) {
      errors.push({ path: `inputs.${field.name}`, message: `Not valid JSON: ${(error as Error).message}` });
    }
  }
  return { inputs, errors };
}

export function InputValues({ fields, texts, onChange, errors = [], namePrefix }: {
  fields: InputField[];
  texts: Record<string, string>;
  onChange: (texts: Record<string, string>) => void;
  errors?: ApiError[]; // paths "inputs.<name>"
  namePrefix: string; // the controls' names: `${namePrefix}.${field}`
}) {
  const set = (name: string, text: string) => onChange({ ...texts, [name]: text });
  return (
    <>
      {fields.map((field) => {
        const mine = errorsAt(errors, `inputs.${field.name}`);
        const name = `${namePrefix}.${field.name}`;
        const text = texts[field.name] ?? "";
        return (
          <div className={`field ${mine.length ? "field-invalid" : ""}`} key={field.name} data-path={`inputs.${field.name}`}>
            <label className="field-label">{field.name}{field.required && <span className="required">*</span>} <span className="muted">{field.type ?? "string"}</span></label>
            {field.type === "boolean" ? (
              <input type="checkbox" name={name} checked={text === "true"} onChange={(e) => set(field.name, String(e.target.checked))} />
            ) : field.type === "object" || field.type === "array" ? (
              <textarea className="mono" name={name} rows={3} value={text} onChange={(e) => set(field.name, e.target.value)} />
            ) : (
              <input name={name} type={field.type === "number" || field.type === "integer" ? "number" : "text"} value={text} onChange={(e) => set(field.name, e.target.value)} />
            )}
            {field.description && <p className="hint">{field.description}</p>}
            {mine.map((e, i) => <p key={i} className="field-error">{e.message}</p>)}
          </div>
        );
      })}
    </>
  );
}
