// goworld.js against a fake gate over a real WebSocket (js_test.go runs
// it): frames split over messages and several in one, a server that
// falls silent (dead-server detection after 4 heartbeat intervals), and a
// text message (a protocol error). The Go side checks what the client
// sends: heartbeats, one frame per binary message, and a close with 1000.
//
//   node fakegate.mjs ws://HOST:PORT

import { GoWorld, step, fail, deadline, check, eq, Recorder } from "./lib.mjs";

deadline(30000);
const base = process.argv[2];
if (!base) fail("usage: fakegate.mjs ws://HOST:PORT");

step("silent: split and joined frames, then silence");
{
  const interval = 100;
  const c = new GoWorld.Client({ heartbeatInterval: interval });
  const rec = new Recorder(c, "silent");
  await c.connect(base + "/silent");
  const boot = await rec.next("entityCreated");
  eq([boot.id, boot.isPlayer, boot.entity.type], ["AAECAwQFBgcICQoL", true, "Account"], "the boot entity, split over two messages");
  const hi = await rec.next("call", (e) => e.method === "OnHi");
  eq(hi.args, ["hi"], "a call after a heartbeat answer in the same message");
  const d = await rec.next("disconnected", () => true, 10000);
  const after = d.at - hi.at; // the call came in the last message
  eq([d.reason, d.kicked], ["the server stopped answering", false], "dead server");
  check(after >= 4 * interval - 20, `detected after ${after} ms of silence, before 4 intervals of ${interval} ms`);
  await c.close();
}

step("text: a text message is a protocol error");
{
  const c = new GoWorld.Client({ heartbeatInterval: 0 });
  const rec = new Recorder(c, "text");
  await c.connect(base + "/text");
  await rec.next("entityCreated");
  const d = await rec.next("disconnected");
  eq([d.reason, d.kicked], ["goworld: text message from the server; goworld speaks binary messages only", false], "text");
  await c.close();
}

step("a refused connection");
{
  const c = new GoWorld.Client();
  const port = new URL(base).port;
  await c.connect(`ws://127.0.0.1:1/`).then(
    () => fail("connected to port 1"),
    (e) => check(/^goworld: cannot connect to ws:\/\/127\.0\.0\.1:1\/: /.test(e.message), `error: ${e.message}`),
  );
  check(port !== "1", "the fake gate is not on port 1");
  eq(c.connected, false, "not connected");
}

console.log("fakegate: ok");
process.exit(0);
