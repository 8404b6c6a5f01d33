// A run followed live: reload the page mid-run and still hold every event exactly once, answer an
// approval node from the inspector, then read the finished run on its own page.
import { BASE_URL, SCREENSHOTS, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const node = (id) => `.react-flow__node[data-id="${id}"]`;

const REVIEWED_POST = {
  nodes: [
    { id: "start", type: "input", config: { fields: [{ name: "topic", type: "string", required: true }] } },
    { id: "draft", type: "llm", name: "Draft", config: { model: "auto", system: "You write blog posts.", prompt: "Write about {{ inputs.topic }}", max_tokens: 24 } },
    { id: "review", type: "approval", name: "Editor review", config: { prompt: "Publish this? {{ nodes.draft.output }}" } },
    { id: "end", type: "output", config: { outputs: { post: "{{ nodes.draft.output }}", review: "{{ nodes.review.output }}" } } },
  ],
  edges: [
    { source: "start", target: "draft" },
    { source: "draft", target: "review" },
    { source: "review", target: "end", branch: "approved" },
  ],
};

/** The page holds exactly the server's events: same count, same last seq (seqs are 1..N). */
async function assertHoldsEveryEvent(page, runId) {
  const events = (await apiCall(page, "GET", `/api/runs/${runId}/events?after=0`)).body;
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), "the server numbers events 1..N");
  await waitFor(async () => Number(await page.getAttribute("[data-testid=event-log]", "data-count")) === events.length,
    { message: `the page to hold all ${events.length} events` });
  assert.equal(Number(await page.getAttribute("[data-testid=event-log]", "data-last-seq")), events.length);
  return events;
}

await scenario("live", async (page) => {
  // Every run WebSocket passes through the test, which can cut it like a flaky network would, or
  // hold one connection's stream right after its first token, to look at the page mid-generation.
  const sockets = [];
  let holdNextSocket = null;
  await page.routeWebSocket(/\/ws\/runs\//, (socket) => {
    const hold = holdNextSocket;
    holdNextSocket = null;
    const server = socket.connectToServer();
    server.onMessage((message) => {
      if (hold && hold.firstToken !== null && !hold.released) return hold.held.push(message);
      socket.send(message);
      const event = JSON.parse(message);
      if (hold && event.type === "token" && hold.firstToken === null) hold.firstToken = event.data.text;
    });
    sockets.push(socket);
  });
  await login(page);
  const created = await apiCall(page, "POST", "/api/workflows", { name: "Reviewed post", graph: REVIEWED_POST });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const workflowId = created.body.id;

  await page.goto(`${BASE_URL}/workflows/${workflowId}`);
  await page.click(".tabs >> text=Test run");
  await page.fill('[name="input.topic"]', "green tea");
  await page.click("text=Run draft");
  await page.waitForURL(/[?&]run=/);
  const runId = new URL(page.url()).searchParams.get("run");

  // Reload while the run is in flight; the page replays from seq 0 and goes on live.
  // (Once the page follows the run, so the hold lands on the reloaded page's connection.)
  await waitFor(() => sockets.length === 1, { message: "the page to follow the run" });
  const hold = { firstToken: null, held: [], released: false };
  holdNextSocket = hold;
  await page.reload();
  await waitFor(() => hold.firstToken !== null, { timeout: 90_000, message: "the first streamed token" });
  const streamed = page.locator(`${node("draft")} .flow-node-stream`);
  await waitFor(async () => (await streamed.count()) === 1 && (await streamed.textContent()) === hold.firstToken,
    { message: "the node to show the tokens streamed so far" });
  hold.released = true;
  for (const message of hold.held.splice(0)) sockets.at(-1).send(message);
  await page.waitForSelector(`${node("review")} [data-status=waiting]`, { timeout: 90_000 });
  await page.waitForSelector("[data-testid=run-summary][data-run-status=waiting]");
  const beforeAnswer = await assertHoldsEveryEvent(page, runId);

  // Drop the live connection: the page reconnects asking only for what came after its last event.
  const dropped = sockets.length;
  sockets.at(-1).close({ code: 1011, reason: "test drops the connection" });
  await waitFor(() => sockets.length > dropped, { message: "the page to reconnect" });
  assert.equal(new URL(sockets.at(-1).url()).searchParams.get("after"), String(beforeAnswer.length));
  assert.ok(beforeAnswer.some((e) => e.type === "node_waiting" && e.node_id === "review"));
  if (beforeAnswer.some((e) => e.type === "token")) {
    assert.match(await page.innerText("[data-testid=event-log]"), /token/, "streamed tokens show in the event log");
  }

  // Answer the approval from the inspector.
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.click(`${node("review")} .flow-node-head`);
  await page.fill('[name="approval-value"]', '"Looks good"');
  await page.click("button:has-text('Approve')");
  await page.click(".tabs >> text=Test run");
  await page.waitForSelector("[data-testid=run-summary][data-run-status=succeeded]", { timeout: 60_000 });
  const all = await assertHoldsEveryEvent(page, runId);
  assert.equal(all.at(-1).type, "run_succeeded");
  const run = (await apiCall(page, "GET", `/api/runs/${runId}`)).body;
  assert.equal(run.status, "succeeded");
  assert.equal(run.trigger, "editor", "a test run from the editor says so");
  assert.equal(run.nodes.find((n) => n.node_id === "review").status, "succeeded");

  // The run page: the graph with each node's state, totals, and the same inspector.
  await page.goto(`${BASE_URL}/runs/${runId}`);
  await page.waitForSelector("[data-testid=run-totals]");
  await waitFor(async () => (await page.locator(".react-flow__node [data-status=succeeded]").count()) === 4, { message: "four succeeded nodes" });
  const totals = await page.innerText("[data-testid=run-totals]");
  const tokensIn = run.nodes.reduce((sum, n) => sum + (n.tokens_in ?? 0), 0);
  assert.match(totals, new RegExp(`${tokensIn.toLocaleString("en-US")} in`), "totals show the run's input tokens");
  await page.click(`${node("draft")} .flow-node-head`);
  assert.match(await page.innerText("[data-testid=inspector]"), /tiny/);
  await assertHoldsEveryEvent(page, runId);
  await page.click(`${node("review")} .flow-node-head`);
  assert.match(await page.innerText("[data-testid=inspector]"), /Looks good/, "the approval's answer is its output");
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/run.png` });
});
