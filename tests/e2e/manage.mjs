// The pages around the editor: the workflows list (rename, duplicate, delete, export, import),
// publish and version restore, copy/paste and undo/redo, runs filters, models, traces.
import { readFileSync } from "node:fs";
import { BASE_URL, answerDialog, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const BLOG = {
  nodes: [
    { id: "start", type: "input", config: { fields: [{ name: "topic", type: "string", required: true }] } },
    { id: "draft", type: "llm", config: { model: "auto", prompt: "Write about {{ inputs.topic }}", max_tokens: 8, metadata: { team: "blog" } } },
    { id: "end", type: "output", config: { outputs: { post: "{{ nodes.draft.output }}" } } },
  ],
  edges: [{ source: "start", target: "draft" }, { source: "draft", target: "end" }],
};

const row = (page, name) => page.locator("tr", { has: page.locator(`a:text-is("${name}")`) });

await scenario("manage", async (page) => {
  await login(page);
  const workflowId = (await apiCall(page, "POST", "/api/workflows", { name: "Blog", graph: BLOG })).body.id;
  const run = await apiCall(page, "POST", `/api/workflows/${workflowId}/runs`, { inputs: { topic: "tea" }, version: "draft", wait: 60 });
  assert.equal(run.body.status, "succeeded", JSON.stringify(run.body));

  // Workflows list.
  await page.goto(`${BASE_URL}/workflows`);
  await row(page, "Blog").locator(".status-succeeded").waitFor();
  await row(page, "Blog").locator("text=Rename").click();
  await answerDialog(page, "Blog post");
  await row(page, "Blog post").waitFor();
  await row(page, "Blog post").locator("text=Duplicate").click();
  await row(page, "Blog post (copy)").waitFor();
  await row(page, "Blog post (copy)").locator("text=Delete").click();
  await answerDialog(page);
  await row(page, "Blog post (copy)").waitFor({ state: "detached" });

  const [download] = await Promise.all([page.waitForEvent("download"), row(page, "Blog post").locator("text=Export").click()]);
  const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
  assert.equal(exported.orchestra, 1);
  assert.equal(exported.name, "Blog post");
  await page.setInputFiles("[data-testid=import-file]", { name: "blog.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(exported)) });
  await waitFor(async () => (await row(page, "Blog post").count()) === 2, { message: "the imported copy" });

  // Editor: publish, copy/paste, undo/redo, restore a version.
  await page.goto(`${BASE_URL}/workflows/${workflowId}`);
  await page.waitForSelector('.react-flow__node[data-id="draft"]');
  await page.click("button:text-is('Publish')");
  await page.waitForSelector("text=live: v1");
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  await page.keyboard.press("Control+c");
  await page.keyboard.press("Control+v");
  await page.waitForSelector('.react-flow__node[data-id="llm_1"]');
  await page.keyboard.press("Control+z");
  await page.waitForSelector('.react-flow__node[data-id="llm_1"]', { state: "detached" });
  await page.keyboard.press("Control+Shift+z");
  await page.waitForSelector('.react-flow__node[data-id="llm_1"]');
  // A word typed into a form is one undo step.
  const draftName = page.locator('.react-flow__node[data-id="draft"] .flow-node-name');
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  await page.locator("[data-testid=node-panel] [name=name]").pressSequentially("Writer");
  await waitFor(async () => (await draftName.innerText()) === "Writer", { message: "the typed name on the node" });
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.keyboard.press("Control+z");
  await waitFor(async () => (await draftName.innerText()) === "draft", { message: "the name typing undone" });
  assert.equal(await page.locator('.react-flow__node[data-id="llm_1"]').count(), 1, "only the typing was undone");
  // "Follow the error outlet" gives the node a labelled error handle.
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  await page.click("text=When it fails");
  await page.selectOption("[data-testid=node-panel] [name=on_error]", "branch");
  await page.waitForSelector('.react-flow__node[data-id="draft"] .react-flow__handle.source[data-handleid="error"]');
  assert.equal(await page.innerText('.react-flow__node[data-id="draft"] .outlet-error'), "error");
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.keyboard.press("Control+z");
  await page.waitForSelector('.react-flow__node[data-id="draft"] .react-flow__handle.source[data-handleid="error"]', { state: "detached" });
  await page.click(".tabs >> text=Versions");
  await page.click("[data-testid=versions] >> text=Restore");
  await answerDialog(page);
  await page.waitForSelector('.react-flow__node[data-id="llm_1"]', { state: "detached" });
  await waitFor(async () => (await page.getAttribute("[data-testid=save-state]", "data-state")) === "saved", { message: "the restored draft to save" });
  const versions = (await apiCall(page, "GET", `/api/workflows/${workflowId}/versions`)).body;
  assert.deepEqual(versions.map((v) => v.version), [1]);

  // Runs list with filters.
  await page.goto(`${BASE_URL}/runs?status=succeeded&workflow=${workflowId}`);
  await page.waitForSelector(`a[href="/runs/${run.body.id}"]`);
  await page.selectOption("select[aria-label=Status]", "failed");
  await page.waitForSelector("text=No runs match.");

  // Models: register one with a key; the key is write-only.
  await page.goto(`${BASE_URL}/models`);
  await page.click("text=Register model");
  await page.fill("[name=name]", "remote");
  await page.fill("[name=model]", "gpt-test");
  await page.fill("[name=base_url]", "http://127.0.0.1:9/v1");
  await page.fill("[name=api_key]", "sk-secret-123");
  await page.click("button:text-is('Save')");
  await page.waitForSelector("td:has-text('gpt-test')");
  const stored = (await apiCall(page, "GET", "/api/models/remote")).body;
  assert.equal(stored.has_api_key, true);
  assert.ok(!JSON.stringify(stored).includes("sk-secret-123"), "the key never comes back");
  assert.ok(!(await page.content()).includes("sk-secret-123"));

  // Traces: filter, open one, write a golden output.
  await page.goto(`${BASE_URL}/traces?node=draft`);
  await page.click("tbody tr");
  await page.fill("[name=golden_output]", "Tea is a drink.");
  await page.click("text=Save golden output");
  await page.waitForSelector("[data-testid=trace-detail] >> text=Saved.");
  const traces = (await apiCall(page, "GET", `/api/traces?workflow=${workflowId}&meta.team=blog`)).body;
  assert.equal(traces.count, 1);
  assert.equal(traces.results[0].golden_output, "Tea is a drink.");
  await page.goto(`${BASE_URL}/traces?node=nothing-here`);
  await page.waitForSelector("text=No traces match.");
});
