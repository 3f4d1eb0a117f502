// The package's ES module, imported by its name, against a real
// in-process cluster (pkg_test.go starts it with the JsAnswerer of
// request_test.go as the boot entity): connect, requests with their
// results and a game's error as a RequestError, a one-way call, close.
//
//   node cluster.mjs WS_URL

import { connect, RequestError, ErrorCode, float, isEntityID } from "@goworld-engine/client";

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
setTimeout(() => fail("timed out after 30 s"), 30000).unref();
process.on("unhandledRejection", (e) => fail(`unhandled rejection: ${e && e.stack}`));

const [url] = process.argv.slice(2);
if (!url) fail("usage: cluster.mjs WS_URL");

const client = await connect(url, { heartbeatInterval: 1000 });
const boot = await client.waitFor("entityCreated", (e) => e.isPlayer);
check(isEntityID(boot.id) && boot.entity.type === "JsAnswerer", `boot entity ${boot.id} of type ${boot.entity.type}`);

check((await client.requestPlayer("Double", 21)) === 42, "Double(21)");
const echo = await client.requestPlayer("Echo", { pi: float(3), list: [1, "x", null] });
check(JSON.stringify(echo) === '{"list":[1,"x",null],"pi":3}' || JSON.stringify(echo) === '{"pi":3,"list":[1,"x",null]}', `Echo: ${JSON.stringify(echo)}`);
try {
  await client.requestPlayer("Refuse", 3);
  fail("Refuse(3) resolved");
} catch (e) {
  check(e instanceof RequestError, `Refuse(3) rejected with ${e && e.stack}, want a RequestError`);
  check(e.code === ErrorCode.User + 2 && e.serverMessage === "refused 3", `Refuse(3): code ${e.code}, ${e.serverMessage}`);
}
client.callPlayer("Double", 1); // one-way: nothing comes back
check((await client.requestPlayer("Double", 5)) === 10, "Double(5) after a one-way call");
check(client.connected, "still connected");
await client.close();
check(!client.connected && client.lastDisconnect.reason === "closed by the client", `after close: ${client.lastDisconnect && client.lastDisconnect.reason}`);

console.log("cluster: ok");
process.exit(0);
