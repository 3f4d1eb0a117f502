// The chat demo's web page (web/index.html) under Node, against the demo's
// entities on a real cluster (web_test.go starts it). The page's inline
// script runs as it would in a browser, with a small stand-in for the DOM:
// the script types into its fields, submits its forms, clicks its buttons
// and reads its messages list.
//
//   node webpage.mjs WS_URL

import { readFileSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pagePath = resolve(here, "../web/index.html");
let current = "start";
const fail = (msg) => {
  console.error(`FAIL [${current}]: ${msg}`);
  process.exit(1);
};
const check = (cond, msg) => cond || fail(msg);
setTimeout(() => fail("timed out after 90 s"), 90000).unref();
process.on("unhandledRejection", (e) => fail(`unhandled rejection: ${e && e.stack ? e.stack : e}`));
process.on("uncaughtException", (e) => fail(`uncaught exception: ${e && e.stack ? e.stack : e}`));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const url = process.argv[2];
if (!url) fail("usage: webpage.mjs WS_URL");

// The page loads goworld.js with a classic script tag, by a path that
// must lead to the library from web/.
const html = readFileSync(pagePath, "utf8");
const tags = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
check(tags.length === 2, `the page has ${tags.length} script tags, want 2 (goworld.js, then the page's own)`);
const src = /\ssrc="([^"]+)"/.exec(tags[0][1]);
check(src && src[1] === "../../../clients/js/goworld.js", `the first script is ${tags[0][1]}`);
check(!/type="module"/.test(tags[0][1] + tags[1][1]), "the page uses classic scripts");
const libPath = resolve(dirname(pagePath), src[1]);
check(existsSync(libPath), `${src[1]} does not lead to goworld.js from web/ (${libPath})`);
await import(libPath);
const GoWorld = globalThis.GoWorld;
check(GoWorld && GoWorld.Client, "goworld.js set globalThis.GoWorld");
const pageCode = tags[1][2];

// --- a stand-in for the little DOM the page uses

class Element {
  constructor(tag, id, attrs) {
    this.tagName = tag.toUpperCase();
    this.id = id;
    this.value = /\svalue="([^"]*)"/.exec(attrs)?.[1] ?? "";
    this.disabled = /\sdisabled(\s|$|>)/.test(attrs);
    this.textContent = "";
    this.className = "";
    this.children = [];
    this.listeners = {};
    this.scrollTop = 0;
  }
  get scrollHeight() {
    return this.children.length * 20;
  }
  get firstChild() {
    return this.children[0] || null;
  }
  appendChild(c) {
    this.children.push(c);
    return c;
  }
  removeChild(c) {
    const i = this.children.indexOf(c);
    if (i < 0) throw new Error("removeChild: not a child");
    this.children.splice(i, 1);
    return c;
  }
  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }
  dispatch(type) {
    let prevented = false;
    const ev = { type, target: this, preventDefault: () => (prevented = true) };
    for (const fn of this.listeners[type] || []) fn(ev);
    return prevented;
  }
}

