// A job's evaluation: the student before and after training (and the teacher where measured),
// metric by metric, with the verdict. Metric dicts are rendered as they come, so new metrics show
// up without a change here.
import type { JobReport, JsonObject, JsonValue } from "../types";

type Column = "baseline" | "after" | "teacher";

/** Numeric leaves of a nested metric dict, keyed "section · metric" (samples are shown apart). */
function flatten(value: JsonValue | undefined, prefix = "", into = new Map<string, number | null>()): Map<string, number | null> {
  if (value === null || value === undefined || typeof value !== "object" || Array.isArray(value)) return into;
  for (const [key, inner] of Object.entries(value)) {
    if (key === "samples") continue;
    const name = prefix ? `${prefix} · ${key}` : key;
    if (typeof inner === "number" || inner === null) into.set(name, inner);
    else flatten(inner, name, into);
  }
  return into;
}

// The student's speed and the teacher's speed measured on the same prompts are one row each,
// in their own columns: "speed · tokens_per_s" under After and under Teacher.
function sides(report: JobReport): Record<Column, Map<string, number | null>> {
  const split = (side: JsonValue | undefined) => {
    const { student_speed, teacher_speed, ...rest } = (side && typeof side === "object" && !Array.isArray(side) ? side : {}) as JsonObject;
    return { metrics: flatten({ ...rest, ...(student_speed ? { speed: student_speed } : {}) }), teacherSpeed: teacher_speed };
  };
  const baseline = split(report.baseline ?? undefined);
  const after = split(report.after ?? undefined);
  const teacher = flatten(report.teacher ?? undefined);
  for (const [key, value] of flatten(after.teacherSpeed ? { speed: after.teacherSpeed } : {})) teacher.set(key, value);
  return { baseline: baseline.metrics, after: after.metrics, teacher };
}

function formatMetric(name: string, value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (/exact_match|f1|rouge|json_valid|accuracy|agreement/.test(name) && value >= 0 && value <= 1) return `${(value * 100).toFixed(1)}%`;
  return Number.isInteger(value) ? value.toLocaleString() : value.toFixed(3);
}

function samplesOf(report: JobReport): { prompt: string; teacher: string; student: string }[] {
  const samples = (report.after as JsonObject | null)?.samples;
  return Array.isArray(samples) ? (samples as { prompt: string; teacher: string; student: string }[]) : [];
}

export function Report({ report }: { report: JobReport }) {
  const columns = sides(report);
  // A metric nobody measured (JSON metrics on plain-text replies, no golden labels) is no row.
  const names = [...new Set([...columns.baseline.keys(), ...columns.after.keys(), ...columns.teacher.keys()])]
    .filter((name) => [columns.baseline, columns.after, columns.teacher].some((column) => typeof column.get(name) === "number"));
  const showTeacher = columns.teacher.size > 0;
  const samples = samplesOf(report);
  return (
    <div className="report" data-testid="job-report">
      {report.verdict && <p className="verdict" data-testid="verdict">{report.verdict}</p>}
      <table className="table metrics">
        <thead>
          <tr><th>Metric</th><th>Before training</th><th>After training</th>{showTeacher && <th>Teacher</th>}</tr>
        </thead>
        <tbody>
          {names.map((name) => (
            <tr key={name}>
              <td>{name.replaceAll("_", " ")}</td>
              <td>{formatMetric(name, columns.baseline.get(name))}</td>
              <td><b>{formatMetric(name, columns.after.get(name))}</b></td>
              {showTeacher && <td>{formatMetric(name, columns.teacher.get(name))}</td>}
            </tr>
          ))}
        </tbody>
      </table>
      {samples.length > 0 && (
        <details className="samples">
          <summary>Held-out samples: teacher vs student</summary>
          {samples.map((sample, i) => (
            <div key={i} className="sample">
              <div className="muted">{sample.prompt}</div>
              <div><span className="badge">teacher</span> {sample.teacher}</div>
              <div><span className="badge">student</span> {sample.student}</div>
            </div>
          ))}
        </details>
      )}
      {report.table && (
        <details>
          <summary>As text</summary>
          <pre className="json">{report.table}</pre>
        </details>
      )}
    </div>
  );
}
