// The editor's Triggers tab and Versions tab: a webhook is created, its URL copied and called from
// outside, listed with the run it started, then edited, disabled, rotated and revoked; a schedule's
// bad cron, time zone and inputs land on their fields before it is saved, paused and deleted; a
// version is restored into the draft and the editor loads it (and Undo brings the draft back).
import { BASE_URL, SCREENSHOTS, answerDialog, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const DIGEST = {
  nodes: [
    { id: "start", type: "input", name: "Topic", position: { x: 0, y: 0 }, config: { fields: [
      { name: "topic", type: "string", required: true, description: "What the digest is about" },
      { name: "tags", type: "array", default: [] },
    ] } },
    { id: "draft", type: "llm", name: "Draft", position: { x: 300, y: 0 }, config: { model: "auto", prompt: "A digest about {{ inputs.topic }}", max_tokens: 4 } },
    { id: "end", type: "output", name: "Digest", position: { x: 600, y: 0 }, config: { outputs: { digest: "{{ nodes.draft.output }}", topic: "{{ inputs.topic }}" } } },
  ],
  edges: [{ source: "start", target: "draft" }, { source: "draft", target: "end" }],
};

const panel = "[data-testid=triggers]";
const webhookItem = (id) => `${panel} [data-webhook-id="${id}"]`;

/** POST to a webhook URL from outside the browser, as another system would. */
async function callWebhook(url, body) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

async function webhooks(page, workflowId) {
  return (await apiCall(page, "GET", `/api/workflows/${workflowId}/webhooks`)).body;
}

async function createWebhook(page, workflowId) {
  await page.click(`${panel} button:text-is('New webhook')`);
  const form = page.locator("[data-testid=webhook-form]");
  await form.locator('[name="webhook.name"]').fill("From the CRM");
  await form.locator('[name="webhook.input_mapping.topic"]').fill("body.subject");
  await form.locator("label:has-text('Wait for outputs')").click();
  await form.locator('[name="webhook.wait_s"]').fill("60");
  await form.locator("button:text-is('Save webhook')").click();
  await page.waitForSelector("[data-testid=webhook-url]");
  const [stored] = await webhooks(page, workflowId);
  assert.deepEqual([stored.name, stored.response_mode, stored.wait_s, stored.input_mapping], ["From the CRM", "sync", 60, { topic: "body.subject" }]);
  await page.waitForSelector(`${webhookItem(stored.id)}[data-state=enabled]`);

  // Shown once, whole, with a copy button that puts exactly it on the clipboard.
  const url = await page.innerText("[data-testid=webhook-url] [data-testid=shown-value]");
  assert.match(url, new RegExp(`^${BASE_URL}/hooks/whk_`));
  assert.ok(url.includes(stored.token_prefix), "the URL holds the listed token prefix");
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE_URL });
  await page.click("[data-testid=webhook-url] button:text-is('Copy')");
  await page.waitForSelector("[data-testid=webhook-url] >> text=Copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
  return { id: stored.id, url };
}

async function scheduleWithFieldErrors(page, workflowId) {
  await page.click(`${panel} button:text-is('New schedule')`);
  const form = page.locator("[data-testid=schedule-form]");
  const fieldError = (path) => form.locator(`[data-path="${path}"] .field-error`);
  await form.locator('[name="schedule.name"]').fill("Morning digest");
  await form.locator('[name="schedule.inputs.topic"]').fill("tea");

  await form.locator('[name="schedule.cron"]').fill("0 9 * *");
  await form.locator("button:text-is('Save schedule')").click();
  assert.match(await fieldError("cron").innerText(), /five fields/);

  await form.locator("button.chip:text-is('weekdays at 9:00')").click();
  assert.equal(await form.locator('[name="schedule.cron"]').inputValue(), "0 9 * * 1-5");
  await form.locator('[name="schedule.timezone"]').fill("Mars/Olympus");
  await form.locator("button:text-is('Save schedule')").click();
  assert.match(await fieldError("timezone").innerText(), /Unknown time zone/);
  assert.equal(await fieldError("cron").count(), 0, "the fixed cron is no longer marked");

  // An input the form cannot turn into its type is refused on its own field, before sending.
  await form.locator('[name="schedule.timezone"]').fill("Europe/Paris");
  await form.locator('[name="schedule.inputs.tags"]').fill('["news",');
  await form.locator("button:text-is('Save schedule')").click();
  assert.match(await fieldError("inputs.tags").innerText(), /Not valid JSON/);
  assert.equal((await apiCall(page, "GET", `/api/workflows/${workflowId}/schedules`)).body.length, 0, "nothing was saved yet");

  await form.locator('[name="schedule.inputs.tags"]').fill('["news"]');
  await form.locator("button:text-is('Save schedule')").click();
  await form.waitFor({ state: "detached" });
  const [schedule] = (await apiCall(page, "GET", `/api/workflows/${workflowId}/schedules`)).body;
  assert.deepEqual([schedule.name, schedule.cron, schedule.timezone, schedule.inputs], ["Morning digest", "0 9 * * 1-5", "Europe/Paris", { topic: "tea", tags: ["news"] }]);
  await page.waitForSelector(`${panel} [data-schedule-id="${schedule.id}"][data-state=active]`);
  return schedule;
}

