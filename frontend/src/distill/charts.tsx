// Inline SVG charts: a loss curve and horizontal bars. Hand-drawn on purpose: two small charts do
// not justify a charting library in a bundle that must stay under 1 MB.
import type { LossPoint } from "../types";

const WIDTH = 560;
const HEIGHT = 220;
const PAD = { left: 48, right: 16, top: 26, bottom: 28 };

function ticks(low: number, high: number, count: number): number[] {
  if (high === low) return [low];
  return Array.from({ length: count }, (_, i) => low + ((high - low) * i) / (count - 1));
}

function shortNumber(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(2);
}

/** Training loss per step, and validation loss where it was measured. */
export function LossChart({ points, totalSteps }: { points: LossPoint[]; totalSteps?: number | null }) {
  if (points.length === 0) return <div className="chart-empty muted">No loss measured yet.</div>;
  const validation = points.filter((p) => typeof p.validation_loss === "number");
  const values = [...points.map((p) => p.loss), ...validation.map((p) => p.validation_loss as number)];
  // Zoomed to the measured range: a loss that moves from 5.9 to 5.6 should not look flat.
  const spread = Math.max(...values) - Math.min(...values) || Math.abs(values[0]) || 1;
  const low = Math.min(...values) - spread * 0.05;
  const high = Math.max(...values) + spread * 0.05;
  const lastStep = Math.max(totalSteps ?? 0, points[points.length - 1].step, 2);
  const x = (step: number) => PAD.left + ((step - 1) / (lastStep - 1)) * (WIDTH - PAD.left - PAD.right);
  const y = (loss: number) => PAD.top + (1 - (loss - low) / (high - low || 1)) * (HEIGHT - PAD.top - PAD.bottom);
  const line = (list: [number, number][]) => list.map(([s, l], i) => `${i ? "L" : "M"}${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(" ");
  return (
    <svg className="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="Loss per step" data-testid="loss-chart" data-points={points.length}>
      {ticks(low, high, 4).map((t) => (
        <g key={t}>
          <line className="grid" x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} />
          <text className="axis" x={PAD.left - 6} y={y(t) + 4} textAnchor="end">{shortNumber(t)}</text>
        </g>
      ))}
      {ticks(1, lastStep, Math.min(lastStep, 6)).map((t) => (
        <text key={t} className="axis" x={x(t)} y={HEIGHT - 8} textAnchor="middle">{Math.round(t)}</text>
      ))}
      <path className="series-train" d={line(points.map((p) => [p.step, p.loss]))} />
      {points.length === 1 && <circle className="series-train-dot" cx={x(points[0].step)} cy={y(points[0].loss)} r={3} />}
      {validation.length > 0 && <path className="series-validation" d={line(validation.map((p) => [p.step, p.validation_loss as number]))} />}
      {validation.map((p) => <circle key={p.step} className="series-validation-dot" cx={x(p.step)} cy={y(p.validation_loss as number)} r={3} />)}
      <g className="legend" transform={`translate(${PAD.left}, 10)`}>
        <line className="series-train" x1={0} x2={16} y1={0} y2={0} /><text x={20} y={4}>training loss</text>
        {validation.length > 0 && <><line className="series-validation" x1={100} x2={116} y1={0} y2={0} /><text x={120} y={4}>validation loss</text></>}
      </g>
    </svg>
  );
}

export interface Bar {
  label: string;
  value: number;
}

/** One horizontal bar per row, scaled to the largest value. */
export function BarChart({ bars, format, title }: { bars: Bar[]; format: (value: number) => string; title: string }) {
  const rowHeight = 22;
  const labelWidth = 150;
  const valueWidth = 90;
  const width = 420;
  const max = Math.max(...bars.map((b) => b.value), 0);
  return (
    <figure className="bar-chart">
      <figcaption>{title}</figcaption>
      <svg className="chart" viewBox={`0 0 ${width} ${bars.length * rowHeight + 4}`} role="img" aria-label={title}>
        {bars.map((bar, i) => {
          const length = max > 0 ? (bar.value / max) * (width - labelWidth - valueWidth) : 0;
          return (
            <g key={bar.label} transform={`translate(0, ${i * rowHeight + 2})`}>
              <text className="axis" x={labelWidth - 8} y={14} textAnchor="end">{bar.label}</text>
              <rect className="bar" x={labelWidth} y={3} width={Math.max(length, 1)} height={rowHeight - 8} rx={3} />
              <text className="axis" x={labelWidth + length + 6} y={14}>{format(bar.value)}</text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
