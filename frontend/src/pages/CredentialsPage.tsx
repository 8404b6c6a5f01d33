// Credentials: the workspace's secrets, used in HTTP nodes and tools as {{ credentials.NAME }}. A value
// is typed once (shown back once, so it can be checked) and never read back; owners create, rotate
// and delete, members see the names their workflows may use.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, del, get, post } from "../api";
import type { ApiError, Credential, Member } from "../types";
import { ErrorList, Field, ShownOnce, errorsFrom, formatTime, unclaimed } from "../ui";
import { useDialogs } from "../dialogs";
import { useSession } from "../session";

export function CredentialsPage() {
  const { session } = useSession();
  const dialogs = useDialogs();
  const [credentials, setCredentials] = useState<Credential[] | null>(null);
  const [owner, setOwner] = useState(false);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [saved, setSaved] = useState<{ name: string; value: string } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const reload = useCallback(() => get<Credential[]>("/api/credentials").then(setCredentials, (e) => setErrors(errorsFrom(e))), []);
  useEffect(() => {
    void reload();
    get<Member[]>("/api/members").then(
      (members) => setOwner(members.find((m) => m.user === session?.user.username)?.role === "owner"),
      () => setOwner(false),
    );
  }, [reload, session]);

  async function create(event: FormEvent) {
    event.preventDefault();
    setErrors([]);
    try {
      await post<Credential>("/api/credentials", { name: name.trim(), value });
      setSaved({ name: name.trim(), value });
      setName("");
      setValue("");
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function rotate(credential: Credential) {
    const next = await dialogs.prompt({
      title: `Rotate “${credential.name}”`,
      message: "Every workflow that uses it sends the new value from its next request on.",
      label: "New value",
      confirmLabel: "Rotate",
    });
    if (!next) return;
    setErrors([]);
    try {
      await api<Credential>(`/api/credentials/${encodeURIComponent(credential.name)}`, { method: "PUT", body: { value: next } });
      setSaved({ name: credential.name, value: next });
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function remove(credential: Credential) {
    const message = <>Runs of workflows that use <code>{`{{ credentials.${credential.name} }}`}</code> fail from now on.</>;
    if (!(await dialogs.confirm({ title: `Delete the credential “${credential.name}”?`, message, confirmLabel: "Delete", danger: true }))) return;
    setErrors([]);
    try {
      await del(`/api/credentials/${encodeURIComponent(credential.name)}`);
      if (saved?.name === credential.name) setSaved(null);
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  return (
    <div className="page settings-page">
      <div className="page-head"><h1>Credentials</h1></div>
      <p className="hint page-intro">
        Write <code>{"{{ credentials.NAME }}"}</code> in an HTTP node's or HTTP tool's URL, headers or body. The value is
        stored encrypted, sent only with the request, and shown as <code>[credential NAME]</code> in runs, events and traces.
        {owner ? "" : " Only an owner can add, rotate or delete credentials."}
      </p>
      <section className="card settings-card">
        {owner && (
          <form className="inline-form" onSubmit={create}>
            <Field label="Name" path="name" errors={errors} hint="Lowercase letters, digits and _, e.g. github_token.">
              <input name="credential-name" placeholder="github_token" value={name} maxLength={64} onChange={(e) => setName(e.target.value)} />
            </Field>
            <Field label="Value" path="value" errors={errors} hint="Shown once below so you can check it; never again.">
              <div className="inline-row">
                <input name="credential-value" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
                <button className="primary" type="submit">Add credential</button>
              </div>
            </Field>
          </form>
        )}
        {saved && (
          <ShownOnce title={`Credential “${saved.name}”`} value={saved.value} onDone={() => setSaved(null)} testId="new-credential">
            Stored encrypted. It is not shown again: rotate it to change it.
          </ShownOnce>
        )}
        <ErrorList errors={unclaimed(errors, ["name", "value"])} />
        {credentials === null ? <p className="muted">Loading…</p> : credentials.length === 0 ? <p className="muted">No credentials yet.</p> : (
          <table className="table" data-testid="credentials">
            <thead><tr><th>Name</th><th>Use as</th><th>Created</th><th>Rotated</th><th /></tr></thead>
            <tbody>
              {credentials.map((credential) => (
                <tr key={credential.name} data-credential={credential.name}>
                  <td>{credential.name}</td>
                  <td><code>{`{{ credentials.${credential.name} }}`}</code></td>
                  <td>{formatTime(credential.created_at)}</td>
                  <td>{credential.rotated_at ? formatTime(credential.rotated_at) : <span className="muted">never</span>}</td>
                  <td className="row-actions">
                    {owner && <button className="link" onClick={() => void rotate(credential)}>Rotate</button>}
                    {owner && <button className="link danger" onClick={() => void remove(credential)}>Delete</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
