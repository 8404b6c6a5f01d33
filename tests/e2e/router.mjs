// The router in the browser: a node router is made from the node's panel (a bad candidate list is
// refused by field), compared and trained on its page with the training worker, its curve drawn
// with the chosen threshold; a run of the node is then answered through it, and the run inspector
// shows the decision and the router's page counts the routed call and its saving.
import { BASE_URL, SCREENSHOTS, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const CHEAP = "tiny";
const STRONG = process.env.ORCHESTRA_STRONG; // the same model registered at ten times the price
const TOPICS = ["tea", "coffee", "rain", "snow", "maps", "boats", "bread", "clocks", "stars", "rivers", "salt", "wool", "glass", "paper", "bells"];
const COMPARED = 14;

const SUMMARISE = {
  nodes: [
    { id: "start", type: "input", config: { fields: [{ name: "topic", type: "string", required: true }] } },
    { id: "draft", type: "llm", name: "Draft", config: { model: "auto", prompt: "Say {{ inputs.topic }}", max_tokens: 4 } },
    { id: "end", type: "output", config: { outputs: { post: "{{ nodes.draft.output }}" } } },
  ],
  edges: [{ source: "start", target: "draft" }, { source: "draft", target: "end" }],
};

async function runOnce(page, workflowId, topic) {
  const run = await apiCall(page, "POST", `/api/workflows/${workflowId}/runs`, { inputs: { topic }, wait: 120 });
  assert.equal(run.body.status, "succeeded", JSON.stringify(run.body));
  return run.body;
}

async function waitForJob(page, kind) {
  const row = page.locator(`[data-testid=router-jobs] tr[data-kind=${kind}]`).first();
  await waitFor(async () => ["succeeded", "failed"].includes(await row.getAttribute("data-status")), { timeout: 240_000, message: `the ${kind} job to end` });
  assert.equal(await row.getAttribute("data-status"), "succeeded", await row.innerText());
}

await scenario("router", async (page) => {
  assert.ok(STRONG, "ORCHESTRA_STRONG names the pricier copy of the tiny model");
  await login(page);
  const created = await apiCall(page, "POST", "/api/workflows", { name: "Summarise", graph: SUMMARISE });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const workflowId = created.body.id;
  assert.equal((await apiCall(page, "POST", `/api/workflows/${workflowId}/publish`)).status, 201);
  for (const topic of TOPICS.slice(0, COMPARED)) await runOnce(page, workflowId, topic);

  // Configure: the node's panel makes its router; the same model twice is refused on the field.
  await page.goto(`${BASE_URL}/workflows/${workflowId}`);
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  await page.click("[data-testid=node-routing] > summary");
  const form = page.locator("[data-testid=node-routing] [data-testid=router-form]");
  await form.locator("[name=candidate_0]").selectOption(CHEAP);
  await form.locator("[name=candidate_1]").selectOption(CHEAP);
  await form.locator("button:text-is('Create router')").click();
  await form.locator("[data-path=candidates].field-invalid").waitFor();
  assert.match(await form.locator("[data-path=candidates]").innerText(), /two different models/);
  await form.locator("[name=candidate_1]").selectOption(STRONG);
  await form.locator("[name=target]").fill("90");
  await form.locator("button:text-is('Create router')").click();
  const nodeRouter = page.locator("[data-testid=node-router]");
  await nodeRouter.waitFor();
  assert.equal(await nodeRouter.getAttribute("data-router"), "draft-router");
  assert.equal(await nodeRouter.getAttribute("data-trained"), "false");
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/router-node-panel.png` });

  // Compare, then train, on the router's page.
  await nodeRouter.locator("a:text-is('draft-router')").click();
  await page.waitForURL(/\/routers\?router=/);
  const detail = page.locator("[data-testid=router-detail]");
  await detail.waitFor();
  await detail.locator("[data-testid=router-untrained]").waitFor();
  await detail.locator("[name=sample]").fill(String(COMPARED));
  await detail.locator("button:text-is('Compare candidates')").click();
  await waitForJob(page, "compare");
  assert.match(await page.locator("[data-testid=router-jobs] tr[data-kind=compare]").innerText(), new RegExp(`${COMPARED} of ${COMPARED} prompts`));
  await detail.locator("button:text-is('Train')").click();
  await waitForJob(page, "train");

  // The report: the curve with the chosen point, PGR and the cost saved at the threshold.
  await detail.locator("[data-testid=router-report]").waitFor();
  const routerId = new URL(page.url()).searchParams.get("router");
  const report = (await apiCall(page, "GET", `/api/routers/${routerId}/report`)).body;
  assert.equal(Number(await page.getAttribute("[data-testid=router-curve]", "data-points")), report.training.curve.length);
  assert.ok(report.training.curve.length >= 2, "the curve runs from always-cheap to always-strong");
  await page.locator("[data-testid=router-curve-chosen]").waitFor();
  assert.equal(await page.innerText("[data-testid=router-cost-saved]"), `${(report.training.cost_saved * 100).toFixed(1)}%`);
  assert.ok(report.training.cost_saved > 0.8, "the copy answers the same, so the cheap model answers everything");
  assert.equal(await detail.getAttribute("data-trained"), "true");
  assert.match(await page.locator(`[data-testid=routers] tr[data-router=draft-router]`).innerText(), /yes/);
  if (SCREENSHOTS) await detail.screenshot({ path: `${SCREENSHOTS}/router-report.png` });

  // A run of the node goes through the router; the inspector shows the decision.
  const run = await runOnce(page, workflowId, TOPICS[COMPARED]);
  await page.goto(`${BASE_URL}/runs/${run.id}`);
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  const decision = page.locator("[data-testid=inspector] [data-testid=routing-decision]");
  await decision.waitFor();
  assert.equal(await decision.getAttribute("data-chosen"), CHEAP);
  assert.equal(await decision.getAttribute("data-answered"), CHEAP);
  const facts = await decision.innerText();
  assert.match(facts, new RegExp(`${CHEAP} → ${STRONG}`), "the candidates, cheapest first");
  assert.match(facts, /against threshold \d/, "the score against the threshold");
  assert.match(facts, /Escalations\s+none/);
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/router-decision.png` });

  // The router's page counts the routed call and what it saved against the strong model.
  await page.goto(`${BASE_URL}/routers?router=${routerId}`);
  const usage = page.locator("[data-testid=router-usage]");
  await usage.waitFor();
  assert.equal(await usage.getAttribute("data-calls"), "1");
  assert.match(await page.innerText("[data-testid=router-saving]"), /^\$0\.\d+$/);
  assert.ok(Number((await page.innerText("[data-testid=router-saving]")).slice(1)) > 0, "a saving");
}, { expectedHttpErrors: [{ url: /\/api\/routers$/, statuses: [400] }] }); // the refused candidate list
