// Chat with a workflow whose input node has a `message` field. Needs the conversations API
// (issue 4); until the server offers it, say so rather than pretend.
import { useEffect, useState } from "react";
import { ApiRequestError, get } from "../api";

export function ChatPage() {
  const [available, setAvailable] = useState<boolean | null>(null);
  useEffect(() => {
    get("/api/conversations").then(
      () => setAvailable(true),
      (error) => setAvailable(!(error instanceof ApiRequestError && error.status === 404)),
    );
  }, []);
  return (
    <div className="page">
      <div className="page-head"><h1>Chat</h1></div>
      {available === null ? <p className="muted">Loading…</p> : (
        <div className="empty">
          This server does not offer conversations yet (<code>/api/conversations</code>). Meanwhile, test-run a
          workflow from its editor.
        </div>
      )}
    </div>
  );
}