await scenario("triggers", async (page) => {
  await login(page);
  const workflowId = (await apiCall(page, "POST", "/api/workflows", { name: "Digest", graph: DIGEST })).body.id;
  assert.equal((await apiCall(page, "POST", `/api/workflows/${workflowId}/publish`)).status, 201);
  await page.goto(`${BASE_URL}/workflows/${workflowId}`);
  await page.waitForSelector('.react-flow__node[data-id="draft"]');
  await page.click(".tabs >> text=Triggers");
  await page.waitForSelector(`${panel} >> text=They start v1, the live version.`);

  // A webhook: created, called from outside (sync: the outputs come back), its run listed.
  const webhook = await createWebhook(page, workflowId);
  const called = await callWebhook(webhook.url, { subject: "tea" });
  assert.equal(called.status, 200, JSON.stringify(called.body));
  assert.equal(called.body.status, "succeeded", JSON.stringify(called.body));
  assert.equal(called.body.outputs.topic, "tea", "the mapped input reached the run");
  await page.waitForSelector(`[data-testid=recent-webhook-runs] [data-run-id="${called.body.run_id}"] .status-succeeded`, { timeout: 20_000 });

  const schedule = await scheduleWithFieldErrors(page, workflowId);
  if (SCREENSHOTS) {
    await page.locator(".side-panel").evaluate((el) => el.scrollTo(0, 0));
    await page.screenshot({ path: `${SCREENSHOTS}/triggers.png` });
  }
  await page.click("[data-testid=webhook-url] >> text=Done, I have copied it");
  await page.waitForSelector("[data-testid=webhook-url]", { state: "detached" });
  assert.ok(!(await page.content()).includes(webhook.url), "the URL is not shown again");

  // Edit: the form starts from the stored settings; the secret is write-only.
  await page.click(`${webhookItem(webhook.id)} button:text-is('Edit')`);
  const form = page.locator("[data-testid=webhook-form]");
  assert.equal(await form.locator('[name="webhook.input_mapping.topic"]').inputValue(), "body.subject");
  await form.locator('[name="webhook.rate_limit_per_minute"]').fill("5");
  await form.locator('[name="webhook.secret"]').fill("hmac-secret");
  await form.locator("button:text-is('Save webhook')").click();
  await form.waitFor({ state: "detached" });
  await page.waitForSelector(`${webhookItem(webhook.id)} >> text=5/min`);
  let [stored] = await webhooks(page, workflowId);
  assert.deepEqual([stored.rate_limit_per_minute, stored.has_secret, stored.name], [5, true, "From the CRM"]);
  assert.equal((await callWebhook(webhook.url, { subject: "tea" })).status, 401, "a signed webhook refuses an unsigned call");

  // Disable, enable, rotate (the old URL stops at once), revoke.
  await page.click(`${webhookItem(webhook.id)} button:text-is('Disable')`);
  await page.waitForSelector(`${webhookItem(webhook.id)}[data-state=disabled]`);
  assert.equal((await callWebhook(webhook.url, {})).status, 404);
  await page.click(`${webhookItem(webhook.id)} button:text-is('Enable')`);
  await page.waitForSelector(`${webhookItem(webhook.id)}[data-state=enabled]`);
  await page.click(`${webhookItem(webhook.id)} button:text-is('Rotate URL')`);
  await answerDialog(page);
  await page.waitForSelector("[data-testid=webhook-url] >> text=The new webhook URL");
  const rotatedUrl = await page.innerText("[data-testid=webhook-url] [data-testid=shown-value]");
  assert.notEqual(rotatedUrl, webhook.url);
  assert.equal((await callWebhook(webhook.url, {})).status, 404, "the old URL stops at once");
  assert.equal((await callWebhook(rotatedUrl, {})).status, 401, "the new URL answers (and still wants its signature)");
  await page.click(`${webhookItem(webhook.id)} button:text-is('Revoke')`);
  await answerDialog(page);
  await page.waitForSelector(`${webhookItem(webhook.id)}[data-state=revoked]`);
  await page.waitForSelector("[data-testid=webhook-url]", { state: "detached" });
  assert.equal((await callWebhook(rotatedUrl, {})).status, 404);
  [stored] = await webhooks(page, workflowId);
  assert.ok(stored.revoked_at, "revoked on the server");

  // The schedule: pause, edit, delete.
  const item = `${panel} [data-schedule-id="${schedule.id}"]`;
  await page.click(`${item} button:text-is('Pause')`);
  await page.waitForSelector(`${item}[data-state=paused]`);
  await page.click(`${item} button:text-is('Edit')`);
  const scheduleForm = page.locator("[data-testid=schedule-form]");
  assert.equal(await scheduleForm.locator('[name="schedule.inputs.topic"]').inputValue(), "tea");
  await scheduleForm.locator("button.chip:text-is('hourly')").click();
  await scheduleForm.locator("button:text-is('Save schedule')").click();
  await page.waitForSelector(`${item} >> text=0 * * * *`);
  const edited = (await apiCall(page, "GET", `/api/workflows/${workflowId}/schedules/${schedule.id}`)).body;
  assert.deepEqual([edited.cron, edited.enabled, edited.inputs.topic], ["0 * * * *", false, "tea"]);
  await page.click(`${item} button:text-is('Delete')`);
  await answerDialog(page);
  await page.waitForSelector(item, { state: "detached" });
  assert.equal((await apiCall(page, "GET", `/api/workflows/${workflowId}/schedules`)).body.length, 0);

  // Versions: the draft differs from the live v1; restoring v1 loads it into the editor.
  await page.click('.react-flow__node[data-id="draft"] .flow-node-head');
  await page.fill("[data-testid=node-panel] [name=name]", "Writer");
  await page.waitForSelector("[data-testid=live-version] >> text=draft differs");
  await page.click(".tabs >> text=Versions");
  await page.waitForSelector('[data-testid=versions] li[data-version="1"].live >> text=live');
  assert.match(await page.innerText("[data-testid=versions-live]"), /v1 is live.*changes that are not published/);
  await page.click('[data-testid=versions] li[data-version="1"] button:text-is("Restore")');
  await answerDialog(page);
  const draftName = page.locator('.react-flow__node[data-id="draft"] .flow-node-name');
  await waitFor(async () => (await draftName.innerText()) === "Draft", { message: "the restored node name on the canvas" });
  await waitFor(async () => !(await page.innerText("[data-testid=live-version]")).includes("draft differs"), { message: "the toolbar to say the draft is the live version" });
  assert.equal(await page.getAttribute("[data-testid=save-state]", "data-state"), "saved");
  const restored = (await apiCall(page, "GET", `/api/workflows/${workflowId}`)).body;
  assert.equal(restored.graph.nodes.find((n) => n.id === "draft").name, "Draft");
  assert.equal(restored.unpublished_changes, false);
  assert.match(await page.innerText("[data-testid=versions-live]"), /same as the live version/);
  // Undo brings back what the draft held, and saves it.
  await page.click(".react-flow__pane", { position: { x: 10, y: 10 } });
  await page.keyboard.press("Control+z");
  await waitFor(async () => (await draftName.innerText()) === "Writer", { message: "the undone restore" });
  await waitFor(async () => (await apiCall(page, "GET", `/api/workflows/${workflowId}`)).body.graph.nodes.find((n) => n.id === "draft").name === "Writer",
    { message: "the undone restore to be saved" });
}, { expectedHttpErrors: [{ url: /\/api\/workflows\/[^/]+\/schedules$/, statuses: [400] }] });
