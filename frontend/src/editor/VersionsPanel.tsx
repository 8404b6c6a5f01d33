// Published versions of a workflow; restoring one copies its graph into the draft.
import { useEffect, useState } from "react";
import { get } from "../api";
import type { ApiError, Graph, Version } from "../types";
import { ErrorList, errorsFrom, formatTime } from "../ui";

export function VersionsPanel({ workflowId, publishedVersion, onRestore }: {
  workflowId: string;
  publishedVersion: number | null;
  onRestore: (graph: Graph, version: number) => void;
}) {
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);

  useEffect(() => {
    get<Version[]>(`/api/workflows/${workflowId}/versions`).then(setVersions, (e) => setErrors(errorsFrom(e)));
  }, [workflowId, publishedVersion]);

  async function restore(version: number) {
    if (!window.confirm(`Replace the draft with version ${version}? You can undo this.`)) return;
    try {
      const full = await get<Version>(`/api/workflows/${workflowId}/versions/${version}`);
      onRestore(full.graph!, version);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  return (
    <div className="versions" data-testid="versions">
      <h2>Versions</h2>
      <ErrorList errors={errors} />
      {versions?.length === 0 && <p className="muted">Nothing published yet. Publish freezes the draft as version 1.</p>}
      <ul>
        {[...(versions ?? [])].sort((a, b) => b.version - a.version).map((v) => (
          <li key={v.version}>
            <b>v{v.version}</b> <span className="muted">{formatTime(v.created_at)}</span>
            {v.version === publishedVersion && <span className="badge">live</span>}
            <button className="link" onClick={() => void restore(v.version)}>Restore</button>
          </li>
        ))}
      </ul>
    </div>
  );
}
