// Build a three-node workflow by dragging from the palette, see a validation error on a node and
// fix it, then test-run it on the tiny local model and read the output in the inspector.
import { BASE_URL, SCREENSHOTS, answerDialog, apiCall, assert, connect, dragFromPalette, login, scenario, waitFor } from "./lib.mjs";

const node = (id) => `.react-flow__node[data-id="${id}"]`;
const saveState = (page) => page.getAttribute("[data-testid=save-state]", "data-state");

async function select(page, id) {
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.click(`${node(id)} .flow-node-head`);
  await page.waitForSelector(`[data-testid=node-panel][data-node-id="${id}"]`);
}

await scenario("editor", async (page) => {
  await login(page);

  await page.click("text=New workflow");
  await answerDialog(page, "Blog writer");
  await page.waitForURL(/\/workflows\/[^/]+$/);
  const workflowId = page.url().split("/").pop();
  await page.waitForSelector(node("input"));

  // Start from an empty canvas: the starter nodes go with the keyboard.
  for (const id of ["input", "output"]) {
    await page.click(`${node(id)} .flow-node-head`);
    await page.keyboard.press("Delete");
    await page.waitForSelector(node(id), { state: "detached" });
  }

  await dragFromPalette(page, "input", 140, 200);
  await dragFromPalette(page, "llm", 420, 320);
  await dragFromPalette(page, "output", 700, 200);
  for (const id of ["input_1", "llm_1", "output_1"]) await page.waitForSelector(node(id));
  await connect(page, "input_1", "llm_1");
  await connect(page, "llm_1", "output_1");
  await waitFor(async () => (await page.locator(".react-flow__edge").count()) === 2, { message: "two edges" });

  await select(page, "input_1");
  await page.click("text=Add input field");
  await page.fill('[name="config.fields[0].name"]', "topic");

  await select(page, "output_1");
  await page.click("text=Add entry");
  await page.fill('[data-path="config.outputs"] input[aria-label=key]', "post");
  await page.fill('[name="config.outputs.post"]', "{{ nodes.llm_1.output }}");

  // The LLM node has no prompt yet: the draft is saved as it is, and the problem lands on the node and field.
  await select(page, "llm_1");
  await page.fill('[name="config.max_tokens"]', "8");
  await waitFor(async () => (await saveState(page)) === "problems", { message: "the draft to be saved with its problem" });
  const draft = (await apiCall(page, "GET", `/api/workflows/${workflowId}`)).body;
  assert.equal(draft.graph.nodes.find((n) => n.id === "llm_1").config.max_tokens, 8, "the invalid draft is stored");
  assert.equal(draft.problems.length, 1);
  assert.ok(draft.problems[0].path.endsWith(".config.prompt"), JSON.stringify(draft.problems));
  await page.waitForSelector(`${node("llm_1")} .flow-node.invalid`);
  await page.waitForSelector('[data-path="config.prompt"] .field-error');
  assert.equal(await page.locator(".flow-node.invalid").count(), 1, "only the LLM node is invalid");
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/editor-validation.png` });

  // Fix it, using the suggested variable for the upstream input.
  await page.fill('[name="config.prompt"]', "Write about ");
  await page.click('[data-path="config.prompt"] .suggestions >> text=inputs.topic');
  assert.equal(await page.inputValue('[name="config.prompt"]'), "Write about {{ inputs.topic }}");
  await waitFor(async () => (await saveState(page)) === "saved", { message: "the draft to save" });
  assert.equal(await page.locator(".flow-node.invalid").count(), 0);

  const stored = (await apiCall(page, "GET", `/api/workflows/${workflowId}`)).body.graph;
  assert.deepEqual(stored.nodes.map((n) => n.type).sort(), ["input", "llm", "output"]);
  assert.deepEqual(stored.edges.map((e) => `${e.source}>${e.target}`).sort(), ["input_1>llm_1", "llm_1>output_1"]);
  assert.equal(stored.nodes.find((n) => n.id === "llm_1").config.prompt, "Write about {{ inputs.topic }}");

  await page.click("button:text-is('Tidy')");
  await waitFor(async () => (await saveState(page)) === "saved", { message: "the tidied layout to save" });

  // Test run from the form generated from the input node's fields.
  await page.click(".tabs >> text=Test run");
  await page.fill('[name="input.topic"]', "tea");
  await page.click("text=Run draft");
  await page.waitForSelector("[data-testid=run-summary][data-run-status=succeeded]", { timeout: 90_000 });
  await page.waitForSelector(`${node("llm_1")} [data-status=succeeded]`);

  await select(page, "llm_1");
  const inspector = page.locator("[data-testid=inspector]");
  await inspector.waitFor();
  const output = (await inspector.locator("[data-testid=node-output]").innerText()).trim();
  assert.ok(output.length > 0 && output !== "—", "the LLM node's output is shown");
  assert.match(await inspector.innerText(), /tiny/, "the inspector names the model that answered");
  const runId = new URL(page.url()).searchParams.get("run");
  const run = (await apiCall(page, "GET", `/api/runs/${runId}`)).body;
  assert.equal(run.nodes.find((n) => n.node_id === "llm_1").output, output);
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/editor.png` });
  console.log(`# run ${runId} at ${BASE_URL}`);
});
