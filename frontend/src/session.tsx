// Who is logged in. The session cookie is the source of truth; this only mirrors /api/auth/me.
import { createContext, useContext, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { ApiRequestError, get, post } from "./api";
import type { Session } from "./types";

interface SessionState {
  session: Session | null;
  loading: boolean;
  setSession: (session: Session | null) => void;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession() needs a <SessionProvider> above it");
  return state;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    // Also sets the csrftoken cookie that every unsafe request needs.
    get<Session>("/api/auth/me")
      .then(setSession)
      .catch(() => setSession(null))
      .finally(() => setLoading(false));
  }, []);

  async function logout() {
    await post("/api/auth/logout");
    setSession(null);
  }

  return (
    <SessionContext.Provider value={{ session, loading, setSession, logout }}>{children}</SessionContext.Provider>
  );
}

export function RequireSession({ children }: { children: ReactNode }) {
  const { session, loading } = useSession();
  const location = useLocation();
  if (loading) return <p className="page muted">Loading…</p>;
  if (!session) return <Navigate to={`/login?next=${encodeURIComponent(location.pathname)}`} replace />;
  return <>{children}</>;
}

export function LoginPage() {
  const { setSession } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError("");
    try {
      setSession(await post<Session>("/api/auth/login", { username, password }));
      const next = new URLSearchParams(location.search).get("next");
      navigate(next && next.startsWith("/") ? next : "/workflows", { replace: true });
    } catch (error) {
      setError(error instanceof ApiRequestError ? error.errors.map((e) => e.message).join(" ") : String(error));
    }
  }

  return (
    <div className="login">
      <form className="card login-card" onSubmit={submit}>
        <h1>Orchestra</h1>
        <p className="muted">Sign in to your workspace.</p>
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit">Sign in</button>
      </form>
    </div>
  );
}
