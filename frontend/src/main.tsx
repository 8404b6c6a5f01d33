import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import "@xyflow/react/dist/style.css";
import "./styles.css";
import "./distill/distill.css";
import { SessionProvider, RequireSession, LoginPage } from "./session";
import { DialogProvider } from "./dialogs";
import { Shell } from "./Shell";
import { WorkflowsPage } from "./pages/WorkflowsPage";
import { EditorPage } from "./editor/EditorPage";
import { RunsPage } from "./pages/RunsPage";
import { RunPage } from "./pages/RunPage";
import { ModelsPage } from "./pages/ModelsPage";
import { McpServersPage } from "./pages/McpServersPage";
import { TracesPage } from "./pages/TracesPage";
import { ChatPage } from "./pages/ChatPage";
import { DistillationsPage } from "./pages/DistillationsPage";
import { DistillationPage } from "./pages/DistillationPage";
import { SavingsPage } from "./pages/SavingsPage";
import { ApiKeysPage } from "./pages/ApiKeysPage";
import { CredentialsPage } from "./pages/CredentialsPage";
import { RoutersPage } from "./pages/RoutersPage";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <SessionProvider>
        <DialogProvider>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route element={<RequireSession><Shell /></RequireSession>}>
              <Route index element={<Navigate to="/workflows" replace />} />
              <Route path="/workflows" element={<WorkflowsPage />} />
              <Route path="/workflows/:workflowId" element={<EditorPage />} />
              <Route path="/runs" element={<RunsPage />} />
              <Route path="/runs/:runId" element={<RunPage />} />
              <Route path="/models" element={<ModelsPage />} />
              <Route path="/mcp-servers" element={<McpServersPage />} />
              <Route path="/traces" element={<TracesPage />} />
              <Route path="/chat" element={<ChatPage />} />
              <Route path="/distillations" element={<DistillationsPage />} />
              <Route path="/distillations/:jobId" element={<DistillationPage />} />
              <Route path="/savings" element={<SavingsPage />} />
              <Route path="/routers" element={<RoutersPage />} />
              <Route path="/settings/keys" element={<ApiKeysPage />} />
              <Route path="/settings/credentials" element={<CredentialsPage />} />
              <Route path="*" element={<p className="page">Nothing here. <a href="/workflows">Back to workflows</a></p>} />
            </Route>
          </Routes>
        </DialogProvider>
      </SessionProvider>
    </BrowserRouter>
  </StrictMode>,
);
