// The two fields of an HTTP tool that a generated form draws badly: the parameters (a JSON Schema,
// edited as JSON text and checked as you type) and the body (none, a text template, or JSON).
import { useEffect, useRef, useState } from "react";
import type { JsonValue } from "../../types";
import { FieldShell, TemplateInput, type FieldProps } from "../ConfigForm";
import { describeArguments, parametersProblem } from "./toolEntries";

const EXAMPLE_PARAMETERS = { type: "object", properties: { order_id: { type: "string", description: "The order's id" } }, required: ["order_id"] };
const pretty = (value: JsonValue | undefined) => JSON.stringify(value ?? {}, null, 2);

/** Text that follows the stored value when it changes from outside (undo, reorder), not while typed. */
function useDraftText(value: JsonValue | undefined, format: (value: JsonValue | undefined) => string) {
  const [text, setText] = useState(() => format(value));
  const emitted = useRef(JSON.stringify(value ?? null));
  const current = JSON.stringify(value ?? null);
  useEffect(() => {
    if (current !== emitted.current) {
      emitted.current = current;
      setText(format(value));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `current` is `value` as text: a new object with the same content must not reset the draft
  }, [current]);
  const emit = (next: JsonValue | undefined) => {
    emitted.current = JSON.stringify(next ?? null);
  };
  return { text, setText, emit };
}

export function ParametersField({ value, onChange, path, label, form }: FieldProps) {
  const draft = useDraftText(value, pretty);
  const [problem, setProblem] = useState<string | null>(null);

  function edit(text: string) {
    draft.setText(text);
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(text) as JsonValue;
    } catch (error) {
      setProblem(`Not valid JSON: ${(error as Error).message}`);
      return;
    }
    const wrong = parametersProblem(parsed);
    setProblem(wrong);
    if (wrong === null) {
      draft.emit(parsed);
      onChange(parsed);
    }
  }

  const args = describeArguments(value);
  return (
    <FieldShell path={path} label={label} form={form} hint="A JSON Schema of the arguments the model sends; the URL, headers and body see them as args.<name>.">
      <textarea name={path} className={`mono ${problem ? "text-invalid" : ""}`} rows={Math.min(14, Math.max(4, draft.text.split("\n").length))}
        spellCheck={false} value={draft.text} onChange={(e) => edit(e.target.value)} />
      {problem ? <p className="field-error" data-testid="parameters-problem">{problem} <span className="muted">(not saved until it is fixed)</span></p>
        : <p className="hint">{args.length ? `Arguments: ${args.join(", ")}` : "No arguments."}</p>}
      {!args.length && !problem && (
        <button type="button" className="link" onClick={() => edit(pretty(EXAMPLE_PARAMETERS))}>Start from an example</button>
      )}
    </FieldShell>
  );
}

type BodyMode = "none" | "text" | "json";
const modeOf = (value: JsonValue | undefined): BodyMode => (value === null || value === undefined ? "none" : typeof value === "string" ? "text" : "json");

export function BodyField({ value, onChange, path, label, form }: FieldProps) {
  const [mode, setMode] = useState<BodyMode>(modeOf(value));
  const draft = useDraftText(value, (v) => (modeOf(v) === "json" ? JSON.stringify(v, null, 2) : "{}"));
  const [problem, setProblem] = useState("");
  const valueMode = modeOf(value);
  useEffect(() => setMode(valueMode), [valueMode]);

  function switchTo(next: BodyMode) {
    setMode(next);
    setProblem("");
    if (next === "none") onChange(null);
    else if (next === "text") onChange(typeof value === "string" ? value : "");
    else editJson(draft.text);
  }

  function editJson(text: string) {
    draft.setText(text);
    try {
      const parsed = JSON.parse(text) as JsonValue;
      if (parsed === null || typeof parsed !== "object") throw new Error("a JSON body is an object or a list");
      setProblem("");
      draft.emit(parsed);
      onChange(parsed);
    } catch (error) {
      setProblem(`Not valid JSON: ${(error as Error).message}`);
    }
  }

  return (
    <FieldShell path={path} label={label} form={form}>
      <div className="segmented" role="radiogroup" aria-label="Body">
        {(["none", "text", "json"] as const).map((option) => (
          <label key={option} className={mode === option ? "active" : ""}>
            <input type="radio" name={`${path}.mode`} value={option} checked={mode === option} onChange={() => switchTo(option)} />
            {option === "none" ? "None" : option === "text" ? "Text" : "JSON"}
          </label>
        ))}
      </div>
      {mode === "text" && <TemplateInput name={path} value={typeof value === "string" ? value : ""} onChange={onChange} suggestions={form.suggestions} />}
      {mode === "json" && (
        <>
          <textarea name={path} className={`mono ${problem ? "text-invalid" : ""}`} rows={5} spellCheck={false} value={draft.text} onChange={(e) => editJson(e.target.value)} />
          {problem ? <p className="field-error">{problem}</p> : <p className="hint">Strings inside are templates, e.g. {"\"{{ args.order_id }}\""}.</p>}
        </>
      )}
    </FieldShell>
  );
}
