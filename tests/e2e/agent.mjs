// Agents end to end: register an MCP server on its page (headers write-only, test connection,
// edit, delete), build an agent in the editor with a workflow tool and one tool of that server
// (a bad entry's error lands on its field; entries reorder and go), run it and read its trajectory,
// live in the test-run panel and afterwards in the run page's inspector.
import { BASE_URL, SCREENSHOTS, answerDialog, apiCall, assert, connect, dragFromPalette, login, scenario, waitFor } from "./lib.mjs";

const MCP_URL = process.env.ORCHESTRA_MCP_URL;
const SECRET = process.env.ORCHESTRA_MCP_SECRET ?? "demo-secret-123";
const node = (id) => `.react-flow__node[data-id="${id}"]`;
const entry = (index) => `[data-testid=tool-entry][data-index="${index}"]`;
const saveState = (page) => page.getAttribute("[data-testid=save-state]", "data-state");
const saved = (page) => waitFor(async () => (await saveState(page)) === "saved", { message: "the draft to save" });

const ORDER_STATUS = {
  nodes: [
    { id: "start", type: "input", config: { fields: [{ name: "order_id", type: "string", required: true }] } },
    { id: "end", type: "output", config: { outputs: { status: "Order {{ inputs.order_id }} left the warehouse on Monday." } } },
  ],
  edges: [{ source: "start", target: "end" }],
};

async function select(page, id) {
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.click(`${node(id)} .flow-node-head`);
  await page.waitForSelector(`[data-testid=node-panel][data-node-id="${id}"]`);
}

