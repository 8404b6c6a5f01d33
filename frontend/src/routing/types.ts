// The routing API's shapes (routing/api.py; docs/router.md), from the generated OpenAPI types;
// what is written out here is what the schema leaves as free-form JSON (reports, progress, decisions).

import type { components } from "../api/schema";

type Schemas = components["schemas"];

export type RouterVerifier = Schemas["VerifierInput"];

/** A training report (RouterOut.summary, RouterReportOut.training): a free-form dict in the schema. */
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

export type RouterEmbedding = Schemas["EmbeddingEnum"];

// The schema has a router's verifier and summary as free-form dicts.
export type Router = Omit<Schemas["RouterOut"], "verifier" | "summary"> & {
  verifier: RouterVerifier;
  summary: RouterSummary | null;
};

/** What creating and updating a router take, besides its scope (a workflow and node, or none). */
export type RouterFields = Omit<Schemas["RouterInput"], "workflow" | "node_id">;

export type RouterJobStatus = Schemas["RouterJobStatusEnum"];

// The schema has a job's progress and report as unknown JSON.
export type RouterJob = Omit<Schemas["RouterJobOut"], "progress" | "report"> & {
  progress: { compared?: number; sample?: number };
  report: Record<string, unknown> | null;
};

export type RouterUsage = Schemas["RouterUsageOut"];

// The schema has the training report as unknown JSON.
export type RouterReport = Omit<Schemas["RouterReportOut"], "router" | "training" | "jobs"> & {
  router: Router;
  training: (RouterSummary & { curve: CurvePoint[] }) | null;
  jobs: RouterJob[];
};

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
