// A workflow's schedules: create, edit, pause or resume, delete; when each last fired (and, where the
// API says, when it fires next and why its last firing started nothing), and the runs they started.
import { useCallback, useEffect, useState } from "react";
import { del, get, patch, post } from "../../api";
import type { ApiError, InputField, Schedule, ScheduleFields } from "../../types";
import { ErrorList, errorsFrom, formatTime } from "../../ui";
import { useDialogs } from "../../dialogs";
import { RecentRuns } from "./RecentRuns";
import { PRESETS, ScheduleForm, newSchedule, scheduleFieldsOf } from "./ScheduleForm";

export function Schedules({ workflowId, inputFields }: { workflowId: string; inputFields: InputField[] }) {
  const dialogs = useDialogs();
  const base = `/api/workflows/${workflowId}/schedules`;
  const [schedules, setSchedules] = useState<Schedule[] | null>(null);
  const [editing, setEditing] = useState<{ schedule: Schedule | null } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);

  const reload = useCallback(() => get<Schedule[]>(base).then(setSchedules, (e) => setErrors(errorsFrom(e))), [base]);
  useEffect(() => {
    void reload();
  }, [reload]);

  async function act(action: () => Promise<unknown>): Promise<boolean> {
    setErrors([]);
    setBusy(true);
    try {
      await action();
      await reload();
      return true;
    } catch (error) {
      setErrors(errorsFrom(error));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function save(fields: ScheduleFields) {
    const target = editing?.schedule;
    if (await act(() => (target ? patch<Schedule>(`${base}/${target.id}`, fields) : post<Schedule>(base, fields)))) setEditing(null);
  }

  async function remove(schedule: Schedule) {
    const message = "It stops firing at once. Runs it started stay in the runs list.";
    if (!(await dialogs.confirm({ title: `Delete the schedule “${schedule.name || schedule.cron}”?`, message, confirmLabel: "Delete", danger: true }))) return;
    await act(() => del(`${base}/${schedule.id}`));
  }

  return (
    <section className="trigger-section" data-testid="schedules">
      <div className="panel-head">
        <h3>Schedules</h3>
        {!editing && <button onClick={() => { setErrors([]); setEditing({ schedule: null }); }}>New schedule</button>}
      </div>
      <p className="hint">Runs the live version on a cron, with fixed inputs.</p>
      {editing && (
        <ScheduleForm
          key={editing.schedule?.id ?? "new"}
          initial={editing.schedule ? scheduleFieldsOf(editing.schedule) : newSchedule(inputFields)}
          inputFields={inputFields}
          errors={errors}
          busy={busy}
          onSubmit={(fields) => void save(fields)}
          onCancel={() => { setEditing(null); setErrors([]); }}
        />
      )}
      {!editing && <ErrorList errors={errors} />}
      {schedules?.length === 0 && !editing && <p className="muted">No schedules yet.</p>}
      <ul className="trigger-list">
        {(schedules ?? []).map((schedule) => (
          <ScheduleItem key={schedule.id} schedule={schedule} busy={busy}
            onEdit={() => { setErrors([]); setEditing({ schedule }); }}
            onToggle={() => void act(() => patch<Schedule>(`${base}/${schedule.id}`, { enabled: !schedule.enabled }))}
            onDelete={() => void remove(schedule)} />
        ))}
      </ul>
      <RecentRuns workflowId={workflowId} trigger="schedule" refresh={schedules?.length ?? 0} />
    </section>
  );
}

function ScheduleItem({ schedule, busy, onEdit, onToggle, onDelete }: { schedule: Schedule; busy: boolean; onEdit: () => void; onToggle: () => void; onDelete: () => void }) {
  const state = schedule.enabled ? "active" : "paused";
  const inputs = Object.entries(schedule.inputs);
  const preset = PRESETS.find(([cron]) => cron === schedule.cron.trim())?.[1];
  return (
    <li className={`trigger-item trigger-${state}`} data-schedule-id={schedule.id} data-state={state}>
      <div className="trigger-head">
        <b>{schedule.name || "Unnamed schedule"}</b>
        <span className={`badge trigger-state-${state}`}>{state}</span>
      </div>
      <div className="trigger-when">
        <code>{schedule.cron}</code>
        {preset && <span>{preset}</span>}
        <span className="muted">{schedule.timezone}</span>
      </div>
      {inputs.length > 0 && <div className="trigger-facts">{inputs.map(([name, value]) => `${name}: ${JSON.stringify(value)}`).join(", ")}</div>}
      <div className="trigger-facts">
        {schedule.last_fired_at ? `Last fired ${formatTime(schedule.last_fired_at)}` : "Not fired yet"}
        {schedule.next_run_at !== undefined && <> · next {schedule.enabled && schedule.next_run_at ? formatTime(schedule.next_run_at) : "—"}</>}
      </div>
      {schedule.last_error && (
        <p className="field-error" data-testid="schedule-last-error">
          Last firing started nothing{schedule.last_fired_at ? ` (${formatTime(schedule.last_fired_at)})` : ""}: {schedule.last_error}
        </p>
      )}
      <div className="trigger-actions">
        <button className="link" onClick={onEdit} disabled={busy}>Edit</button>
        <button className="link" onClick={onToggle} disabled={busy}>{schedule.enabled ? "Pause" : "Resume"}</button>
        <button className="link danger" onClick={onDelete} disabled={busy}>Delete</button>
      </div>
    </li>
  );
}
