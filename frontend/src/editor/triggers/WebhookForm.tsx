// Create or edit a webhook: input mapping, response mode, secret, rate limit, callback, enabled.
import { useState, type FormEvent } from "react";
import type { ApiError, InputField, ResponseMode, Webhook, WebhookFields } from "../../types";
import { ErrorList, Field, unclaimed } from "../../ui";

const FIELD_PATHS = ["name", "input_mapping", "response_mode", "wait_s", "secret", "rate_limit_per_minute", "callback_url"];

export const newWebhook: WebhookFields = {
  name: "", input_mapping: {}, response_mode: "async", wait_s: 30, rate_limit_per_minute: 60, callback_url: null, enabled: true,
};

export function fieldsOf(webhook: Webhook): WebhookFields {
  const { name, input_mapping, response_mode, wait_s, rate_limit_per_minute, callback_url, enabled } = webhook;
  return { name, input_mapping, response_mode, wait_s, rate_limit_per_minute, callback_url, enabled };
}

export function WebhookForm({ initial, hasSecret, inputFields, errors, busy, onSubmit, onCancel }: {
  initial: WebhookFields;
  hasSecret: boolean; // editing one that has a secret: an empty field keeps it
  inputFields: InputField[];
  errors: ApiError[];
  busy: boolean;
  onSubmit: (fields: WebhookFields) => void;
  onCancel: () => void;
}) {
  const [fields, setFields] = useState(initial);
  const [secret, setSecret] = useState("");
  const [removeSecret, setRemoveSecret] = useState(false);
  const set = (patch: Partial<WebhookFields>) => setFields((old) => ({ ...old, ...patch }));
  // Mapped names the input node no longer has stay visible, so they can be cleared.
  const names = [...new Set([...inputFields.map((f) => f.name), ...Object.keys(fields.input_mapping)])];

  function mapInput(name: string, path: string) {
    const mapping = { ...fields.input_mapping };
    if (path.trim()) mapping[name] = path.trim();
    else delete mapping[name];
    set({ input_mapping: mapping });
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    const body: WebhookFields = { ...fields, callback_url: fields.callback_url?.trim() || null };
    if (removeSecret) body.secret = "";
    else if (secret) body.secret = secret;
    onSubmit(body);
  }

  return (
    <form className="trigger-form" onSubmit={submit} data-testid="webhook-form">
      <Field label="Name" path="name" errors={errors}>
        <input name="webhook.name" value={fields.name} placeholder="e.g. GitHub issues" onChange={(e) => set({ name: e.target.value })} />
      </Field>
      <Field label="Inputs from the request" path="input_mapping" errors={errors}
        hint={<>Where each input comes from: <code>body.a.b</code>, <code>query.name</code> or <code>body</code>. Empty: the body field of the same name, else the query parameter.</>}>
        {names.length === 0 ? <p className="muted">The workflow has no input fields.</p> : (
          <div className="mapping-rows">
            {names.map((name) => (
              <label key={name} className="mapping-row">
                <code>{name}</code>
                <span className="muted">←</span>
                <input name={`webhook.input_mapping.${name}`} value={fields.input_mapping[name] ?? ""} placeholder={`body.${name}`} onChange={(e) => mapInput(name, e.target.value)} />
              </label>
            ))}
          </div>
        )}
      </Field>
      <Field label="Response" path="response_mode" errors={errors}
        hint={fields.response_mode === "sync" ? "The request waits for the run and answers its outputs (202 if it is still going)." : "202 with the run id at once; the run goes on."}>
        <div className="segmented" role="radiogroup">
          {(["async", "sync"] as ResponseMode[]).map((mode) => (
            <label key={mode} className={fields.response_mode === mode ? "active" : ""}>
              <input type="radio" name="webhook.response_mode" value={mode} checked={fields.response_mode === mode} onChange={() => set({ response_mode: mode })} />
              {mode === "async" ? "Answer at once" : "Wait for outputs"}
            </label>
          ))}
        </div>
      </Field>
      <div className="grid-fields">
        {fields.response_mode === "sync" && (
          <Field label="Wait at most (s)" path="wait_s" errors={errors}>
            <input name="webhook.wait_s" type="number" min={1} max={300} step="any" value={fields.wait_s} onChange={(e) => set({ wait_s: Number(e.target.value) })} />
          </Field>
        )}
        <Field label="Requests per minute" path="rate_limit_per_minute" errors={errors} hint="0: no limit">
          <input name="webhook.rate_limit_per_minute" type="number" min={0} step={1} value={fields.rate_limit_per_minute} onChange={(e) => set({ rate_limit_per_minute: Number(e.target.value) })} />
        </Field>
      </div>
      <Field label="Signing secret" path="secret" errors={errors}
        hint={<>When set, requests must carry <code>X-Orchestra-Signature: sha256=&lt;HMAC of the body&gt;</code> (GitHub's <code>X-Hub-Signature-256</code> works too).</>}>
        <input name="webhook.secret" type="password" autoComplete="new-password" value={secret} disabled={removeSecret}
          placeholder={hasSecret ? "stored — type to replace" : "none"} onChange={(e) => setSecret(e.target.value)} />
        {hasSecret && (
          <label className="checkbox-line"><input type="checkbox" checked={removeSecret} onChange={(e) => setRemoveSecret(e.target.checked)} /> Remove the secret</label>
        )}
      </Field>
      <Field label="Callback URL" path="callback_url" errors={errors} hint="The finished run is POSTed there, signed with the workspace's signing secret.">
        <input name="webhook.callback_url" value={fields.callback_url ?? ""} placeholder="https://…" onChange={(e) => set({ callback_url: e.target.value })} />
      </Field>
      <label className="checkbox-line" data-path="enabled">
        <input type="checkbox" name="webhook.enabled" checked={fields.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> Enabled
      </label>
      <ErrorList errors={unclaimed(errors, FIELD_PATHS)} />
      <div className="button-row">
        <button className="primary" type="submit" disabled={busy}>{busy ? "Saving…" : "Save webhook"}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
