// Create or edit a schedule: cron (with a few presets), time zone, fixed inputs, overlap, callback.
import { useMemo, useState, type FormEvent } from "react";
import type { ApiError, InputField, OverlapPolicy, Schedule, ScheduleFields } from "../../types";
import { ErrorList, Field, unclaimed } from "../../ui";
import { InputValues, parseInputs, textOf } from "../InputValues";

export const PRESETS: [string, string][] = [
  ["*/15 * * * *", "every 15 min"],
  ["0 * * * *", "hourly"],
  ["0 9 * * *", "daily at 9:00"],
  ["0 9 * * 1-5", "weekdays at 9:00"],
  ["0 9 * * 1", "Mondays at 9:00"],
];

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** A new schedule starts from the input fields' defaults. */
export const newSchedule = (inputFields: InputField[]): ScheduleFields => ({
  name: "", cron: "0 9 * * 1-5", timezone: browserZone(), enabled: true, overlap_policy: "skip", callback_url: null,
  inputs: Object.fromEntries(inputFields.flatMap((f) => (f.default === undefined || f.default === null ? [] : [[f.name, f.default]]))),
});

export function scheduleFieldsOf(schedule: Schedule): ScheduleFields {
  const { name, cron, timezone, inputs, enabled, overlap_policy, callback_url } = schedule;
  return { name, cron, timezone, inputs, enabled, overlap_policy, callback_url };
}

const FIELD_PATHS = ["name", "cron", "timezone", "overlap_policy", "callback_url"];

export function ScheduleForm({ initial, inputFields, errors, busy, onSubmit, onCancel }: {
  initial: ScheduleFields;
  inputFields: InputField[];
  errors: ApiError[];
  busy: boolean;
  onSubmit: (fields: ScheduleFields) => void;
  onCancel: () => void;
}) {
  const [fields, setFields] = useState(initial);
  const [texts, setTexts] = useState<Record<string, string>>(() => Object.fromEntries(inputFields.map((f) => [f.name, textOf(initial.inputs[f.name])])));
  const [formErrors, setFormErrors] = useState<ApiError[]>([]);
  const set = (patch: Partial<ScheduleFields>) => setFields((old) => ({ ...old, ...patch }));
  const zones = useMemo(() => Intl.supportedValuesOf("timeZone"), []);
  const shown = formErrors.length ? formErrors : errors;
  const fieldNames = inputFields.map((f) => `inputs.${f.name}`);

  function submit(event: FormEvent) {
    event.preventDefault();
    const { inputs, errors: invalid } = parseInputs(inputFields, texts);
    setFormErrors(invalid);
    if (invalid.length) return;
    // Inputs the draft's input node does not name (kept from before) go too: the server says if they are unknown.
    const kept = Object.fromEntries(Object.entries(initial.inputs).filter(([name]) => !inputFields.some((f) => f.name === name)));
    onSubmit({ ...fields, inputs: { ...kept, ...inputs }, callback_url: fields.callback_url?.trim() || null });
  }

  return (
    <form className="trigger-form" onSubmit={submit} data-testid="schedule-form">
      <Field label="Name" path="name" errors={shown}>
        <input name="schedule.name" value={fields.name} placeholder="e.g. Morning digest" onChange={(e) => set({ name: e.target.value })} />
      </Field>
      <Field label="When (cron)" path="cron" errors={shown} hint="minute hour day-of-month month day-of-week">
        <input name="schedule.cron" className="mono" value={fields.cron} onChange={(e) => set({ cron: e.target.value })} />
        <div className="suggestions">
          {PRESETS.map(([cron, label]) => (
            <button type="button" key={cron} className={`chip ${fields.cron === cron ? "chip-active" : ""}`} onClick={() => set({ cron })} title={cron}>{label}</button>
          ))}
        </div>
      </Field>
      <Field label="Time zone" path="timezone" errors={shown}>
        <input name="schedule.timezone" list="time-zones" value={fields.timezone} onChange={(e) => set({ timezone: e.target.value })} />
        <datalist id="time-zones">{zones.map((zone) => <option key={zone} value={zone} />)}</datalist>
      </Field>
      <fieldset className="object-field">
        <legend>Inputs of each run</legend>
        {inputFields.length === 0 && <p className="hint">The workflow has no input fields.</p>}
        <InputValues fields={inputFields} texts={texts} onChange={setTexts} errors={shown} namePrefix="schedule.inputs" />
      </fieldset>
      <Field label="While the previous run is still going" path="overlap_policy" errors={shown}>
        <select name="schedule.overlap_policy" value={fields.overlap_policy} onChange={(e) => set({ overlap_policy: e.target.value as OverlapPolicy })}>
          <option value="skip">skip this firing</option>
          <option value="allow">start another run anyway</option>
        </select>
      </Field>
      <Field label="Callback URL" path="callback_url" errors={shown} hint="Each finished run is POSTed there, signed.">
        <input name="schedule.callback_url" value={fields.callback_url ?? ""} placeholder="https://…" onChange={(e) => set({ callback_url: e.target.value })} />
      </Field>
      <label className="checkbox-line">
        <input type="checkbox" name="schedule.enabled" checked={fields.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> Enabled
      </label>
      <ErrorList errors={unclaimed(shown, [...FIELD_PATHS, ...fieldNames])} />
      <div className="button-row">
        <button className="primary" type="submit" disabled={busy}>{busy ? "Saving…" : "Save schedule"}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
