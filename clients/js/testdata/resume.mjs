// goworld.js's resumable sessions against a real in-process cluster,
// through a proxy that resume_test.go uses to cut the WebSocket (it
// watches the entity's hooks to know when; this script only talks to the
// gate).
//
//   node resume.mjs PROXY_WS_URL cuts N DROPS
//     Move 0..N-1 (each echoed back by the entity with OnMove) and a
//     request every 50 moves, while the test cuts the connection DROPS
//     times: every echo arrives exactly once and in order, every request
//     is answered, each cut costs one resumed event after reconnecting
//     ones; then close() says goodbye.
//   node resume.mjs PROXY_WS_URL refused
//     The test keeps the connection cut past the gate's resume window:
//     the resume is refused with the gate's reason, and a new session
//     works.

import { GoWorld, step, fail, deadline, check, eq, show, sleep, until } from "./lib.mjs";

deadline(100000);
const [url, mode, nArg, dropsArg] = process.argv.slice(2);
if (!url || !["cuts", "refused"].includes(mode)) fail("usage: resume.mjs PROXY_WS_URL cuts N DROPS | refused");

// dial connects with resume: true and waits for the boot entity; it
// records the session events.
async function dial(options = {}) {
  const c = new GoWorld.Client({ resume: true, reconnectDelay: 20, reconnectDelayMax: 200, requestTimeout: 60000, ...options });
  const log = { reconnecting: [], resumed: 0, resent: 0, order: [] };
  c.on("reconnecting", (e) => {
    log.reconnecting.push(e);
    log.order.push("reconnecting " + e.attempt);
  });
  c.on("resumed", (e) => {
    log.resumed++;
    log.resent += e.resent;
    log.order.push("resumed");
  });
  await c.connect(url);
  const boot = await c.waitFor("entityCreated", (e) => e.isPlayer);
  eq(boot.entity.type, "JsResumer", "the boot entity");
  check(c.resumable, "the gate made the session resumable");
  return { c, log };
}

// checkOrder checks that each resumed follows reconnecting 1, 2, ...
function checkOrder(order, resumes) {
  let want = 1, seen = 0;
  for (const o of order) {
    if (o === "resumed") {
      check(want > 1, `resumed with no reconnecting before it: ${show(order)}`);
      want = 1;
      seen++;
    } else {
      eq(o, "reconnecting " + want, `the events ${show(order)}`);
      want++;
    }
  }
  eq(seen, resumes, "resumed events");
}

if (mode === "cuts") {
  const n = Number(nArg), drops = Number(dropsArg);
  if (!(n > 0) || !(drops > 0)) fail("cuts wants N and DROPS");
  step("calls both ways while the connection is cut");
  const { c, log } = await dial();
  const echoes = [];
  c.onCall("OnMove", (i) => echoes.push(i));
  const pad = "p".repeat(300);
  const answers = [];
  for (let i = 0; i < n; i++) {
    c.callPlayer("Move", i, pad); // while reconnecting: kept, sent on resume
    if (i % 50 === 0) answers.push(c.requestPlayer("Double", i).then((v) => eq(v, 2 * i, `Double(${i})`)));
    // At most 200 echoes outstanding: the calls go on over the cuts.
    while (i - echoes.length >= 200) await sleep(1);
  }
  await until(() => echoes.length >= n, `${n} echoes (${echoes.length} so far)`, 60000);
  step("every echo exactly once, in order; every request answered");
  for (let i = 0; i < echoes.length; i++) {
    if (echoes[i] !== i) fail(`echo ${i} is ${echoes[i]} (${show(echoes.slice(Math.max(0, i - 3), i + 4))}): lost, duplicated or reordered`);
  }
  await Promise.all(answers);
  eq(answers.length, Math.ceil(n / 50), "requests answered");
  step(`all ${drops} cuts resumed`);
  await until(() => log.resumed >= drops, `${drops} resumes (${log.resumed} so far)`, 60000);
  checkOrder(log.order, drops);
  // The cuts came with calls in flight: some had to be resent.
  check(log.resent > 0, "no cut found a call the gate had not received");
  check(c.connected && !c.reconnecting, "connected at the end");
  step("close() says goodbye");
  await c.close();
  eq(c.lastDisconnect.reason, "closed by the client", "the end");
  await sleep(200);
  eq(echoes.length, n, "no echo after the last one");
  console.log(`resume: ok moves=${n} resumed=${log.resumed} reconnecting=${log.reconnecting.length} resent=${log.resent} `);
} else {
  step("a resume after the window is refused");
  const { c, log } = await dial({ reconnectMax: 30000, reconnectDelayMax: 50 });
  c.callPlayer("Move", 0, ""); // the test cuts once this arrives
  const d = await c.waitFor("disconnected", null, 30000);
  check(d.refused && d.kicked, `disconnected: ${show(d)}`);
  check(/^resume refused: /.test(d.reason), `the reason: ${d.reason}`);
  check(log.reconnecting.length >= 1 && log.resumed === 0, `events ${show(log.order)}`);
  check(!c.connected, "not connected after a refusal");
  console.log(`refused: ${d.reason} after ${log.reconnecting.length} attempts`);
  step("a new session works");
  const fresh = await dial();
  eq(await fresh.c.requestPlayer("Double", 21), 42, "Double(21) in the new session");
  await fresh.c.close();
  console.log("resume: ok");
}
process.exit(0);
