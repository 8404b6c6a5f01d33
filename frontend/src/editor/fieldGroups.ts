// How the side panel groups a node type's config fields into sections. Presentation only: the
// fields themselves come from the type's schema; a field named in no group is drawn first, in
// schema order, and a group names fields the schema may not have (they are skipped).
export interface FieldGroup {
  title: string;
  fields: string[];
  open?: boolean; // unfolded from the start (a group with an error always is)
  hint?: string;
  placeholder?: string; // for its empty inputs
  columns?: 1 | 2;
}

export const FIELD_GROUPS: Record<string, FieldGroup[]> = {
  agent: [
    {
      title: "Budgets", fields: ["max_steps", "max_tool_calls", "max_total_tokens", "max_cost"], open: true, columns: 2,
      placeholder: "no limit",
      hint: "When one runs out, the model answers in one last turn without tools, so the node always ends with an answer.",
    },
    { title: "Answer", fields: ["output", "json_schema", "json_retries"] },
    { title: "Memory and sampling", fields: ["memory", "temperature", "max_tokens", "parallel_tool_calls", "metadata"] },
  ],
};
