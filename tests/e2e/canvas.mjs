// The editor, looked at: a six-node graph opens and tidies at a readable zoom; an approval node has
// exactly its two labelled outlets; a new condition branch reads as unnamed, never "undefined"; the
// output form's Remove stays inside the panel; a node in shadow mode says so on the canvas; and
// new, rename and delete ask with the app's own dialogs (lib.mjs fails on any browser dialog).
import { BASE_URL, SCREENSHOTS, answerDialog, apiCall, assert, cancelDialog, login, scenario, waitFor } from "./lib.mjs";

const READABLE_ZOOM = 0.8; // frontend/src/editor/FitWhenMeasured.tsx

// Spread far apart, as a hand-written graph might be: fitting it whole would need a zoom of ~0.3.
const TRIAGE = {
  nodes: [
    { id: "start", type: "input", name: "Ticket", position: { x: 0, y: 0 }, config: { fields: [{ name: "ticket", type: "string", required: true }] } },
    { id: "draft", type: "llm", name: "Extract", position: { x: 700, y: 0 }, config: { model: "auto", prompt: "Classify: {{ inputs.ticket }}", max_tokens: 4 } },
    { id: "route", type: "condition", name: "Urgent?", position: { x: 1400, y: 0 }, config: { branches: [{ name: "urgent", when: "'!' in inputs.ticket" }] } },
    { id: "review", type: "approval", name: "Escalate?", position: { x: 2100, y: -300 }, config: { prompt: "Escalate {{ inputs.ticket }}?" } },
    { id: "routine_reply", type: "template", name: "Routine reply", position: { x: 2100, y: 300 }, config: { template: "Routine: {{ inputs.ticket }}" } },
    { id: "end", type: "output", name: "Result", position: { x: 2800, y: 0 }, config: { outputs: { label: "{{ nodes.draft.output }}" } } },
  ],
  edges: [
    { source: "start", target: "draft" }, { source: "draft", target: "route" },
    { source: "route", target: "review", branch: "urgent" }, { source: "route", target: "routine_reply", branch: "else" },
    { source: "review", target: "end", branch: "approved" }, { source: "review", target: "end", branch: "rejected" },
    { source: "routine_reply", target: "end" },
  ],
};

const node = (id) => `.react-flow__node[data-id="${id}"]`;

async function zoom(page) {
  return page.locator(".react-flow__viewport").evaluate((el) => new DOMMatrixReadOnly(getComputedStyle(el).transform).a);
}

/** The node's box lies inside the canvas (it can be read without panning). */
async function inCanvas(page, id) {
  const canvas = await page.locator(".canvas").boundingBox();
  const box = await page.locator(node(id)).boundingBox();
  return box.x >= canvas.x && box.y >= canvas.y && box.x + box.width <= canvas.x + canvas.width && box.y + box.height <= canvas.y + canvas.height;
}

async function workflowDialogs(page) {
  await page.goto(`${BASE_URL}/workflows`);
  await page.click("text=New workflow");
  await answerDialog(page, "Scratch");
  await page.waitForURL(/\/workflows\/[^/]+$/);
  await page.click("text=Workflows");
  const row = (name) => page.locator("tr", { has: page.locator(`a:text-is("${name}")`) });
  await row("Scratch").locator("text=Rename").click();
  assert.equal(await page.inputValue("dialog[open] input[name=dialog-value]"), "Scratch", "rename starts from the name");
  await answerDialog(page, "Scratch pad");
  await row("Scratch pad").waitFor();
  await row("Scratch pad").locator("text=Delete").click();
  assert.match(await page.innerText("dialog[open]"), /Delete “Scratch pad”\?[\s\S]*cannot be undone/);
  await cancelDialog(page);
  assert.equal(await row("Scratch pad").count(), 1, "cancel keeps it");
  await row("Scratch pad").locator("text=Delete").click();
  await page.keyboard.press("Escape"); // Escape cancels too
  await page.waitForSelector("dialog[open]", { state: "detached" });
  assert.equal(await row("Scratch pad").count(), 1);
  await row("Scratch pad").locator("text=Delete").click();
  await answerDialog(page);
  await row("Scratch pad").waitFor({ state: "detached" });
}

