// One fetch wrapper for the whole app: session cookie, CSRF header, and the API's error format.
import type { ApiError } from "./types";

export class ApiRequestError extends Error {
  status: number;
  errors: ApiError[];

  constructor(status: number, errors: ApiError[]) {
    super(errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("\n") || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function errorsOf(response: Response): Promise<ApiError[]> {
  try {
    const body = await response.json();
    if (Array.isArray(body?.errors)) return body.errors;
    if (typeof body?.detail === "string") return [{ path: "", message: body.detail }];
  } catch {
    // Not JSON (a proxy error page, say): fall through to the status line.
  }
  return [{ path: "", message: `${response.status} ${response.statusText}` }];
}

export async function api<T>(path: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (!response.ok) throw new ApiRequestError(response.status, await errorsOf(response));
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => api<T>(path);
export const post = <T>(path: string, body?: unknown) => api<T>(path, { method: "POST", body: body ?? {} });
export const patch = <T>(path: string, body: unknown) => api<T>(path, { method: "PATCH", body });
export const del = (path: string) => api<void>(path, { method: "DELETE" });

export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function download(filename: string, data: unknown): void {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.click();
  URL.revokeObjectURL(url);
}
