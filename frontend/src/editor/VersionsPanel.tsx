// Published versions of a workflow: which one is live, and restoring one into the draft (the
// server copies its graph into the draft; the editor then loads what the server answers).
import { useEffect, useState } from "react";
import { get, post } from "../api";
import type { ApiError, Version, WorkflowDetail } from "../types";
import { ErrorList, errorsFrom, formatTime } from "../ui";
import { useDialogs } from "../dialogs";

export function VersionsPanel({ workflowId, liveVersion, draftDiffers, onRestored }: {
  workflowId: string;
  liveVersion: number | null; // the latest published version: what webhooks, schedules, chat and API runs use
  draftDiffers: boolean;
  onRestored: (workflow: WorkflowDetail, version: number) => void;
}) {
  const dialogs = useDialogs();
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [restoring, setRestoring] = useState<number | null>(null);

  useEffect(() => {
    get<Version[]>(`/api/workflows/${workflowId}/versions`).then(setVersions, (e) => setErrors(errorsFrom(e)));
  }, [workflowId, liveVersion]);

  async function restore(version: number) {
    const message = (
      <>The draft becomes a copy of version {version}. What it holds now is replaced (Undo brings it back); nothing is published until you publish.</>
    );
    if (!(await dialogs.confirm({ title: `Restore version ${version} into the draft?`, message, confirmLabel: "Restore" }))) return;
    setErrors([]);
    setRestoring(version);
    try {
      onRestored(await post<WorkflowDetail>(`/api/workflows/${workflowId}/versions/${version}/restore`), version);
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setRestoring(null);
    }
  }

  return (
    <div className="versions" data-testid="versions">
      <h2>Versions</h2>
      {liveVersion ? (
        <p className="hint" data-testid="versions-live">
          <b>v{liveVersion} is live</b>: webhooks, schedules, chat and API runs use it.{" "}
          {draftDiffers ? "The draft has changes that are not published." : "The draft is the same as the live version."}
        </p>
      ) : null}
      <ErrorList errors={errors} />
      {versions?.length === 0 && <p className="muted">Nothing published yet. Publish freezes the draft as version 1; it goes live at once.</p>}
      <ul>
        {[...(versions ?? [])].sort((a, b) => b.version - a.version).map((v) => {
          const live = v.version === liveVersion;
          return (
            <li key={v.version} className={live ? "live" : ""} data-version={v.version}>
              <b>v{v.version}</b>
              {live && <span className="badge status-ok" title="The version that runs">live</span>}
              <span className="muted">{formatTime(v.created_at)}</span>
              <span className="spacer" />
              <button className="link" onClick={() => void restore(v.version)} disabled={restoring !== null || (live && !draftDiffers)}
                title={live && !draftDiffers ? "The draft is already this version" : "Copy this version into the draft"}>
                {restoring === v.version ? "Restoring…" : "Restore"}
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