async function registerServerOnItsPage(page) {
  await page.click("nav >> text=MCP servers");
  await page.waitForURL(/\/mcp-servers$/);
  await page.click("button:text-is('Add server')");
  const form = page.locator("[data-testid=mcp-form]");
  await form.locator("[name=name]").fill("shop");
  await form.locator("[name=url]").fill(MCP_URL);
  await form.locator("text=Add header").click();
  await form.locator('[name="headers[0].name"]').fill("X-Api-Key");
  await form.locator('[name="headers[0].value"]').fill(SECRET);
  await form.locator("text=Add and connect").click();
  const row = page.locator('tr[data-server="shop"]');
  await row.waitFor();
  // Saving connected and listed the tools; the header's value is never shown again.
  await page.locator('[data-tools-of="shop"] [data-tool="lookup_order"]').waitFor();
  assert.match(await row.innerText(), /X-Api-Key/);
  assert.match(await row.innerText(), /2 tools/);
  assert.ok(!(await page.content()).includes(SECRET), "the header value is not on the page");
  const [stored] = (await apiCall(page, "GET", "/api/mcp-servers")).body;
  assert.deepEqual(stored.header_names, ["X-Api-Key"]);

  await row.locator("text=Test connection").click();
  await page.locator('[data-tools-of="shop"] [data-testid=connection-ok]').waitFor();

  // Editing: stored headers show as rows without values; a new URL asks for them again.
  await row.locator("button:text-is('Edit')").click();
  assert.equal(await form.locator('[name="headers[0].value"]').inputValue(), "");
  assert.equal(await form.locator('[name="headers[0].value"]').getAttribute("placeholder"), "stored — type to replace");
  await form.locator("[name=url]").fill(MCP_URL.replace("127.0.0.1", "localhost"));
  await form.locator("[data-testid=url-changed]").waitFor();
  await form.locator("button:text-is('Cancel')").click();

  // A second server, registered over the API: the list is ordered by name; delete asks first.
  assert.equal((await apiCall(page, "POST", "/api/mcp-servers", { name: "inventory", url: MCP_URL })).status, 201);
  await page.reload();
  await page.locator('tr[data-server="inventory"]').waitFor();
  assert.deepEqual(await page.locator("tr[data-server]").evaluateAll((rows) => rows.map((r) => r.dataset.server)), ["inventory", "shop"]);
  await page.locator('tr[data-server="shop"] button:has-text("2 tools")').click();
  await page.locator('[data-tools-of="shop"] [data-tool="lookup_order"] summary').click();
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/mcp-servers.png` });
  await page.locator('tr[data-server="inventory"] button:text-is("Delete")').click();
  await answerDialog(page);
  await page.locator('tr[data-server="inventory"]').waitFor({ state: "detached" });
}

async function buildAgent(page, toolWorkflowId) {
  await page.click("nav >> text=Workflows");
  await page.click("text=New workflow");
  await answerDialog(page, "Order assistant");
  await page.waitForURL(/\/workflows\/[^/]+$/);
  const workflowId = page.url().split("/").pop();
  await page.waitForSelector(node("input"));
  for (const id of ["input", "output"]) {
    await page.click(`${node(id)} .flow-node-head`);
    await page.keyboard.press("Delete");
    await page.waitForSelector(node(id), { state: "detached" });
  }
  assert.ok(await page.locator('.palette section:has(h3:text-is("AI")) [data-node-type="agent"]').count(), "the agent is in the AI group");
  await dragFromPalette(page, "input", 120, 160);
  await dragFromPalette(page, "agent", 400, 260);
  await dragFromPalette(page, "output", 700, 160);
  for (const id of ["input_1", "agent_1", "output_1"]) await page.waitForSelector(node(id));
  await connect(page, "input_1", "agent_1");
  await connect(page, "agent_1", "output_1");

  await select(page, "input_1");
  await page.click("text=Add input field");
  await page.fill('[name="config.fields[0].name"]', "order_id");
  await select(page, "output_1");
  await page.click("text=Add entry");
  await page.fill('[data-path="config.outputs"] input[aria-label=key]', "answer");
  await page.fill('[name="config.outputs.answer"]', "{{ nodes.agent_1.output }}");

  await select(page, "agent_1");
  await page.fill('[name="config.instructions"]', "You help customers with their orders. Use the tools to look orders up.");
  await page.fill('[name="config.task"]', "Where is order {{ inputs.order_id }}?");
  const picker = page.locator("[data-testid=tool-picker]");
  await picker.locator("button[data-add-tool=workflow]").click();
  await page.selectOption('[name="config.tools[0].workflow"]', { label: "Order status" });
  await page.fill('[name="config.tools[0].name"]', "order_status");
  await picker.locator("button[data-add-tool=mcp]").click();
  await page.selectOption('[name="config.tools[1].server"]', "shop");
  await page.click('[data-path="config.tools[1].tools"] label:has-text("Only these")');
  await page.check('[name="config.tools[1].tools.lookup_order"]');

  // A bad HTTP tool: the draft is saved with its problem, which lands on its field; bad parameters JSON is caught as typed.
  await picker.locator("button[data-add-tool=http]").click();
  await page.fill('[name="config.tools[2].name"]', "not a name");
  await waitFor(async () => (await saveState(page)) === "problems", { message: "the draft to be saved with its problem" });
  await page.waitForSelector('[data-path="config.tools[2].name"] .field-error');
  await page.waitForSelector(`${entry(2)}.invalid`);
  await page.fill('[name="config.tools[2].parameters"]', '{"type": "object", "required": ["id"]}');
  assert.match(await page.innerText("[data-testid=parameters-problem]"), /not in "properties"/);
  await page.click(`${entry(2)} button[aria-label=Remove]`);
  await page.waitForSelector(entry(2), { state: "detached" });

  // Reorder: the MCP server first.
  await page.click(`${entry(1)} button[aria-label="Move up"]`);
  await page.waitForSelector(`${entry(0)}[data-kind=mcp]`);

  // Every tool turn must call a tool; the backend constrains the calls so they are well-formed.
  await page.selectOption('[name="config.tool_choice"]', "required");
  await page.fill('[name="config.max_steps"]', "2");
  await page.fill('[name="config.max_tool_calls"]', "4");
  await saved(page);

  const agent = (await apiCall(page, "GET", `/api/workflows/${workflowId}`)).body.graph.nodes.find((n) => n.id === "agent_1");
  assert.equal(agent.type, "agent");
  assert.deepEqual(agent.config.tools.map((t) => t.kind), ["mcp", "workflow"]);
  // the form writes every field, its default included (evaluation runs may not call a tool unless it says so)
  assert.deepEqual(agent.config.tools[0], { kind: "mcp", server: "shop", tools: ["lookup_order"], evaluation: "refuse" });
  assert.equal(agent.config.tools[1].workflow, String(toolWorkflowId));
  assert.equal(agent.config.tools[1].name, "order_status");
  assert.equal(agent.config.max_steps, 2);
  assert.equal(agent.config.tool_choice, "required");
  assert.equal(agent.config.max_tool_calls, 4);
  assert.match(await page.innerText(node("agent_1")), /2 tools/);
  assert.match(await page.innerText(node("agent_1")), /order_status/);

  await page.click("button:text-is('Tidy')");
  await saved(page);
  await select(page, "agent_1");
  for (const index of [0, 1]) await page.click(`${entry(index)} .tool-entry-summary`);
  await page.waitForSelector(`${entry(1)} [name="config.tools[1].workflow"]`);
  await page.locator("[data-testid=tool-picker]").scrollIntoViewIfNeeded();
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/agent-editor.png` });
  return workflowId;
}

