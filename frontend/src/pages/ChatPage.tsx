// Chat with a workflow whose input node has a `message` field: conversations, streamed replies
// (Server-Sent Events from POST /api/workflows/{id}/chat), and under each reply which model
// answered each LLM step and what it cost.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiRequestError, get } from "../api";
import type { ApiError, Conversation, ConversationDetail, ConversationPage, JsonObject, Run, Workflow } from "../types";
import { ErrorList, errorsFrom, formatCost } from "../ui";

function chatCapable(workflow: Workflow): boolean {
  const input = workflow.graph.nodes.find((n) => n.type === "input");
  const fields = (input?.config.fields as JsonObject[] | undefined) ?? [];
  return fields.some((f) => f.name === "message");
}

function csrfToken(): string {
  return decodeURIComponent(document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] ?? "");
}

/** POST a chat turn and hand each streamed token to `onToken`; returns the conversation id. */
async function sendTurn(workflowId: string, body: JsonObject, onToken: (text: string) => void): Promise<string | null> {
  const response = await fetch(`/api/workflows/${workflowId}/chat`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream, application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!response.ok) {
    const payload = await response.json().catch(() => ({}));
    throw new ApiRequestError(response.status, payload.errors ?? [{ path: "", message: `${response.status} ${response.statusText}` }]);
  }
  let conversationId: string | null = null;
  const remember = (data: JsonObject) => {
    const id = data.conversation_id ?? (data.conversation as JsonObject | undefined)?.id;
    if (id !== undefined && id !== null) conversationId = String(id);
  };
  if (!response.headers.get("Content-Type")?.includes("text/event-stream")) {
    remember(await response.json());
    return conversationId;
  }
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const frames = buffer.split("\n\n");
    buffer = frames.pop() ?? "";
    for (const frame of frames) {
      const name = frame.match(/^event: ?(.*)$/m)?.[1];
      const raw = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, "")).join("\n");
      if (!raw) continue;
      let data: JsonObject;
      try {
        data = JSON.parse(raw);
      } catch {
        continue; // e.g. a "[DONE]" terminator
      }
      remember(data);
      if (name === "token" || data.type === "token") onToken(String(data.text ?? (data.data as JsonObject | undefined)?.text ?? ""));
      if (name === "error" || data.type === "error") throw new ApiRequestError(500, [{ path: "", message: String(data.message ?? data.error ?? "the run failed") }]);
    }
  }
  return conversationId;
}

function StepCosts({ runId }: { runId: string | number }) {
  const [run, setRun] = useState<Run | null>(null);
  useEffect(() => {
    get<Run>(`/api/runs/${runId}`).then(setRun, () => setRun(null));
  }, [runId]);
  const steps = run?.nodes.filter((n) => n.model) ?? [];
  if (!steps.length) return null;
  return (
    <div className="step-costs">
      {steps.map((n) => (
        <span key={n.node_id}><code>{n.node_id}</code> {n.model} · {(n.tokens_in ?? 0) + (n.tokens_out ?? 0)} tokens · {formatCost(n.cost)}</span>
      ))}
    </div>
  );
}

export function ChatPage() {
  const [workflows, setWorkflows] = useState<Workflow[]>([]);
  const [workflowId, setWorkflowId] = useState("");
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [open, setOpen] = useState<ConversationDetail | null>(null);
  const [draft, setDraft] = useState("");
  const [pending, setPending] = useState<{ message: string; reply: string } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => {
    get<Workflow[]>("/api/workflows").then((all) => {
      const capable = all.filter(chatCapable);
      setWorkflows(capable);
      if (capable[0]) setWorkflowId(String(capable[0].id));
    }, (e) => setErrors(errorsFrom(e)));
  }, []);

  async function loadConversations(id: string) {
    try {
      setConversations((await get<ConversationPage>(`/api/conversations?workflow=${id}`)).results);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  useEffect(() => {
    setOpen(null);
    if (workflowId) void loadConversations(workflowId);
  }, [workflowId]);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [open, pending]);

  async function openConversation(id: string | number) {
    try {
      setOpen(await get<ConversationDetail>(`/api/conversations/${id}`));
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    const message = draft.trim();
    if (!message || pending) return;
    setDraft("");
    setErrors([]);
    setPending({ message, reply: "" });
    try {
      const body: JsonObject = { message };
      if (open) body.conversation_id = open.id;
      const id = await sendTurn(workflowId, body, (text) => setPending((p) => p && { ...p, reply: p.reply + text }));
      await loadConversations(workflowId);
      if (id ?? open?.id) await openConversation(id ?? open!.id);
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setPending(null);
    }
  }

  return (
    <div className="chat">
      <aside className="chat-list">
        <select aria-label="Workflow" value={workflowId} onChange={(e) => setWorkflowId(e.target.value)}>
          {workflows.length === 0 && <option value="">No chat workflows</option>}
          {workflows.map((w) => <option key={w.id} value={String(w.id)}>{w.name}</option>)}
        </select>
        <button onClick={() => setOpen(null)} disabled={!workflowId}>New conversation</button>
        <ul>
          {conversations.map((c) => (
            <li key={c.id} className={open?.id === c.id ? "active" : ""}>
              <button className="link" onClick={() => void openConversation(c.id)}>{c.title || "Untitled conversation"}</button>
            </li>
          ))}
        </ul>
      </aside>
      <section className="chat-main">
        <ErrorList errors={errors} />
        {workflows.length === 0 ? (
          <div className="empty">Chat needs a workflow whose Input node has a <code>message</code> field.</div>
        ) : (
          <>
            <div className="messages" data-testid="messages">
              {(open?.messages ?? []).map((m, i) => (
                <div key={i} className={`bubble bubble-${m.role}`}>
                  <div className="bubble-text">{m.content}</div>
                  {m.role === "assistant" && m.run && <StepCosts runId={m.run} />}
                </div>
              ))}
              {pending && (
                <>
                  <div className="bubble bubble-user"><div className="bubble-text">{pending.message}</div></div>
                  <div className="bubble bubble-assistant streaming" data-testid="streaming-reply"><div className="bubble-text">{pending.reply || "…"}</div></div>
                </>
              )}
              {!open && !pending && <p className="muted">Start a conversation below.</p>}
              <div ref={bottom} />
            </div>
            <form className="composer" onSubmit={send}>
              <textarea name="message" rows={2} value={draft} placeholder="Message…" onChange={(e) => setDraft(e.target.value)}
                onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); e.currentTarget.form?.requestSubmit(); } }} />
              <button className="primary" type="submit" disabled={!!pending || !draft.trim()}>Send</button>
            </form>
          </>
        )}
      </section>
    </div>
  );
}
