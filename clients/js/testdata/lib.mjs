// Helpers shared by the Node test scripts of goworld.js. Every script
// bounds itself in time and exits non-zero with a message on the first
// mismatch.

import "../goworld.js";

export const GoWorld = globalThis.GoWorld;

let current = "start";

/** step names what the script is doing, for failure messages. */
export function step(name) {
  current = name;
  if (process.env.GOWORLD_JS_VERBOSE) console.log("step:", name);
}

/** fail ends the script with status 1. */
export function fail(msg) {
  console.error(`FAIL [${current}]: ${msg}`);
  process.exit(1);
}

/** deadline kills the script after ms, whatever it is waiting for. */
export function deadline(ms) {
  setTimeout(() => fail(`timed out after ${ms} ms`), ms).unref();
}

process.on("unhandledRejection", (e) => fail(`unhandled rejection: ${e && e.stack ? e.stack : e}`));
process.on("uncaughtException", (e) => fail(`uncaught exception: ${e && e.stack ? e.stack : e}`));

export function check(cond, msg) {
  if (!cond) fail(msg);
}

/** show prints values for messages: BigInts, bytes, -0 and NaN visibly. */
export function show(v) {
  if (v === undefined) return "undefined";
  return JSON.stringify(v, (k, x) => {
    if (typeof x === "bigint") return `${x}n`;
    if (x instanceof Uint8Array) return `bytes(${Buffer.from(x).toString("hex")})`;
    if (typeof x === "number" && (Number.isNaN(x) || !Number.isFinite(x) || Object.is(x, -0))) return Object.is(x, -0) ? "-0" : String(x);
    return x;
  });
}

/** same is deep equality that tells BigInt from number, -0 from 0, and bytes apart. */
export function same(a, b) {
  if (typeof a !== typeof b) return false;
  if (typeof a === "number") return Object.is(a, b);
  if (a === null || b === null || typeof a !== "object") return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
}

export function eq(got, want, what) {
  if (!same(got, want)) fail(`${what}: got ${show(got)}, want ${show(want)}`);
}

/** hex turns "0a 0b..." (spaces allowed) into bytes. */
export function hex(s) {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}

export function tohex(b) {
  return Buffer.from(b).toString("hex");
}

/** throws runs fn and checks that it throws an error whose message matches re. */
export function throws(fn, re, what) {
  try {
    fn();
  } catch (e) {
    if (re && !re.test(String(e && e.message))) fail(`${what}: threw ${show(String(e && e.message))}, want ${re}`);
    return e;
  }
  fail(`${what}: did not throw`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** until polls cond every 10 ms until it is true, failing after ms. */
export async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(10);
  }
  fail(`${what}: not true after ${ms} ms`);
}

/**
 * Recorder keeps every event of a client, so that a script can wait for
 * one (or check that one never came) without racing its arrival.
 */
export class Recorder {
  constructor(client, name) {
    this.client = client;
    this.name = name;
    this.events = [];
    for (const ev of ["entityCreated", "entityDestroyed", "call", "attrChanged", "spaceEntered", "moved", "disconnected"]) {
      client.on(ev, (e) => this.events.push({ kind: ev, at: Date.now(), ...e }));
    }
  }
  /**
   * next waits for the first unconsumed event of this kind matching pred,
   * marks it consumed and returns it; other events stay for later calls.
   */
  async next(kind, pred = () => true, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
      for (const e of this.events) {
        if (e.used) continue;
        if (e.kind === kind && pred(e)) {
          e.used = true;
          return e;
        }
        if (e.kind === "disconnected" && kind !== "disconnected") {
          fail(`${this.name}: disconnected (${e.reason}) while waiting for ${kind}`);
        }
      }
      if (Date.now() > end) fail(`${this.name}: no matching ${kind} event after ${ms} ms`);
      await sleep(5);
    }
  }
  /** none checks that no unconsumed event of this kind matches pred. */
  none(kind, pred, what) {
    const e = this.events.find((e) => !e.used && e.kind === kind && pred(e));
    if (e) fail(`${this.name}: unexpected ${kind}: ${what}`);
  }
  /** call waits for the server's call of method and returns its args. */
  async call(method, ms) {
    const e = await this.next("call", (e) => e.method === method || e.method === "Error", ms);
    if (e.method === "Error") fail(`${this.name}: the server reported: ${show(e.args)}`);
    return e.args;
  }
}
