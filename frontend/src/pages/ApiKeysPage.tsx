// API keys (each shown once, when created) and the workspace's members. An owner sees and revokes
// every key of the workspace and may remove members; a member sees and revokes their own keys.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { del, get, post } from "../api";
import type { ApiError, ApiKey, Member, NewApiKey } from "../types";
import { ErrorList, Field, ShownOnce, errorsFrom, formatTime, unclaimed } from "../ui";
import { useDialogs } from "../dialogs";
import { useSession } from "../session";

export function ApiKeysPage() {
  const { session } = useSession();
  const [members, setMembers] = useState<Member[] | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const reloadMembers = useCallback(() => get<Member[]>("/api/members").then(setMembers, (e) => setErrors(errorsFrom(e))), []);
  useEffect(() => {
    void reloadMembers();
  }, [reloadMembers]);
  const me = session?.user.username ?? "";
  const owner = members?.find((m) => m.user === me)?.role === "owner";

  return (
    <div className="page settings-page">
      <div className="page-head"><h1>API keys</h1></div>
      <p className="hint page-intro">
        A key lets a program call the API as you: send it as <code>Authorization: Bearer &lt;key&gt;</code>.
        {owner ? " As an owner you see every key of the workspace." : " You see your own keys; an owner sees everyone's."}
      </p>
      <ApiKeys showOwner={owner} />
      <h2 className="section-title">Members</h2>
      <ErrorList errors={errors} />
      {members && <MemberTable members={members} me={me} owner={owner} onChanged={() => void reloadMembers()} />}
    </div>
  );
}

function ApiKeys({ showOwner }: { showOwner: boolean }) {
  const dialogs = useDialogs();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const reload = useCallback(() => get<ApiKey[]>("/api/api-keys").then(setKeys, (e) => setErrors(errorsFrom(e))), []);
  useEffect(() => {
    void reload();
  }, [reload]);

  async function create(event: FormEvent) {
    event.preventDefault();
    setErrors([]);
    try {
      setCreated(await post<NewApiKey>("/api/api-keys", { name: name.trim() }));
      setName("");
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function revoke(key: ApiKey) {
    const message = <>Programs that use <code>{key.prefix}…</code> get 401 from now on. This cannot be undone.</>;
    if (!(await dialogs.confirm({ title: `Revoke the key “${key.name || key.prefix}”?`, message, confirmLabel: "Revoke", danger: true }))) return;
    setErrors([]);
    try {
      await post<ApiKey>(`/api/api-keys/${key.id}/revoke`);
      if (created?.id === key.id) setCreated(null);
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  return (
    <section className="card settings-card">
      <form className="inline-form" onSubmit={create}>
        <Field label="New key" path="name" errors={errors} hint="A name says where the key is used, e.g. “CI deploys” or “Zapier”.">
          <div className="inline-row">
            <input name="key-name" placeholder="Name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
            <button className="primary" type="submit">Create key</button>
          </div>
        </Field>
      </form>
      {created && (
        <ShownOnce title={`Key “${created.name || created.prefix}”`} value={created.key} onDone={() => setCreated(null)} testId="new-key">
          Only a hash of it is stored. If it is lost, revoke it and create another.
        </ShownOnce>
      )}
      <ErrorList errors={unclaimed(errors, ["name"])} />
      {keys === null ? <p className="muted">Loading…</p> : keys.length === 0 ? <p className="muted">No keys yet.</p> : (
        <table className="table" data-testid="api-keys">
          <thead>
            <tr><th>Name</th><th>Key</th>{showOwner && <th>Member</th>}<th>Created</th><th>Last used</th><th>Status</th><th /></tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key.id} data-key-id={key.id} className={key.revoked_at ? "revoked" : ""}>
                <td>{key.name || <span className="muted">unnamed</span>}</td>
                <td><code>{key.prefix}…</code></td>
                {showOwner && <td>{key.user}</td>}
                <td>{formatTime(key.created_at)}</td>
                <td>{key.last_used_at ? formatTime(key.last_used_at) : <span className="muted">never</span>}</td>
                <td>{key.revoked_at ? <span className="badge status-failed" title={formatTime(key.revoked_at)}>revoked</span> : <span className="badge status-ok">active</span>}</td>
                <td className="row-actions">{!key.revoked_at && <button className="link danger" onClick={() => void revoke(key)}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function MemberTable({ members, me, owner, onChanged }: { members: Member[]; me: string; owner: boolean; onChanged: () => void }) {
  const dialogs = useDialogs();
  const [errors, setErrors] = useState<ApiError[]>([]);

  async function remove(member: Member) {
    const message = "They lose access to this workspace at once, and their API keys for it are revoked.";
    if (!(await dialogs.confirm({ title: `Remove ${member.user} from the workspace?`, message, confirmLabel: "Remove", danger: true }))) return;
    setErrors([]);
    try {
      await del(`/api/members/${encodeURIComponent(member.user)}`);
      onChanged();
    } catch (error) {
      setErrors(errorsFrom(error)); // 403 for a non-owner, 409 for the last owner: the API says why
    }
  }

  return (
    <section className="card settings-card">
      <ErrorList errors={errors} />
      <table className="table" data-testid="members">
        <thead><tr><th>Member</th><th>Role</th><th>Joined</th><th /></tr></thead>
        <tbody>
          {members.map((member) => (
            <tr key={member.user} data-member={member.user}>
              <td>{member.user}{member.user === me && <span className="muted"> (you)</span>}</td>
              <td><span className={`badge ${member.role === "owner" ? "role-owner" : ""}`}>{member.role}</span></td>
              <td>{formatTime(member.joined_at)}</td>
              <td className="row-actions">
                {member.user !== me && (
                  <button className="link danger" onClick={() => void remove(member)} disabled={!owner} title={owner ? undefined : "Only an owner can remove members"}>Remove</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!owner && <p className="hint">Only an owner can remove members.</p>}
    </section>
  );
}
