// goworld.js's request() against a real in-process cluster
// (request_test.go starts it, with max_client_requests = 2).
//
//   node request.mjs WS_URL

import { GoWorld, step, fail, deadline, check, eq, Recorder } from "./lib.mjs";

deadline(30000);
const [url] = process.argv.slice(2);
if (!url) fail("usage: request.mjs WS_URL");

const c = new GoWorld.Client({ heartbeatInterval: 1000, requestTimeout: 150 });
const rec = new Recorder(c, "asker");
await c.connect(url);
await rec.next("entityCreated", (e) => e.isPlayer);

// rejection returns what p rejects with, failing if it resolves.
async function rejection(p, what) {
  try {
    const v = await p;
    fail(`${what}: resolved with ${JSON.stringify(v)}, want a rejection`);
  } catch (e) {
    return e;
  }
}

step("results");
eq(await c.requestPlayer("Double", 21), 42, "Double(21)");
eq(await c.requestPlayer("Echo", { a: [1, "x"] }), { a: [1, "x"] }, "Echo");
eq(await c.requestPlayer("Nothing"), null, "a method that returns only an error");

step("error codes");
{
  const e = await rejection(c.requestPlayer("Refuse", 3), "Refuse");
  check(e.name === "GoWorldRequestError" && e.code === 1002 && e.serverMessage === "refused 3", `Refuse: ${e.name} ${e.code} ${e.message}`);
  check(e instanceof GoWorld.RequestError && e instanceof Error, "Refuse: the rejection is a RequestError and an Error");
  check(String(e.stack).startsWith("GoWorldRequestError: goworld: request failed: code 1002: refused 3"), `Refuse: stack ${e.stack}`);
  for (const [method, args, code] of [
    ["Boom", [], GoWorld.ErrorCode.Panicked],
    ["Hidden", [], GoWorld.ErrorCode.NoMethod],
    ["Missing", [], GoWorld.ErrorCode.NoMethod],
    ["Double", ["x"], GoWorld.ErrorCode.BadArgs],
  ]) {
    const e = await rejection(c.requestPlayer(method, ...args), method);
    check(e.code === code, `${method}: code ${e.code} (${e.message}), want ${code}`);
  }
  const e2 = await rejection(c.request("AAAAAAAAAAAAAAAA", "Double", 1), "unknown entity");
  check(e2.code === GoWorld.ErrorCode.NoEntity, `unknown entity: ${e2.message}`);
  check(c.connected, "still connected after the errors");
  c.callPlayer("Double", 1); // one-way: the result is discarded
}

step("the client's timeout, and max_client_requests");
{
  const held = c.requestPlayer("Hold", 400); // holds the game loop
  const second = c.requestPlayer("Double", 5); // waits behind it
  const third = await rejection(c.requestPlayer("Double", 6), "a third request");
  check(third.code === GoWorld.ErrorCode.Overloaded, `third request: ${third.message}`);
  const t = await rejection(held, "Hold(400) with a 150 ms timeout");
  check(t.code === GoWorld.ErrorCode.Timeout, `Hold: ${t.message}`);
  const s = await rejection(second, "Double behind Hold");
  check(s.code === GoWorld.ErrorCode.Timeout, `Double behind Hold: ${s.message}`);
}

step("late answers are ignored; the next request gets its own");
{
  const slow = new GoWorld.Client({ heartbeatInterval: 1000, requestTimeout: 5000 });
  await slow.connect(url);
  await slow.waitFor("entityCreated", (e) => e.isPlayer);
  eq(await slow.requestPlayer("Hold", 250), 250, "a request that waits long enough");
  await slow.close();
  // The answers to Hold and Double above have come (after 400 ms) and
  // were dropped; the gate has forgotten both requests.
  eq(await c.requestPlayer("Double", 7), 14, "Double(7) after the timeouts");
  eq(await c.requestPlayer("Double", 8), 16, "Double(8)");
}

step("a disconnect rejects what waits");
{
  const p = c.requestPlayer("Hold", 300);
  const closing = c.close();
  const e = await rejection(p, "a request at close");
  check(/disconnected/.test(e.message), `at close: ${e.message}`);
  check(!(e instanceof GoWorld.RequestError), "a disconnection is not a RequestError");
  await closing;
}

console.log("request: ok");
process.exit(0);
