// A workflow's webhooks: create, copy the URL (shown once, after create and rotate), edit, enable or
// disable, rotate, revoke, and the runs they started.
import { useCallback, useEffect, useState } from "react";
import { get, patch, post } from "../../api";
import type { ApiError, InputField, Webhook, WebhookFields, WebhookWithToken } from "../../types";
import { ErrorList, ShownOnce, StatusBadge, errorsFrom, formatTime } from "../../ui";
import { useDialogs } from "../../dialogs";
import { RecentRuns } from "./RecentRuns";
import { WebhookForm, fieldsOf, newWebhook } from "./WebhookForm";

type Editing = { webhook: Webhook | null }; // null: a new one

const absolute = (url: string) => new URL(url, window.location.origin).toString();

export function Webhooks({ workflowId, inputFields }: { workflowId: string; inputFields: InputField[] }) {
  const dialogs = useDialogs();
  const base = `/api/workflows/${workflowId}/webhooks`;
  const [webhooks, setWebhooks] = useState<Webhook[] | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [shown, setShown] = useState<{ id: string; url: string; rotated: boolean } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);
  const [refresh, setRefresh] = useState(0);

  const reload = useCallback(() => get<Webhook[]>(base).then(setWebhooks, (e) => setErrors(errorsFrom(e))), [base]);
  useEffect(() => {
    void reload();
  }, [reload]);

  async function act(action: () => Promise<void>) {
    setErrors([]);
    setBusy(true);
    try {
      await action();
      await reload();
      setRefresh((n) => n + 1);
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setBusy(false);
    }
  }

  const save = (fields: WebhookFields) => act(async () => {
    if (editing?.webhook) {
      await patch<Webhook>(`${base}/${editing.webhook.id}`, fields);
    } else {
      const created = await post<WebhookWithToken>(base, fields);
      if (created.url) setShown({ id: created.id, url: absolute(created.url), rotated: false });
    }
    setEditing(null);
  });

  async function rotate(webhook: Webhook) {
    const message = "The current URL stops working at once; the new one is shown once.";
    if (!(await dialogs.confirm({ title: `Rotate the URL of “${webhook.name || webhook.token_prefix}”?`, message, confirmLabel: "Rotate" }))) return;
    await act(async () => {
      const rotated = await post<WebhookWithToken>(`${base}/${webhook.id}/rotate`);
      if (rotated.url) setShown({ id: rotated.id, url: absolute(rotated.url), rotated: true });
    });
  }

  async function revoke(webhook: Webhook) {
    const message = "Requests to its URL get 404 from now on. A revoked webhook cannot be turned back on: create a new one instead.";
    if (!(await dialogs.confirm({ title: `Revoke “${webhook.name || webhook.token_prefix}”?`, message, confirmLabel: "Revoke", danger: true }))) return;
    await act(async () => {
      await post<Webhook>(`${base}/${webhook.id}/revoke`);
      if (shown?.id === webhook.id) setShown(null);
    });
  }

  const toggle = (webhook: Webhook) => act(async () => {
    await patch<Webhook>(`${base}/${webhook.id}`, { enabled: !webhook.enabled });
  });

  return (
    <section className="trigger-section" data-testid="webhooks">
      <div className="panel-head">
        <h3>Webhooks</h3>
        {!editing && <button onClick={() => { setErrors([]); setEditing({ webhook: null }); }}>New webhook</button>}
      </div>
      <p className="hint">A URL that starts the live version: the token in it is the secret, so no API key is needed.</p>
      {editing && (
        <WebhookForm
          key={editing.webhook?.id ?? "new"}
          initial={editing.webhook ? fieldsOf(editing.webhook) : newWebhook}
          hasSecret={editing.webhook?.has_secret ?? false}
          inputFields={inputFields}
          errors={errors}
          busy={busy}
          onSubmit={(fields) => void save(fields)}
          onCancel={() => { setEditing(null); setErrors([]); }}
        />
      )}
      {shown && (
        <ShownOnce title={shown.rotated ? "The new webhook URL" : "The webhook URL"} value={shown.url} onDone={() => setShown(null)} testId="webhook-url">
          Send a POST with a JSON body or a form; rotate to get a new URL.
        </ShownOnce>
      )}
      {!editing && <ErrorList errors={errors} />}
      {webhooks?.length === 0 && !editing && <p className="muted">No webhooks yet.</p>}
      <ul className="trigger-list">
        {(webhooks ?? []).map((webhook) => (
          <WebhookItem key={webhook.id} webhook={webhook} busy={busy}
            onEdit={() => { setErrors([]); setEditing({ webhook }); }}
            onToggle={() => void toggle(webhook)} onRotate={() => void rotate(webhook)} onRevoke={() => void revoke(webhook)} />
        ))}
      </ul>
      <RecentRuns workflowId={workflowId} trigger="webhook" refresh={refresh} />
    </section>
  );
}

function WebhookItem({ webhook, busy, onEdit, onToggle, onRotate, onRevoke }: {
  webhook: Webhook; busy: boolean; onEdit: () => void; onToggle: () => void; onRotate: () => void; onRevoke: () => void;
}) {
  const state = webhook.revoked_at ? "revoked" : webhook.enabled ? "enabled" : "disabled";
  const facts = [
    webhook.response_mode === "sync" ? `waits ≤${webhook.wait_s} s for outputs` : "answers at once",
    webhook.rate_limit_per_minute ? `${webhook.rate_limit_per_minute}/min` : "no rate limit",
    webhook.has_secret ? "signed" : "unsigned",
    ...(webhook.callback_url ? ["callback"] : []),
  ];
  const mapped = Object.entries(webhook.input_mapping);
  return (
    <li className={`trigger-item trigger-${state}`} data-webhook-id={webhook.id} data-state={state}>
      <div className="trigger-head">
        <b>{webhook.name || "Unnamed webhook"}</b>
        <span className={`badge trigger-state-${state}`}>{state}</span>
      </div>
      <code className="trigger-url" title="The rest of the token is shown once, at creation and rotation">POST /hooks/{webhook.token_prefix}…</code>
      <div className="trigger-facts">{facts.join(" · ")}</div>
      {mapped.length > 0 && <div className="trigger-facts">{mapped.map(([name, path]) => `${name} ← ${path}`).join(", ")}</div>}
      {webhook.revoked_at ? (
        <div className="trigger-facts">Revoked {formatTime(webhook.revoked_at)}</div>
      ) : (
        <div className="trigger-actions">
          <button className="link" onClick={onEdit} disabled={busy}>Edit</button>
          <button className="link" onClick={onToggle} disabled={busy}>{webhook.enabled ? "Disable" : "Enable"}</button>
          <button className="link" onClick={onRotate} disabled={busy}>Rotate URL</button>
          <button className="link danger" onClick={onRevoke} disabled={busy}>Revoke</button>
        </div>
      )}
      {webhook.recent_calls && webhook.recent_calls.length > 0 && (
        <ul className="webhook-calls">
          {webhook.recent_calls.map((call, i) => (
            <li key={i}><StatusBadge status={call.status_code < 300 ? "ok" : "failed"} /> {call.status_code} <span className="muted">{formatTime(call.at)}</span> {call.error && <span className="error">{call.error}</span>}</li>
          ))}
        </ul>
      )}
    </li>
  );
}
