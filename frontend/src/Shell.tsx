import { NavLink, Outlet } from "react-router";
import { useSession } from "./session";

const sections = [
  ["/workflows", "Workflows"],
  ["/runs", "Runs"],
  ["/models", "Models"],
  ["/mcp-servers", "MCP servers"],
  ["/traces", "Traces"],
  ["/chat", "Chat"],
  ["/distillations", "Distillation"],
  ["/savings", "Savings"],
  ["/routers", "Routers"],
] as const;

export function Shell() {
  const { session, logout } = useSession();
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Orchestra</span>
        <nav>
          {sections.map(([to, label]) => (
            <NavLink key={to} to={to}>{label}</NavLink>
          ))}
        </nav>
        <span className="spacer" />
        <NavLink to="/settings/credentials" className="settings-link">Credentials</NavLink>
        <NavLink to="/settings/keys" className="settings-link">API keys</NavLink>
        <span className="muted">{session?.workspace?.name} · {session?.user.username}</span>
        <button className="link" onClick={() => void logout()}>Sign out</button>
      </header>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
