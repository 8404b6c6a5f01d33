// The run page's Retry and Rerun: a run whose HTTP node got a 500 is opened, retried from its failed
// node (the model step before it keeps its result: one trace, one start), and then rerun with an
// edited input, which opens the new run. Then a map whose items wait on approvals in their own runs:
// one is answered on the map's node, the next on the item's run, and the map's run goes on.
// Screenshots of each state are saved to look at.
import { BASE_URL, SCREENSHOTS, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";
import { join } from "node:path";

const FLAKY_URL = process.env.ORCHESTRA_FLAKY_URL;

const STOCK_NOTE = {
  nodes: [
    { id: "start", type: "input", name: "Product", position: { x: 0, y: 0 }, config: { fields: [{ name: "product", type: "string", required: true }] } },
    { id: "draft", type: "llm", name: "Draft note", position: { x: 280, y: 0 }, config: { model: "auto", prompt: "A note about {{ inputs.product }}", max_tokens: 4 } },
    { id: "stock", type: "http", name: "Check stock", position: { x: 560, y: 0 }, config: { method: "GET", url: FLAKY_URL } },
    { id: "end", type: "output", name: "Note", position: { x: 840, y: 0 }, config: { outputs: { note: "{{ nodes.draft.output }}", product: "{{ inputs.product }}", in_stock: "{{ nodes.stock.output.body.ok }}" } } },
  ],
  edges: [{ source: "start", target: "draft" }, { source: "draft", target: "stock" }, { source: "stock", target: "end" }],
};

const nodeStatus = (page, id) => page.getAttribute(`.react-flow__node[data-id="${id}"] [data-status]`, "data-status");

async function shot(page, name) {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
}

/** The run page shows run `runId` (not the page it came from, still drawn while the next one loads)
 * in `status`. */
async function showsStatus(page, runId, status) {
  await page.waitForSelector(`[data-testid=run-totals][data-run="${runId}"] .badge.status-${status}`, { timeout: 90_000 });
}

const REFUND = {
  nodes: [
    { id: "start", type: "input", config: { fields: [{ name: "amount", type: "number", required: true }] } },
    { id: "ask", type: "approval", name: "Refund?", config: { prompt: "Refund {{ inputs.amount }}?" } },
    { id: "end", type: "output", config: { outputs: { result: "refunded {{ inputs.amount }}" } } },
  ],
  edges: [{ source: "start", target: "ask" }, { source: "ask", target: "end", branch: "approved" }],
};

const refunds = (childId) => ({
  nodes: [
    { id: "start", type: "input", position: { x: 0, y: 0 }, config: { fields: [] } },
    { id: "each", type: "map", name: "Each refund", position: { x: 300, y: 0 }, config: { items: "[3, 5]", workflow: childId, inputs: { amount: "{{ item }}" } } },
    { id: "end", type: "output", position: { x: 600, y: 0 }, config: { outputs: { results: "{{ nodes.each.output }}" } } },
  ],
  edges: [{ source: "start", target: "each" }, { source: "each", target: "end" }],
});

async function published(page, name, graph) {
  const created = await apiCall(page, "POST", "/api/workflows", { name, graph });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await apiCall(page, "POST", `/api/workflows/${created.body.id}/publish`)).status, 201);
  return created.body.id;
}

/** The approval form of the selected node asks `prompt`. */
async function asks(page, prompt) {
  await page.waitForSelector(`[data-testid=approval-form] >> text=${prompt}`, { timeout: 90_000 });
}

