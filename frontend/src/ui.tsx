// Small presentational pieces shared by every page.
import { useEffect, useState, type ReactNode } from "react";
import type { ApiError, JsonValue } from "./types";

export function StatusBadge({ status }: { status: string | null | undefined }) {
  if (!status) return <span className="muted">—</span>;
  return <span className={`badge status-${status}`}>{status}</span>;
}

export function formatTime(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "—";
}

export function formatCost(value: number | string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  return `$${Number(value).toFixed(6)}`;
}

export function formatNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : value.toLocaleString();
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/**
 * JSON for reading: on one line when that is short, else indented. A string is parsed first when
 * it is JSON text (a model's arguments, a tool's text result), and shown as written when it is not.
 */
export function prettyJson(value: JsonValue | undefined, inlineUpTo = 60): string {
  let parsed: JsonValue | undefined = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value) as JsonValue;
    } catch {
      return value;
    }
  }
  const inline = JSON.stringify(parsed ?? null);
  return inline.length <= inlineUpTo ? inline : JSON.stringify(parsed ?? null, null, 2);
}

/** Preformatted text cut to `limit` characters, with a button to show the rest. */
export function ClippedText({ text, limit = 600, className = "" }: { text: string; limit?: number; className?: string }) {
  const [whole, setWhole] = useState(false);
  const long = text.length > limit;
  return (
    <div className="clipped">
      <pre className={`json ${className}`}>{long && !whole ? `${text.slice(0, limit)}…` : text}</pre>
      {long && (
        <button type="button" className="link" onClick={() => setWhole(!whole)}>
          {whole ? "Show less" : `Show all ${text.length.toLocaleString()} characters`}
        </button>
      )}
    </div>
  );
}

export function JsonView({ value }: { value: JsonValue | undefined }) {
  if (value === null || value === undefined || value === "") return <span className="muted">—</span>;
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return <pre className="json">{text}</pre>;
}

export function ErrorList({ errors }: { errors: ApiError[] }) {
  if (errors.length === 0) return null;
  return (
    <ul className="error-list" role="alert">
      {errors.map((error, i) => (
        <li key={i}>
          {error.path && <code>{error.path}</code>} {error.message}
        </li>
      ))}
    </ul>
  );
}

export function errorsFrom(error: unknown): ApiError[] {
  if (error && typeof error === "object" && "errors" in error && Array.isArray(error.errors)) return error.errors as ApiError[];
  return [{ path: "", message: String(error) }];
}

/** Previous/next for the API's cursor pages: follows the cursors in its next/previous links. */
export function Pager({ page, onCursor, noun }: { page: { count: number; next: string | null; previous: string | null }; onCursor: (cursor: string) => void; noun: string }) {
  // The API pages with opaque cursors (newest first, stable while new rows arrive).
  const cursorOf = (link: string) => new URL(link, window.location.origin).searchParams.get("cursor") ?? "";
  return (
    <div className="pager">
      <span className="muted">{page.count} {noun}</span>
      <button disabled={!page.previous} onClick={() => page.previous && onCursor(cursorOf(page.previous))}>Previous</button>
      <button disabled={!page.next} onClick={() => page.next && onCursor(cursorOf(page.next))}>Next</button>
    </div>
  );
}

/** The errors of exactly one field, by the API's path ("cron", "input_mapping", "inputs.topic"). */
export function errorsAt(errors: ApiError[], path: string): ApiError[] {
  return errors.filter((e) => e.path === path);
}

/** The errors no field of a form claims (the form lists them above its buttons). */
export function unclaimed(errors: ApiError[], paths: string[]): ApiError[] {
  return errors.filter((e) => !paths.includes(e.path));
}

/** A labelled control of a flat form, framed red with the API's messages for its path. */
export function Field({ label, path, errors, hint, children }: { label: string; path: string; errors: ApiError[]; hint?: ReactNode; children: ReactNode }) {
  const mine = errorsAt(errors, path);
  return (
    <div className={`field ${mine.length ? "field-invalid" : ""}`} data-path={path}>
      <label className="field-label">{label}</label>
      {children}
      {hint && <p className="hint">{hint}</p>}
      {mine.map((e, i) => <p key={i} className="field-error">{e.message}</p>)}
    </div>
  );
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard permission (an insecure origin, say): copy through a selected textarea.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = window.setTimeout(() => setCopied(false), 1500);
    return () => window.clearTimeout(timer);
  }, [copied]);
  return (
    <button type="button" className="copy-button" onClick={() => void copyText(text).then(() => setCopied(true))}>
      {copied ? "Copied ✓" : label}
    </button>
  );
}

/** A secret the server sends once (an API key, a webhook URL): shown with a copy button until dismissed. */
export function ShownOnce({ title, value, children, onDone, testId }: { title: string; value: string; children?: ReactNode; onDone: () => void; testId?: string }) {
  return (
    <div className="shown-once" role="status" data-testid={testId}>
      <b>{title}</b>
      <div className="shown-once-value">
        <code className="shown-once-text" data-testid="shown-value">{value}</code>
        <CopyButton text={value} />
      </div>
      <p className="hint"><b>Copy it now: you will not see it again.</b> {children}</p>
      <button type="button" className="link" onClick={onDone}>Done, I have copied it</button>
    </div>
  );
}
