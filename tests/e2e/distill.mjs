// Distillation from the browser: a node with enough traces is distilled from its side panel (the
// preview refuses until the minimum is lowered), the job is followed live to its report (through a
// dropped WebSocket, resumed from the last event it had), the
// student is deployed, shadowed, promoted and rolled back on the node, and the savings page shows
// both models and the shadow agreement. A second, long job is cancelled from its page.
import { BASE_URL, SCREENSHOTS, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const STUDENT = process.env.ORCHESTRA_STUDENT;
const TRACES = 12;
const TOPICS = ["tea", "coffee", "rain", "snow", "maps", "boats", "bread", "clocks", "stars", "rivers", "salt", "wool", "glass", "paper", "bells", "kites", "honey"];

const SUMMARISE = {
  nodes: [
    { id: "start", type: "input", config: { fields: [{ name: "topic", type: "string", required: true }] } },
    { id: "draft", type: "llm", name: "Draft", config: { model: "auto", prompt: "Say {{ inputs.topic }}", max_tokens: 4 } },
    { id: "end", type: "output", config: { outputs: { post: "{{ nodes.draft.output }}" } } },
  ],
  edges: [{ source: "start", target: "draft" }, { source: "draft", target: "end" }],
};

/** Run the published workflow once per topic through the API; returns the finished runs. */
async function runAll(page, workflowId, topics) {
  const runs = [];
  for (const topic of topics) {
    const run = await apiCall(page, "POST", `/api/workflows/${workflowId}/runs`, { inputs: { topic }, wait: 120 });
    assert.equal(run.body.status, "succeeded", JSON.stringify(run.body));
    runs.push(run.body);
  }
  return runs;
}

/** Open the editor on the draft node's distillation section. */
async function openNodeDistillation(page, workflowId) {
  await page.goto(`${BASE_URL}/workflows/${workflowId}`);
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  await page.click("[data-testid=node-distillation] > summary");
  await page.waitForSelector("[data-testid=deployment]");
}

async function moveDeployment(page, button, state) {
  await page.click(`[data-testid=node-distillation] button:text-is("${button}")`);
  await page.waitForSelector(`[data-testid=deployment][data-state=${state}]`);
  // The canvas says it too: a badge on the node in shadow or student mode, none for the teacher.
  const badge = '.react-flow__node[data-id="draft"] [data-testid=deployment-badge]';
  if (state === "teacher") await page.waitForSelector(badge, { state: "detached" });
  else await page.waitForSelector(`${badge}[data-state=${state}]`);
}

await scenario("distill", async (page) => {
  assert.ok(STUDENT, "ORCHESTRA_STUDENT names the registered student base model");
  // Every job WebSocket passes through the test, which drops the first one at its first progress
  // event, the way a flaky network would, before the page has seen that event.
  const sockets = [];
  let drop = null;
  await page.routeWebSocket(/\/ws\/distillations\//, (socket) => {
    const server = socket.connectToServer();
    let lastForwarded = Number(new URL(socket.url()).searchParams.get("after"));
    let closed = false;
    server.onMessage((message) => {
      if (closed) return;
      const event = JSON.parse(message);
      if (drop === null && event.type === "progress") {
        drop = { lastForwarded, seq: event.seq };
        closed = true;
        return socket.close({ code: 1011, reason: "test drops the connection" });
      }
      lastForwarded = event.seq;
      socket.send(message);
    });
    sockets.push(socket);
  });
  await login(page);
  const created = await apiCall(page, "POST", "/api/workflows", { name: "Summarise", graph: SUMMARISE });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const workflowId = created.body.id;
  assert.equal((await apiCall(page, "POST", `/api/workflows/${workflowId}/publish`)).status, 201);
  await runAll(page, workflowId, TOPICS.slice(0, TRACES));

  // The job form: the preview refuses with the default minimum, and Launch stays disabled.
  await openNodeDistillation(page, workflowId);
  assert.equal(await page.getAttribute("[data-testid=deployment]", "data-state"), "teacher");
  await page.click("button:text-is('Distill…')");
  const form = page.locator("[data-testid=distill-form]");
  // The method list is the server's (GET /api/distillation-methods), every one of them.
  const served = (await apiCall(page, "GET", "/api/distillation-methods")).body.map((m) => m.name);
  await form.locator("[name=method] option[value=skew_reverse_kl]").waitFor({ state: "attached" });
  assert.deepEqual(await form.locator("[name=method] option").evaluateAll((os) => os.map((o) => o.value)), served);
  assert.ok(served.includes("skew_kl") && served.includes("skew_reverse_kl"), served.join());
  await form.locator("[name=student]").fill(STUDENT);
  await page.waitForSelector("[data-testid=distill-preview][data-state=refused]");
  assert.match(await form.locator("[data-testid=distill-preview] .error-list").innerText(), /min_examples/);
  assert.ok(await form.locator("button:text-is('Launch')").isDisabled(), "Launch is disabled while the preview refuses");

  // Small enough for two CPU cores, with a validation pass to draw.
  await form.locator("[name=lora_rank]").fill("4");
  await form.locator("[name=max_steps]").fill("6");
  await form.locator("[name=batch_size]").fill("4");
  await form.locator("[name=eval_every]").fill("3");
  await form.locator("[name=held_out]").fill("20");
  await form.locator("[name=min_examples]").fill("8");
  assert.equal(await form.locator("[name=eval_tokens]").inputValue(), "4", "evaluation replies default to the node's max_tokens");
  await page.waitForSelector("[data-testid=distill-preview][data-state=ready]");
  assert.match(await form.locator("[data-testid=preview-matched]").innerText(), new RegExp(`^${TRACES} matched`));
  const splits = (await form.locator("[data-testid=preview-splits]").innerText()).match(/\d+/g).map(Number);
  assert.equal(splits.reduce((a, b) => a + b, 0), TRACES, "the splits share out every matched trace");
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/distill-form.png` });
  await form.locator("button:text-is('Launch')").click();

  // The job page follows the job live to its evaluation.
  await page.waitForURL(/\/distillations\/[^/]+$/);
  const jobId = page.url().split("/").at(-1);
  await page.waitForSelector("[data-testid=job][data-status=succeeded]", { timeout: 240_000 });
  const job = (await apiCall(page, "GET", `/api/distillations/${jobId}`)).body;
  assert.equal(job.status, "succeeded", job.error);
  await waitFor(async () => Number(await page.getAttribute("[data-testid=loss-chart]", "data-points")) === 6, { message: "six loss points on the curve" });
  assert.ok(await page.locator(".series-validation-dot").count() > 0, "validation loss is drawn");
  assert.equal(await page.innerText("[data-testid=verdict]"), job.report.verdict);
  assert.match(await page.innerText("[data-testid=job-report]"), /Before training[\s\S]*After training[\s\S]*vs teacher · exact match/);
  const events = (await apiCall(page, "GET", `/api/distillations/${jobId}/events?after=0`)).body;
  await waitFor(async () => Number(await page.getAttribute("[data-testid=event-log]", "data-count")) === events.length,
    { message: `the page to hold all ${events.length} job events` });
  assert.equal(Number(await page.getAttribute("[data-testid=event-log]", "data-last-seq")), events.at(-1).seq);
  assert.ok(events.some((e) => e.type === "progress") && events.some((e) => e.type === "evaluation"));
  assert.ok(drop && sockets.length >= 2, "the page reconnected after the dropped connection");
  assert.ok(Number(new URL(sockets[1].url()).searchParams.get("after")) >= drop.seq, "the reconnect resumed after what the page already had");

  await page.fill("[name=deploy-name]", "draft-student");
  await page.click("button:text-is('Deploy')");
  await page.waitForSelector("[data-testid=deployed-model] >> text=draft-student");
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/distill.png`, fullPage: true });

  // On the node: shadow, then promote; runs use the student once promoted.
  await openNodeDistillation(page, workflowId);
  assert.equal(await page.locator("[name=deployment-student]").inputValue(), "draft-student");
  assert.ok(await page.locator("[data-testid=node-distillation] button:text-is('Promote')").isDisabled(), "promote comes after shadow");
  await moveDeployment(page, "Shadow", "shadow");
  const shadowRuns = await runAll(page, workflowId, TOPICS.slice(TRACES, TRACES + 3));
  assert.ok(shadowRuns.every((run) => run.nodes.find((n) => n.node_id === "draft").model === "tiny"), "in shadow the teacher answers");
  await moveDeployment(page, "Promote", "student");
  const [studentRun] = await runAll(page, workflowId, TOPICS.slice(TRACES + 3, TRACES + 4));
  assert.equal(studentRun.nodes.find((n) => n.node_id === "draft").model, "draft-student", "once promoted the student answers");
  assert.match(await page.innerText("[data-testid=deployment-changes]"), /shadow → student[\s\S]*teacher → shadow/);
  if (SCREENSHOTS) {
    await page.locator("[data-testid=node-distillation]").scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SCREENSHOTS}/distill-node.png` });
  }

  // Savings: both models, the shadow agreement, then roll back.
  await page.goto(`${BASE_URL}/savings?workflow=${workflowId}`);
  const node = page.locator("[data-testid=node-savings][data-node-id=draft]");
  await node.waitFor();
  assert.equal(await node.getAttribute("data-state"), "student");
  const table = await node.locator("table").innerText();
  assert.match(table, /tiny/);
  assert.match(table, /draft-student/);
  assert.match(await node.locator("[data-testid=shadow-agreement]").innerText(), /^\d+(\.\d)?%$/);
  assert.match(await node.locator("[data-testid=shadow-side-by-side]").innerText(), /student \d+ ms a call, \$[\d.]+ in all; teacher \d+ ms/);
  assert.equal(await node.locator(".bar-chart").count(), 2);
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/savings.png`, fullPage: true });

  await openNodeDistillation(page, workflowId);
  await moveDeployment(page, "Roll back", "teacher");
  const [rolledBack] = await runAll(page, workflowId, TOPICS.slice(TRACES + 4, TRACES + 5));
  assert.equal(rolledBack.nodes.find((n) => n.node_id === "draft").model, "tiny", "after a rollback the teacher answers again");

  // A long job is cancelled from its page while it trains.
  const long = await apiCall(page, "POST", "/api/distillations", {
    workflow: workflowId, node_id: "draft", student: STUDENT, method: "sft",
    config: { data: { min_examples: 8 }, lora: { r: 4, alpha: 8 }, train: { max_steps: 5000, batch_size: 2, eval_every: 5000 }, eval: { max_new_tokens: 4 } },
  });
  assert.equal(long.status, 201, JSON.stringify(long.body));
  await page.goto(`${BASE_URL}/distillations/${long.body.id}`);
  await page.waitForSelector("[data-testid=job-progress]", { timeout: 120_000 });
  await page.click("button:text-is('Cancel')");
  await page.waitForSelector("[data-testid=job][data-status=cancelled]", { timeout: 60_000 });
  assert.ok((await apiCall(page, "GET", `/api/distillations/${long.body.id}`)).body.progress.step < 5000, "cancelled before the end");
});