class Document {
  constructor(html) {
    this.byId = new Map();
    for (const m of html.matchAll(/<(\w+)(\s[^>]*?\bid="([^"]+)"[^>]*)>/g)) this.byId.set(m[3], new Element(m[1], m[3], m[2]));
  }
  getElementById(id) {
    return this.byId.get(id) || null;
  }
  createElement(tag) {
    return new Element(tag, "", "");
  }
}

// Page is one browser tab with the page open.
class Page {
  constructor(name) {
    this.name = name;
    this.doc = new Document(html);
    this.seen = 0; // lines before this one were matched by expect
    new Function("document", "GoWorld", pageCode)(this.doc, GoWorld);
  }
  el(id) {
    const e = this.doc.getElementById(id);
    check(e, `${this.name}: no element #${id}`);
    return e;
  }
  type(id, value) {
    check(!this.el(id).disabled, `${this.name}: #${id} is disabled`);
    this.el(id).value = value;
  }
  submit(form, button) {
    check(!this.el(button).disabled, `${this.name}: #${button} is disabled`);
    check(this.el(form).dispatch("submit"), `${this.name}: #${form}'s submit was not prevented (the page would reload)`);
  }
  click(id) {
    check(!this.el(id).disabled, `${this.name}: #${id} is disabled`);
    this.el(id).dispatch("click");
  }
  lines() {
    return this.el("messages").children.map((li) => li.textContent);
  }
  // expect waits for a line equal to want among those not yet matched.
  async expect(want, ms = 20000) {
    const end = Date.now() + ms;
    for (;;) {
      const lines = this.lines();
      const i = lines.indexOf(want, this.seen);
      if (i >= 0) {
        this.seen = i + 1;
        return;
      }
      if (Date.now() > end) fail(`${this.name}: no line ${JSON.stringify(want)} after ${ms} ms; the page shows:\n  ${lines.join("\n  ")}`);
      await sleep(10);
    }
  }
  fill(user, password, room) {
    this.type("gate", url);
    this.type("user", user);
    this.type("password", password);
    if (room) this.type("room", room);
  }
  login(user, password, room) {
    this.fill(user, password, room);
    this.submit("login-form", "login");
  }
  register(user, password, room) {
    this.fill(user, password, room);
    this.click("register");
  }
  say(text) {
    this.type("text", text);
    this.submit("say-form", "say");
    check(this.el("text").value === "", `${this.name}: the text box was not cleared`);
  }
}

// ---------------------------------------------------------------------

current = "the page's initial state";
let alice = new Page("alice");
check(alice.el("gate").value === "ws://127.0.0.1:14002/", `default gate URL ${alice.el("gate").value}`);
check(alice.el("room").value === "lobby", "default room");
check(!alice.el("login").disabled && !alice.el("register").disabled && alice.el("say").disabled && alice.el("join").disabled && alice.el("logout").disabled, "buttons before login");
check(alice.el("status").textContent === "Not connected.", "status before login");

current = "a login before registering";
const early = new Page("early");
early.login("alice", "secret");
await early.expect("login failed: wrong name or password");
await early.expect("disconnected: closed by the client");

current = "alice registers and joins the lobby";
alice.register("alice", "secret");
await alice.expect("logged in as alice");
await alice.expect("joined lobby");
check(alice.el("login").disabled && alice.el("register").disabled && !alice.el("say").disabled && !alice.el("join").disabled && !alice.el("logout").disabled, "buttons after login");

current = "the name alice is taken";
const copycat = new Page("copycat");
copycat.register("alice", "another");
await copycat.expect("registration failed: that name is taken");
await copycat.expect("disconnected: closed by the client");
check(!copycat.el("register").disabled, "copycat can try again");

current = "bob registers in the garden";
const bob = new Page("bob");
bob.register("bob", "hunter2", "garden");
await bob.expect("logged in as bob");
await bob.expect("joined garden");

current = "alice says something in the lobby";
alice.say("hello from a browser <b>&amp;</b>");
await alice.expect("[lobby] alice: hello from a browser <b>&amp;</b>");
await sleep(200);
check(!bob.lines().some((l) => l.includes("hello from a browser")), "bob, in the garden, heard the lobby");
check(/^Logged in as alice in lobby · 1 message said\.$/.test(alice.el("status").textContent), `alice's status: ${alice.el("status").textContent}`);

current = "bob joins the lobby and they talk";
bob.type("room", "lobby");
bob.submit("join-form", "join");
await bob.expect("joined lobby");
bob.say("hi alice");
await bob.expect("[lobby] bob: hi alice");
await alice.expect("[lobby] bob: hi alice");
alice.say("hi bob, 世界 🎮");
await bob.expect("[lobby] alice: hi bob, 世界 🎮");
await alice.expect("[lobby] alice: hi bob, 世界 🎮");

current = "the server's OnError";
bob.type("room", "bad room!");
bob.submit("join-form", "join");
await bob.expect("error: a room name is 1 to 32 letters, digits, '_', '.' or '-'");

current = "a wrong password";
const eve = new Page("eve");
eve.login("alice", "not-her-password");
await eve.expect("login failed: wrong name or password");
await eve.expect("disconnected: closed by the client");
check(!eve.el("login").disabled && eve.el("say").disabled, "eve can try again");

current = "bob logs out; alice is told he left";
bob.click("logout");
await bob.expect("disconnected: closed by the client");
await alice.expect("bob left lobby");
check(!bob.el("login").disabled && bob.el("logout").disabled, "bob's buttons after logging out");

current = "alice logs in from a second tab; the first is kicked";
const alice2 = new Page("alice2");
alice2.login("alice", "secret");
await alice2.expect("logged in as alice");
await alice2.expect("joined lobby");
await alice.expect("disconnected: logged in from another connection");
check(!alice.el("login").disabled, "the first tab can log in again");
alice2.say("second tab");
await alice2.expect("[lobby] alice: second tab");
check(/ 3 messages said\.$/.test(alice2.el("status").textContent), `alice2's status: ${alice2.el("status").textContent}`);

current = "a gate that is not there";
const lost = new Page("lost");
lost.type("gate", "ws://127.0.0.1:1/");
lost.type("user", "x");
lost.type("password", "y");
lost.submit("login-form", "login");
await lost.expect("connecting to ws://127.0.0.1:1/…");
for (let i = 0; i < 1000 && !lost.lines().some((l) => l.startsWith("goworld: cannot connect to ws://127.0.0.1:1/")); i++) await sleep(10);
check(lost.lines().some((l) => l.startsWith("goworld: cannot connect to ws://127.0.0.1:1/")), `no connection error shown: ${lost.lines()}`);
check(!lost.el("login").disabled, "login enabled again after a failed connection");

current = "the end";
alice2.click("logout");
await alice2.expect("disconnected: closed by the client");
await sleep(50);
console.log("webpage: ok");
process.exit(0);
