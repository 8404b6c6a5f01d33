// A router's cost–quality curve on its held-out split: quality against the share of calls sent to
// the strong model, with random routing (the straight line between the ends), the quality target
// and the calibrated point. Inline SVG like distill/charts.tsx.
import type { CurvePoint } from "./types";

const WIDTH = 560;
const HEIGHT = 260;
const PAD = { left: 52, right: 20, top: 30, bottom: 40 };

const percent = (value: number) => `${Math.round(value * 100)}%`;

export function CurveChart({ curve, target, chosen }: { curve: CurvePoint[]; target: number; chosen: CurvePoint | undefined }) {
  if (curve.length === 0) return <div className="chart-empty muted">No curve yet: train the router.</div>;
  const ordered = [...curve].sort((a, b) => a.strong_share - b.strong_share || a.quality - b.quality);
  const weakest = curve[0];
  const strongest = curve[curve.length - 1]; // the always-strong point comes last
  const goal = target * strongest.quality;
  const values = [...curve.map((p) => p.quality), goal];
  const spread = Math.max(...values) - Math.min(...values) || 0.1;
  const low = Math.max(0, Math.min(...values) - spread * 0.1);
  const high = Math.min(1, Math.max(...values) + spread * 0.1);
  const x = (share: number) => PAD.left + share * (WIDTH - PAD.left - PAD.right);
  const y = (quality: number) => PAD.top + (1 - (quality - low) / (high - low || 1)) * (HEIGHT - PAD.top - PAD.bottom);
  const path = ordered.map((p, i) => `${i ? "L" : "M"}${x(p.strong_share).toFixed(1)},${y(p.quality).toFixed(1)}`).join(" ");
  const qualityTicks = [0, 1, 2, 3].map((i) => low + ((high - low) * i) / 3);
  return (
    <svg className="chart curve-chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="Cost–quality curve"
      data-testid="router-curve" data-points={curve.length}>
      {qualityTicks.map((t) => (
        <g key={t}>
          <line className="grid" x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} />
          <text className="axis" x={PAD.left - 6} y={y(t) + 4} textAnchor="end">{percent(t)}</text>
        </g>
      ))}
      {[0, 0.25, 0.5, 0.75, 1].map((t) => (
        <text key={t} className="axis" x={x(t)} y={HEIGHT - 22} textAnchor="middle">{percent(t)}</text>
      ))}
      <text className="axis" x={(PAD.left + WIDTH - PAD.right) / 2} y={HEIGHT - 6} textAnchor="middle">calls sent to the strong model</text>
      <line className="series-random" x1={x(weakest.strong_share)} y1={y(weakest.quality)} x2={x(strongest.strong_share)} y2={y(strongest.quality)} />
      <line className="series-target" x1={PAD.left} x2={WIDTH - PAD.right} y1={y(goal)} y2={y(goal)} />
      <path className="series-train" d={path} />
      {ordered.map((p, i) => <circle key={i} className="series-train-dot" cx={x(p.strong_share)} cy={y(p.quality)} r={2.5} />)}
      {chosen && (
        <circle className="series-chosen" data-testid="router-curve-chosen" cx={x(chosen.strong_share)} cy={y(chosen.quality)} r={6} />
      )}
      <g className="legend" transform={`translate(${PAD.left}, 12)`}>
        <line className="series-train" x1={0} x2={16} y1={0} y2={0} /><text x={20} y={4}>router</text>
        <line className="series-random" x1={80} x2={96} y1={0} y2={0} /><text x={100} y={4}>random</text>
        <line className="series-target" x1={166} x2={182} y1={0} y2={0} /><text x={186} y={4}>target ({percent(target)} of the strong model)</text>
        {chosen && <><circle className="series-chosen" cx={380} cy={0} r={5} /><text x={390} y={4}>chosen threshold</text></>}
      </g>
    </svg>
  );
}
