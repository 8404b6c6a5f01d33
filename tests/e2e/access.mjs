// The API keys page: a key is created, shown once (copied, then gone from the page), works against
// the API, and is revoked; an owner sees every member's keys and removes a member; a member sees
// only their own keys and cannot remove anyone.
import { BASE_URL, SCREENSHOTS, answerDialog, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const MEMBER = process.env.ORCHESTRA_MEMBER; // a member with a password and a key of their own
const MEMBER_PASSWORD = process.env.ORCHESTRA_MEMBER_PASSWORD;
const LEAVER = process.env.ORCHESTRA_LEAVER; // a member the owner removes

const withKey = (key) => fetch(`${BASE_URL}/api/workflows`, { headers: { Authorization: `Bearer ${key}` } });

await scenario("access", async (page) => {
  await login(page);
  await page.click("a:text-is('API keys')");
  await page.waitForURL(/\/settings\/keys$/);
  await page.waitForSelector(`[data-testid=api-keys] td:text-is("${MEMBER}")`); // an owner sees the member's key too

  await page.fill("[name=key-name]", "CI deploys");
  await page.click("button:text-is('Create key')");
  const shown = page.locator("[data-testid=new-key]");
  await shown.waitFor();
  assert.match(await shown.innerText(), /you will not see it again/i);
  const key = await shown.locator("[data-testid=shown-value]").innerText();
  assert.match(key, /^orc_/);
  const [created] = (await apiCall(page, "GET", "/api/api-keys")).body; // newest first
  assert.equal(created.name, "CI deploys");
  assert.ok(key.startsWith(created.prefix));
  assert.ok(!JSON.stringify(created).includes(key), "the list never carries the key");
  assert.equal((await withKey(key)).status, 200, "the new key works");
  const row = page.locator(`[data-testid=api-keys] tr[data-key-id="${created.id}"]`);
  await row.locator(".status-ok:text-is('active')").waitFor();
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE_URL });
  await shown.locator("button:text-is('Copy')").click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/api-keys.png` });

  await shown.locator("text=Done, I have copied it").click();
  await shown.waitFor({ state: "detached" });
  assert.ok(!(await page.content()).includes(key), "once dismissed, the key is gone from the page");
  await page.reload();
  await row.waitFor();
  assert.ok(!(await page.content()).includes(key), "and it never comes back");

  await row.locator("button:text-is('Revoke')").click();
  await answerDialog(page);
  await row.locator(".status-failed:text-is('revoked')").waitFor();
  assert.equal(await row.locator("button:text-is('Revoke')").count(), 0);
  assert.equal((await withKey(key)).status, 401, "a revoked key is refused");

  // Members: the owner removes one (after saying yes); their row goes.
  const leaver = page.locator(`[data-testid=members] tr[data-member="${LEAVER}"]`);
  await leaver.locator("button:text-is('Remove')").click();
  await answerDialog(page);
  await leaver.waitFor({ state: "detached" });
  assert.ok(!(await apiCall(page, "GET", "/api/members")).body.some((m) => m.user === LEAVER));

  // A member sees their own keys only, and removing is for owners (the API says so too).
  await page.click("button:text-is('Sign out')");
  await page.waitForURL(/\/login/);
  await page.fill("input[name=username]", MEMBER);
  await page.fill("input[name=password]", MEMBER_PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/settings\/keys$/); // back where the owner signed out
  await page.waitForSelector("text=You see your own keys");
  const keys = (await apiCall(page, "GET", "/api/api-keys")).body;
  assert.ok(keys.length > 0 && keys.every((k) => k.user === MEMBER), JSON.stringify(keys));
  await waitFor(async () => (await page.locator("[data-testid=api-keys] tbody tr").count()) === keys.length, { message: "the member's own keys" });
  const removeOwner = page.locator(`[data-testid=members] tr:has-text("${process.env.ORCHESTRA_USERNAME}") button:text-is('Remove')`);
  assert.ok(await removeOwner.isDisabled(), "a member cannot remove anyone");
  const refused = await apiCall(page, "DELETE", `/api/members/${process.env.ORCHESTRA_USERNAME}`);
  assert.equal(refused.status, 403);
}, { expectedHttpErrors: [{ url: /\/api\/members\/[^/]+$/, statuses: [403] }] });