/** The trajectory shown agrees with the run's events: every turn, every call and its outcome. */
async function assertTrajectoryMatches(page, trajectory, runId) {
  const events = (await apiCall(page, "GET", `/api/runs/${runId}/events?after=0`)).body.filter((e) => e.node_id === "agent_1");
  const turns = [...new Map(events.filter((e) => e.type === "agent_turn").map((e) => [e.data.key, e.data])).values()];
  const results = events.filter((e) => e.type === "tool_result").map((e) => e.data);
  assert.ok(turns.length >= 1, "the agent took at least one turn");

  const cards = trajectory.locator("[data-testid=agent-turn]");
  assert.equal(await cards.count(), turns.length, "one card per model turn");
  assert.equal(await cards.last().getAttribute("data-answer"), "true", "the last turn is shown as the answer");
  assert.equal(await trajectory.locator('[data-testid=agent-turn][data-answer="true"]').count(), 1);
  assert.equal(await trajectory.locator('[data-testid=agent-turn][data-final="true"]').count(), turns.filter((t) => t.final).length);
  const requested = turns.flatMap((t) => t.tool_calls.map((c) => c.function.name));
  const shown = await trajectory.locator("[data-testid=tool-call]").evaluateAll((cards) => cards.map((c) => c.dataset.tool));
  assert.deepEqual(shown, requested, "one card per requested call, in order");
  for (const name of shown) assert.ok(["lookup_order", "order_status"].includes(name), `${name} is one of the agent's tools`);
  const okCards = trajectory.locator("[data-testid=tool-call][data-status=ok]");
  const errorCards = trajectory.locator("[data-testid=tool-call][data-status=error]");
  assert.equal(await okCards.count(), results.filter((r) => r.error === undefined || r.error === null).length);
  assert.equal(await errorCards.count(), results.filter((r) => r.error !== undefined && r.error !== null).length);
  // What each tool answers (the MCP server's JSON, the workflow's output) is on the page.
  const text = await trajectory.innerText();
  const marker = { lookup_order: "order_id", order_status: "left the warehouse" };
  for (const result of results.filter((r) => r.error === undefined || r.error === null)) {
    assert.ok(text.includes(marker[result.tool]), `the result of ${result.tool} is shown`);
  }
  assert.match(text, new RegExp(`${turns.length} turns? · ${requested.length} tool calls?`));
  return { turns, results };
}

await scenario("agent", async (page) => {
  assert.ok(MCP_URL, "ORCHESTRA_MCP_URL names the test's MCP server");
  await login(page);
  const tool = await apiCall(page, "POST", "/api/workflows", { name: "Order status", description: "An order's shipping status.", graph: ORDER_STATUS });
  assert.equal(tool.status, 201, JSON.stringify(tool.body));
  assert.equal((await apiCall(page, "POST", `/api/workflows/${tool.body.id}/publish`)).status, 201);

  await registerServerOnItsPage(page);
  const workflowId = await buildAgent(page, tool.body.id);

  // Run it and follow the trajectory live in the test-run panel.
  await page.click(".tabs >> text=Test run");
  await page.fill('[name="input.order_id"]', "A-17");
  await page.click("text=Run draft");
  const live = page.locator('[data-testid=agent-run][data-node-id="agent_1"]');
  await live.locator('[data-testid=turn-in-flight], [data-testid=tool-call][data-status=running]').first().waitFor({ timeout: 90_000 });
  await page.waitForSelector("[data-testid=run-summary][data-run-status=succeeded]", { timeout: 180_000 });
  const runId = new URL(page.url()).searchParams.get("run");
  await live.locator("[data-testid=turn-in-flight]").waitFor({ state: "detached" });
  const { turns, results } = await assertTrajectoryMatches(page, live.locator("[data-testid=trajectory]"), runId);
  console.log(`# ${turns.length} turns, ${results.length} tool calls (${results.map((r) => r.tool).join(", ")})`);

  // The same trajectory in the inspector of the run page, with the answer.
  await page.goto(`${BASE_URL}/runs/${runId}`);
  await page.click(`${node("agent_1")} .flow-node-head`);
  const inspector = page.locator("[data-testid=inspector]");
  await inspector.locator("[data-testid=trajectory]").waitFor();
  await assertTrajectoryMatches(page, inspector.locator("[data-testid=trajectory]"), runId);
  const run = (await apiCall(page, "GET", `/api/runs/${runId}`)).body;
  const answer = run.nodes.find((n) => n.node_id === "agent_1").output;
  assert.equal(run.outputs.answer, answer);
  if (typeof answer === "string" && answer.trim()) assert.ok((await inspector.locator("[data-testid=node-output]").innerText()).includes(answer.trim().slice(0, 20)));
  assert.match(await inspector.innerText(), new RegExp(turns[0].model));
  await page.locator("h2.inspected").evaluate((heading) => heading.scrollIntoView({ block: "start" }));
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/agent-trajectory.png` });
  console.log(`# run ${runId} of workflow ${workflowId} at ${BASE_URL}`);
});
