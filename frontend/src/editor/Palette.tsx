// Node types from /api/node-types, grouped by category and searchable; drag one onto the canvas.
import { useState, type DragEvent } from "react";
import type { NodeType } from "../types";

export const DRAG_MIME = "application/x-orchestra-node-type";

export function Palette({ nodeTypes, onAdd }: { nodeTypes: NodeType[]; onAdd: (type: string) => void }) {
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const matching = nodeTypes.filter((t) => !needle || `${t.type} ${t.title} ${t.description} ${t.category}`.toLowerCase().includes(needle));
  const categories = [...new Set(matching.map((t) => t.category || "Other"))];

  function startDrag(event: DragEvent, type: string) {
    event.dataTransfer.setData(DRAG_MIME, type);
    event.dataTransfer.effectAllowed = "move";
  }

  return (
    <aside className="palette">
      <input type="search" placeholder="Search nodes…" value={search} onChange={(e) => setSearch(e.target.value)} aria-label="Search node types" />
      {categories.map((category) => (
        <section key={category}>
          <h3>{category}</h3>
          {matching.filter((t) => (t.category || "Other") === category).map((t) => (
            <div
              key={t.type}
              className="palette-item"
              draggable
              data-node-type={t.type}
              title={`${t.description}\n(drag onto the canvas, or double-click to add)`}
              onDragStart={(e) => startDrag(e, t.type)}
              onDoubleClick={() => onAdd(t.type)}
            >
              <span className={`type-chip type-${t.category}`}>{t.title}</span>
              <span className="palette-description">{t.description}</span>
            </div>
          ))}
        </section>
      ))}
      {matching.length === 0 && <p className="muted">No node type matches “{search}”.</p>}
    </aside>
  );
}
