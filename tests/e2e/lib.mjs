// Shared set-up for the browser scenarios: Debian's Chromium driven by playwright-core, a login,
// and a console watch that fails the scenario on any browser error the app did not expect.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const require = createRequire(new URL("../../frontend/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const BASE_URL = process.env.ORCHESTRA_URL ?? "http://127.0.0.1:8000";
export const USERNAME = process.env.ORCHESTRA_USERNAME ?? "demo";
export const PASSWORD = process.env.ORCHESTRA_PASSWORD ?? "demo";
export const SCREENSHOTS = process.env.ORCHESTRA_SCREENSHOTS ?? "";

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

// HTTP error answers the app handles and shows (so Chromium's "Failed to load resource" line is
// not an app error): the session probe before login, and the 400 of saving an invalid draft.
const EXPECTED_HTTP_ERRORS = [
  { url: /\/api\/auth\/me$/, statuses: [401, 403] },
  { url: /\/api\/workflows\/[^/]+$/, statuses: [400] },
];

function expected(message, rules) {
  const status = Number(message.text().match(/status of (\d{3})/)?.[1]);
  const url = message.location()?.url ?? "";
  return rules.some((rule) => rule.url.test(url.split("?")[0]) && rule.statuses.includes(status));
}

/**
 * Run `scenario(page)` in a fresh browser; exit non-zero on failure or any console error.
 * `expectedHttpErrors` ([{url, statuses}]) names more error answers the scenario provokes and the app shows.
 */
export async function scenario(name, body, { expectedHttpErrors = [] } = {}) {
  const rules = [...EXPECTED_HTTP_ERRORS, ...expectedHttpErrors];
  const profile = mkdtempSync(join(tmpdir(), "orchestra-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
  });
  const consoleErrors = [];
  const watch = (page) => {
    page.on("console", (message) => {
      if (message.type() === "error" && !expected(message, rules)) consoleErrors.push(`${message.text()} (${message.location()?.url ?? ""})`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));
    // The app asks with its own dialogs (frontend/src/dialogs.tsx): a browser dialog is a bug.
    page.on("dialog", (dialog) => {
      consoleErrors.push(`a browser ${dialog.type()} dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
  };
  context.on("page", watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  page.setDefaultTimeout(45_000); // generous: the suite shares two cores with the model and the worker
  let failed = false;
  try {
    await body(page);
    assert.deepEqual(consoleErrors, [], "the browser console logged errors");
    console.log(`ok - ${name}`);
  } catch (error) {
    failed = true;
    console.error(`not ok - ${name}\n${error.stack ?? error}`);
    if (consoleErrors.length) console.error(`browser console errors:\n  ${consoleErrors.join("\n  ")}`);
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `failure-${name}.png`) }).catch(() => undefined);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

export async function login(page) {
  await page.goto(`${BASE_URL}/workflows`);
  await page.waitForURL(/\/login/);
  await page.fill("input[name=username]", USERNAME);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/workflows$/);
}

/** The API with the browser's own session (cookie + CSRF header), for set-up and cross-checks. */
export async function apiCall(page, method, path, body) {
  return page.evaluate(async ({ method, path, body }) => {
    const csrf = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] ?? "";
    const response = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": decodeURIComponent(csrf) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: response.status === 204 ? null : await response.json() };
  }, { method, path, body });
}

/** Answer the app's own dialog: type `text` into its field when given, then press its confirm button. */
export async function answerDialog(page, text) {
  const dialog = page.locator("dialog[data-testid=app-dialog][open]");
  await dialog.waitFor();
  if (text !== undefined) await dialog.locator("input[name=dialog-value]").fill(text);
  await dialog.locator("button[type=submit]").click();
  await dialog.waitFor({ state: "detached" });
}

/** Close the app's dialog with Cancel. */
export async function cancelDialog(page) {
  const dialog = page.locator("dialog[data-testid=app-dialog][open]");
  await dialog.locator("button:text-is('Cancel')").click();
  await dialog.waitFor({ state: "detached" });
}

/** Drag a node type from the palette and drop it at (x, y) inside the canvas. */
export async function dragFromPalette(page, type, x, y) {
  const canvas = page.locator(".canvas .react-flow");
  await page.locator(`.palette-item[data-node-type="${type}"]`).dragTo(canvas, { targetPosition: { x, y } });
}

/** Connect `source`'s outlet (the main one unless named) to `target`'s input handle. */
export async function connect(page, source, target, outlet = "__main__") {
  const from = page.locator(`.react-flow__node[data-id="${source}"] .react-flow__handle.source[data-handleid="${outlet}"]`);
  const to = page.locator(`.react-flow__node[data-id="${target}"] .react-flow__handle.target`);
  await from.dragTo(to);
}

export async function waitFor(check, { timeout = 60_000, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export { assert };