await scenario("canvas", async (page) => {
  await login(page);
  const workflowId = (await apiCall(page, "POST", "/api/workflows", { name: "Triage", graph: TRIAGE })).body.id;
  assert.equal((await apiCall(page, "POST", `/api/workflows/${workflowId}/publish`)).status, 201);
  const shadow = await apiCall(page, "POST", `/api/workflows/${workflowId}/nodes/draft/deployment`, { state: "shadow", model: "tiny" });
  assert.equal(shadow.status, 200, JSON.stringify(shadow.body));

  // Opened: readable, starting from the input node, even though the whole graph would not fit.
  await page.goto(`${BASE_URL}/workflows/${workflowId}`);
  await page.waitForSelector(node("end"));
  await waitFor(async () => (await zoom(page)) >= READABLE_ZOOM - 0.001, { message: "a readable zoom after loading" });
  assert.ok(await inCanvas(page, "start"), "the flow's start is in view");

  // Tidy: six nodes in five layers, readable again.
  await page.click("button:text-is('Tidy')");
  await waitFor(async () => (await page.getAttribute("[data-testid=save-state]", "data-state")) === "saved", { message: "the tidied layout to save" });
  await waitFor(async () => (await zoom(page)) >= READABLE_ZOOM - 0.001 && (await inCanvas(page, "start")), { message: "a readable zoom after Tidy" });
  const fontSize = await page.locator(`${node("draft")} .flow-node-name`).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(fontSize * (await zoom(page)) >= 9.5, `node names are drawn at ${fontSize} px × zoom`);

  // The approval node: approved and rejected, both labelled, and no unlabelled third outlet.
  const outlets = await page.locator(`${node("review")} .react-flow__handle.source`).evaluateAll((hs) => hs.map((h) => h.dataset.handleid));
  assert.deepEqual(outlets, ["approved", "rejected"]);
  assert.deepEqual(await page.locator(`${node("review")} .outlet-label`).allInnerTexts(), ["approved", "rejected"]);

  // Shadow mode shows on the node, with the student's name.
  const badge = page.locator(`${node("draft")} [data-testid=deployment-badge][data-state=shadow]`);
  assert.match(await badge.innerText(), /^shadow\s+tiny$/i);
  if (SCREENSHOTS) {
    await page.click(`${node("draft")} .flow-node-head`);
    await page.waitForSelector('[data-testid=node-panel][data-node-id="draft"]');
    await page.screenshot({ path: `${SCREENSHOTS}/editor-tidy.png` });
    await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  }

  // A new, empty condition branch.
  await page.click(`${node("route")} .flow-node-head`);
  await page.click("[data-testid=node-panel] >> text=Add branch");
  await waitFor(async () => (await page.locator(`${node("route")} .branch-line`).count()) === 2, { message: "the new branch on the node" });
  const routeText = await page.innerText(node("route"));
  assert.ok(!routeText.includes("undefined"), routeText);
  assert.match(routeText, /unnamed\s+no condition yet/);

  // The output form: every Remove button lies inside the side panel, beside long variable chips.
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.click(".react-flow__controls-fitview"); // the whole graph, to reach the last node
  await page.click(`${node("end")} .flow-node-head`);
  await page.click("[data-testid=node-panel] >> text=Add entry");
  const panelBox = await page.locator(".side-panel").boundingBox();
  const removes = page.locator('[data-testid=node-panel] [data-path="config.outputs"] button:text-is("Remove")');
  assert.equal(await removes.count(), 2);
  for (const box of await removes.evaluateAll((buttons) => buttons.map((b) => b.getBoundingClientRect().toJSON()))) {
    assert.ok(box.right <= panelBox.x + panelBox.width - 8, `Remove ends at ${box.right}, the panel at ${panelBox.x + panelBox.width}`);
  }

  // The draft is saved with its problems (the unnamed branch): leaving asks nothing.
  await waitFor(async () => (await page.getAttribute("[data-testid=save-state]", "data-state")) === "problems", { message: "the draft saved with its problems" });
  await workflowDialogs(page);
});
