// The routing API's shapes (routing/api.py; docs/router.md).

export interface RouterVerifier {
  refusal?: boolean;
  min_confidence?: number | null;
}

export interface RouterSummary {
  threshold: number | null; // null: always the strong model
  target: number;
  quality: number;
  strong_quality: number;
  cheapest_quality: number;
  pgr: number | null;
  apgr: number | null;
  cpt50: number | null;
  cpt80: number | null;
  cost_saved: number | null;
  shares: number[];
  candidates?: string[];
  examples?: { train: number; held_out: number };
  acceptable_rate?: number[];
  sources?: { compare: number; shadow: number; incomplete: number };
  train_seconds?: number;
}

export interface CurvePoint {
  threshold: number | null;
  strong_share: number;
  quality: number;
  cost: number;
  pgr: number | null;
  shares: number[];
  gap_se: number;
}

export type RouterEmbedding = "static" | "minilm";

export interface Router {
  id: string;
  name: string;
  workflow: string | null;
  node_id: string | null;
  is_default: boolean;
  candidates: string[];
  target: number;
  verifier: RouterVerifier;
  embedding: RouterEmbedding;
  trained: boolean;
  trained_at: string | null;
  summary: RouterSummary | null;
  created_at: string;
  updated_at: string;
}

export type RouterJobStatus = "queued" | "running" | "succeeded" | "failed";

export interface RouterJob {
  id: string;
  router: string;
  kind: "compare" | "train";
  sample: number | null;
  status: RouterJobStatus;
  progress: { compared?: number; sample?: number };
  report: Record<string, unknown> | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface RouterUsage {
  calls: number;
  answered: Record<string, number>;
  cost: number;
  escalated: number;
  saving: number | null;
}

export interface RouterReport {
  router: Router;
  training: (RouterSummary & { curve: CurvePoint[] }) | null;
  usage: RouterUsage;
  jobs: RouterJob[];
}

/** A routed call's decision, as its trace's metadata.routing records it. */
export interface RoutingDecision {
  router: string;
  router_id: string;
  candidates: string[];
  trained: boolean;
  acceptability: number[] | null;
  threshold: number | null;
  chosen: string;
  answered: string;
  escalations: { model: string; why: string }[];
  decision_ms: number;
  embedding: RouterEmbedding | null; // null: untrained, nothing was embedded
  loaded_embedder: boolean; // the decision had to load its embedder first
}
