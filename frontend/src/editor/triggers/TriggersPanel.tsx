// The editor's Triggers tab: what starts the live version from outside (webhooks and schedules).
import type { GraphNode } from "../../types";
import { inputFieldsOf } from "../InputValues";
import { Schedules } from "./Schedules";
import { Webhooks } from "./Webhooks";

export function TriggersPanel({ workflowId, liveVersion, draftDiffers, inputNode }: {
  workflowId: string;
  liveVersion: number | null;
  draftDiffers: boolean;
  inputNode: GraphNode | undefined; // the draft's: its fields are what the forms offer
}) {
  const inputFields = inputFieldsOf(inputNode);
  return (
    <div className="triggers" data-testid="triggers">
      <h2>Triggers</h2>
      {!liveVersion ? (
        <p className="warning">Not published yet: until the first publish, webhooks and schedules run the draft as it is saved; after it, the live version.</p>
      ) : draftDiffers ? (
        <p className="hint">They start <b>v{liveVersion}</b>, the live version; the draft's changes run once published.</p>
      ) : (
        <p className="hint">They start <b>v{liveVersion}</b>, the live version.</p>
      )}
      <Webhooks workflowId={workflowId} inputFields={inputFields} />
      <Schedules workflowId={workflowId} inputFields={inputFields} />
    </div>
  );
}
