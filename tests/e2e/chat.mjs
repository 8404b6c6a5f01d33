// Chat with a workflow: the reply streams in token by token, the conversation keeps its turns,
// and each reply says which model answered its LLM step and what it cost.
import { BASE_URL, SCREENSHOTS, apiCall, assert, login, scenario, waitFor } from "./lib.mjs";

const CHAT = {
  nodes: [
    { id: "start", type: "input", name: "Message", config: { fields: [
      { name: "message", type: "string", required: true }, { name: "history", type: "array", default: [] }] } },
    { id: "reply", type: "llm", name: "Reply", config: { model: "auto", system: "You are a helpful assistant.",
      prompt: "{% for m in inputs.history %}{{ m.role }}: {{ m.content }}\n{% endfor %}user: {{ inputs.message }}", max_tokens: 12 } },
    { id: "end", type: "output", name: "Answer", config: { outputs: { reply: "{{ nodes.reply.output }}" } } },
  ],
  edges: [{ source: "start", target: "reply" }, { source: "reply", target: "end" }],
};

async function say(page, text) {
  await page.fill("[name=message]", text);
  await page.keyboard.press("Enter");
  await page.waitForSelector("[data-testid=streaming-reply]");
  await page.waitForSelector("[data-testid=streaming-reply]", { state: "detached", timeout: 90_000 });
}

await scenario("chat", async (page) => {
  await login(page);
  const workflowId = (await apiCall(page, "POST", "/api/workflows", { name: "Assistant", graph: CHAT })).body.id;
  assert.equal((await apiCall(page, "POST", `/api/workflows/${workflowId}/publish`)).status, 201);

  await page.goto(`${BASE_URL}/chat`);
  await page.waitForSelector("[name=message]");
  // Record what the streaming bubble shows while the reply is still being generated.
  await page.evaluate(() => {
    window.streamedTexts = [];
    new MutationObserver(() => {
      const bubble = document.querySelector("[data-testid=streaming-reply] .bubble-text");
      if (bubble) window.streamedTexts.push(bubble.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });

  await say(page, "Hello there");
  const streamed = await page.evaluate(() => window.streamedTexts);
  assert.ok(streamed.some((text) => text !== "…" && text.length > 0), "tokens appeared before the reply was final");

  await say(page, "And a second question");
  const conversations = (await apiCall(page, "GET", `/api/conversations?workflow=${workflowId}`)).body.results;
  assert.equal(conversations.length, 1, "both turns went to one conversation");
  const conversation = (await apiCall(page, "GET", `/api/conversations/${conversations[0].id}`)).body;
  assert.deepEqual(conversation.messages.map((m) => m.role), ["user", "assistant", "user", "assistant"]);

  const bubbles = page.locator("[data-testid=messages] .bubble");
  await waitFor(async () => (await bubbles.count()) === 4, { message: "four messages on the page" });
  const lastReply = conversation.messages[3];
  assert.equal(await bubbles.nth(3).locator(".bubble-text").textContent(), lastReply.content);
  const steps = bubbles.nth(3).locator(".step-costs");
  await steps.waitFor();
  assert.match(await steps.innerText(), /reply tiny · \d+ tokens · \$0\.\d+/);
  await page.waitForSelector(".chat-list li.active");
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/chat.png` });
});