/** The toolbar and the run panel fit the window: nothing sticks out to the right or is cut off. */
async function assertFits(page) {
  const overflowing = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll(".toolbar > *, .side-panel *")]
      .filter((el) => el.getBoundingClientRect().right > width + 1 || el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "hidden")
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${el.textContent?.slice(0, 40)}`);
  });
  assert.deepEqual(overflowing, [], "elements of the run page overflow it");
}

await scenario("runs", async (page) => {
  assert.ok(FLAKY_URL, "ORCHESTRA_FLAKY_URL names the server that fails once");
  await login(page);
  const created = await apiCall(page, "POST", "/api/workflows", { name: "Stock note", graph: STOCK_NOTE });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const workflowId = created.body.id;
  assert.equal((await apiCall(page, "POST", `/api/workflows/${workflowId}/publish`)).status, 201);
  const started = await apiCall(page, "POST", `/api/workflows/${workflowId}/runs`, { inputs: { product: "green tea" } });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const runId = started.body.id;

  // The failed run, on its page: the model step succeeded, the HTTP node failed, the output never ran.
  await page.goto(`${BASE_URL}/runs/${runId}`);
  await showsStatus(page, runId, "failed");
  await waitFor(async () => (await nodeStatus(page, "stock")) === "failed", { message: "the HTTP node to show failed" });
  assert.equal(await nodeStatus(page, "draft"), "succeeded");
  assert.match(await page.innerText(".side-panel"), /HTTP 500/);
  await assertFits(page);
  await shot(page, "run-failed.png");

  // Retry: the same run goes on from the failed node and succeeds; the model step is not run again.
  await page.click("button:text-is('Retry from failed node')");
  await showsStatus(page, runId, "succeeded");
  await waitFor(async () => (await nodeStatus(page, "end")) === "succeeded", { message: "the output node to succeed" });
  assert.equal(new URL(page.url()).pathname, `/runs/${runId}`, "a retry stays on the same run");
  const events = (await apiCall(page, "GET", `/api/runs/${runId}/events?after=0`)).body;
  const starts = (id) => events.filter((e) => e.type === "node_started" && e.node_id === id).length;
  assert.deepEqual([starts("draft"), starts("stock")], [1, 2], "the finished node kept its result; the failed one ran again");
  assert.equal(events.filter((e) => e.type === "run_retried").length, 1);
  const traces = (await apiCall(page, "GET", `/api/traces?run=${runId}`)).body;
  assert.equal((traces.results ?? traces).length, 1, "the model was called once");
  assert.match(await page.innerText("[data-testid=run-outputs]"), /"in_stock": true/);
  await assertFits(page);
  await shot(page, "run-retried.png");

  // Rerun with an edited input: a new run of the same version opens, with that input.
  await page.click("button:text-is('Rerun…')");
  const inputs = page.locator("textarea[aria-label='Rerun inputs']");
  assert.deepEqual(JSON.parse(await inputs.inputValue()), { product: "green tea" });
  await inputs.fill(JSON.stringify({ product: "oolong" }, null, 2));
  await assertFits(page);
  await shot(page, "run-rerun-form.png");
  await page.click("button:text-is('Start rerun')");
  await page.waitForURL((url) => url.pathname.startsWith("/runs/") && url.pathname !== `/runs/${runId}`);
  const rerunId = new URL(page.url()).pathname.split("/").pop();
  await showsStatus(page, rerunId, "succeeded");
  const rerun = (await apiCall(page, "GET", `/api/runs/${rerunId}`)).body;
  assert.deepEqual([rerun.trigger, rerun.version, rerun.inputs], ["rerun", 1, { product: "oolong" }]);
  assert.match(await page.innerText("[data-testid=run-outputs]"), /"product": "oolong"/);
  assert.equal(rerun.trigger_ref, runId);
  await assertFits(page);
  await shot(page, "run-rerun.png");
  await page.click("[data-testid=rerun-of]"); // back to the run it repeats
  await page.waitForURL((url) => url.pathname === `/runs/${runId}`);

  // A map whose items wait on approvals: answered on the map's node, then on the item's own run.
  const childId = await published(page, "Refund", REFUND);
  const parentId = await published(page, "Refunds", refunds(childId));
  const parent = (await apiCall(page, "POST", `/api/workflows/${parentId}/runs`, { inputs: {} })).body;
  await page.goto(`${BASE_URL}/runs/${parent.id}`);
  await showsStatus(page, parent.id, "waiting");
  await page.click('.react-flow__node[data-id="each"]');
  await asks(page, "Refund 3?");
  assert.match(await page.innerText("[data-testid=waits-in]"), /item 0's run/);
  await assertFits(page);
  await shot(page, "run-waiting-on-item.png");
  await page.click("[data-testid=approval-form] button:text-is('Approve')");
  await asks(page, "Refund 5?");
  assert.match(await page.innerText("[data-testid=waits-in]"), /item 1's run/);

  await page.click("[data-testid=waits-in] a");
  await page.waitForURL((url) => url.pathname.startsWith("/runs/") && url.pathname !== `/runs/${parent.id}`);
  const itemRunId = new URL(page.url()).pathname.split("/").pop();
  await showsStatus(page, itemRunId, "waiting");
  await page.click('.react-flow__node[data-id="ask"]');
  await asks(page, "Refund 5?");
  await page.click("[data-testid=approval-form] button:text-is('Approve')");
  await showsStatus(page, itemRunId, "succeeded");

  await page.goto(`${BASE_URL}/runs/${parent.id}`);
  await showsStatus(page, parent.id, "succeeded");
  await waitFor(async () => (await nodeStatus(page, "end")) === "succeeded", { message: "the map's run to be drawn" });
  const parentEvents = (await apiCall(page, "GET", `/api/runs/${parent.id}/events?after=0`)).body;
  assert.equal(parentEvents.filter((e) => e.type === "run_waiting").length, 2, "waited on each item once");
  assert.equal(parentEvents.filter((e) => e.type === "run_resumed").length, 2, "answered on the node, woken by the item");
  assert.match(await page.innerText("[data-testid=run-outputs]"), /refunded 3[\s\S]*refunded 5/);
  assert.match(await page.innerText("[data-testid=event-log]"), /item_succeeded\s+each\s+item 1/, "the log names each item that succeeded");
  await assertFits(page);
  await shot(page, "run-map-answered.png");
});
