// goworld.js against a real in-process cluster (js_test.go starts it):
// the boot player, arguments of every kind and their Go types on the
// server, attribute sync, spaces and positions, other clients coming into
// view and leaving it, broadcasts, a handover, kicks, and heartbeats.
//
//   node cluster.mjs WS_URL ARENA_ID HEARTBEAT_TIMEOUT_MS

import { GoWorld, step, fail, deadline, check, eq, same, throws, sleep, Recorder } from "./lib.mjs";

deadline(30000);
const [url, arena, hbArg] = process.argv.slice(2);
if (!url || !GoWorld.isEntityID(arena) || !(Number(hbArg) > 0)) fail("usage: cluster.mjs WS_URL ARENA_ID HEARTBEAT_TIMEOUT_MS");
const heartbeatTimeout = Number(hbArg);
const HEARTBEAT = 400; // ms: a fifth of the gate's timeout in js_test.go

async function dial(name, options = {}) {
  const c = new GoWorld.Client({ heartbeatInterval: HEARTBEAT, ...options });
  const rec = new Recorder(c, name);
  await c.connect(url);
  const boot = await rec.next("entityCreated", (e) => e.isPlayer);
  check(boot.entity.type === "Tester", `${name}: boot entity of type ${boot.entity.type}`);
  check(c.playerID === boot.id && c.player() === boot.entity && boot.entity.isPlayer, `${name}: the boot entity is the player`);
  eq(boot.entity.attrs, {}, `${name}: the boot entity's attributes`);
  return { c, rec, name, id: boot.id };
}

// obj builds a plain object from pairs, "__proto__" included as a key.
function obj(pairs) {
  const o = {};
  for (const [k, v] of pairs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

step("a silent client and an idle one, for the heartbeat checks at the end");
const silent = await dial("silent", { heartbeatInterval: 0 });
const idle = await dial("idle");
const t0 = Date.now();

step("alice's boot entity");
const a = await dial("alice");

step("arguments of every kind, as the server sees them");
{
  const sent = ["héllo 世界 🎮", 42, -7, 2.5, GoWorld.float(3), true, false, null, [1, "x", 1.5, [GoWorld.float(0)]],
    { a: 1, b: [true], c: { d: null }, e: "", skipped: undefined }, new Uint8Array([0, 255]), 2n ** 60n, 2n ** 64n - 1n,
    -(2n ** 63n), 255, 65536, -0, GoWorld.float(-0), 1e300, NaN, -Infinity, 2n ** 53n + 1n];
  a.c.callPlayer("Kinds", sent);
  const [desc, echo] = await a.rec.call("OnKinds");
  eq(desc, '[string("héllo 世界 🎮"),int64(42),int64(-7),float64(2.5),float64(3),bool(true),bool(false),nil,' +
    '[int64(1),string("x"),float64(1.5),[float64(0)]],{a:int64(1),b:[bool(true)],c:{d:nil},e:string("")},bytes(00ff),' +
    "int64(1152921504606846976),uint64(18446744073709551615),int64(-9223372036854775808),int64(255),int64(65536)," +
    "int64(0),float64(-0),float64(1e+300),float64(NaN),float64(-Inf),int64(9007199254740993)]", "the Go types of the arguments");
  eq(echo, ["héllo 世界 🎮", 42, -7, 2.5, 3, true, false, null, [1, "x", 1.5, [0]], { a: 1, b: [true], c: { d: null }, e: "" },
    new Uint8Array([0, 255]), 2n ** 60n, 2n ** 64n - 1n, -(2n ** 63n), 255, 65536, 0, -0, 1e300, NaN, -Infinity, 2n ** 53n + 1n],
    "the arguments sent back");
}

step("typed parameters: string, int, float64, bool, []int, map, []byte, uint8, float32, pointer, struct, array");
{
  a.c.callPlayer("Typed", "s", 7, GoWorld.float(2), true, [1, 2, 3], { x: 1.5, y: GoWorld.float(2), z: 4 }, new Uint8Array([9]),
    255, 0.1, null, { X: 1.5, Z: 2, name: "p", extra: "ignored" }, [-32768, 32767]);
  eq(await a.rec.call("OnTyped"), ["s", 7, 2, true, [1, 2, 3], { x: 1.5, y: 2, z: 4 }, new Uint8Array([9]), 255, Math.fround(0.1),
    null, { X: 1.5, Z: 2, name: "p" }, [-32768, 32767]], "typed echo (the float32 comes back as a float32)");
  a.c.callPlayer("Numbers", -128, 65535, -(2n ** 63n), 2n ** 64n - 1n, GoWorld.float(-0));
  eq(await a.rec.call("OnNumbers"), [-128, 65535, -(2n ** 63n), 2n ** 64n - 1n, -0, true], "integers at their limits, and -0.0");
}

step("attribute sync: every operation, nested maps and lists (protocol.md 11)");
{
  const changes = [];
  const off = a.c.on("attrChanged", (e) => changes.push([e.opName, e.path]));
  a.c.callPlayer("AttrScript");
  const [bag, hp] = await a.rec.call("OnAttrs");
  off();
  eq(changes, [["set", ["bag"]], ["set", ["bag", "gold"]], ["append", ["bag", "items"]], ["append", ["bag", "items"]],
    ["set", ["bag", "items", 0]], ["pop", ["bag", "items"]], ["delete", ["bag", "gold"]], ["append", ["bag", "items"]],
    ["set", ["bag", "items", 1, "n"]], ["append", ["bag", "items", 1, "tags"]], ["set", ["bag", "speed"]], ["set", ["bag", "__proto__"]],
    ["set", ["bag", "nested"]], ["append", ["bag", "nested", 1]], ["set", ["bag", "blob"]], ["set", ["bag", "big"]], ["set", ["bag", "neg"]],
    ["set", ["hp"]], ["set", ["hp"]]], "the changes, in order");
  const want = obj([["items", ["axe", { n: 2, tags: ["a", "b"] }]], ["speed", 3], ["__proto__", "not a prototype"],
    ["nested", [[1, 2], [true]]], ["blob", new Uint8Array([1, 2, 3])], ["big", 2n ** 60n], ["neg", -200]]);
  eq(bag, want, "the server's copy of bag");
  eq(a.c.player().attrs.bag, want, "the client's view of bag");
  check(Object.getPrototypeOf(a.c.player().attrs.bag) === Object.prototype, "__proto__ stayed a plain key");
  eq(hp, 99, "hp on the server");
  eq(Object.keys(a.c.player().attrs).sort(), ["bag", "hp"], "no server-only attribute in the view");
  eq(a.c.player().attrs.hp, 99, "hp in the view");
  a.c.callPlayer("SetName", "alice");
  await a.rec.call("OnNamed");
  eq(a.c.player().attrs.name, "alice", "name");
}

step("spaces: alice enters the arena");
const b = await dial("bob");
{
  a.c.callPlayer("Enter", arena, 0, 0);
  const se = await a.rec.next("spaceEntered");
  eq([se.id, se.type, se.pos, se.yaw], [arena, "Arena", { x: 0, y: 0, z: 0 }, 0], "alice's MsgEnterSpace");
  eq(a.c.space, { id: arena, type: "Arena" }, "alice's space");
  b.c.callPlayer("SetName", "bob");
  await b.rec.call("OnNamed");
  b.c.callPlayer("Enter", arena, GoWorld.float(5), GoWorld.float(0));
  const seb = await b.rec.next("spaceEntered");
  eq([seb.id, seb.pos], [arena, { x: 5, y: 0, z: 0 }], "bob's MsgEnterSpace");
  eq([b.c.player().pos, b.c.player().yaw], [{ x: 5, y: 0, z: 0 }, 0], "bob's position");
  const seenByB = await b.rec.next("entityCreated", (e) => e.id === a.id);
  eq([seenByB.isPlayer, seenByB.entity.type, seenByB.entity.attrs, seenByB.entity.pos], [false, "Tester", { name: "alice", hp: 99 }, { x: 0, y: 0, z: 0 }],
    "bob sees alice, with her AttrAllClients attributes only");
  const seenByA = await a.rec.next("entityCreated", (e) => e.id === b.id);
  eq([seenByA.isPlayer, seenByA.entity.attrs, seenByA.entity.pos], [false, { name: "bob" }, { x: 5, y: 0, z: 0 }], "alice sees bob");
  eq([a.c.playerID, b.c.playerID], [a.id, b.id], "the players stay");
  eq(a.c.entities().length, 2, "alice's view: herself and bob");
}

step("positions: bob walks, alice sees it");
{
  b.c.movePlayer({ x: 6, y: 1, z: 2 }, 0.5);
  eq([b.c.player().pos, b.c.player().yaw], [{ x: 6, y: 1, z: 2 }, 0.5], "bob's own view");
  const m = await a.rec.next("moved", (e) => e.updates.some((u) => u.id === b.id && same(u.pos, { x: 6, y: 1, z: 2 })));
  const u = m.updates.find((u) => u.id === b.id);
  eq([u.yaw, u.entity === a.c.entity(b.id)], [0.5, true], "bob's update");
  eq([a.c.entity(b.id).pos, a.c.entity(b.id).yaw], [{ x: 6, y: 1, z: 2 }, 0.5], "bob in alice's view");
}

step("attributes of another entity: alice is hurt, bob sees it");
{
  a.c.callPlayer("Hurt", 9);
  const ch = await b.rec.next("attrChanged", (e) => e.entityID === a.id);
  eq([ch.opName, ch.path, ch.value, ch.entity === b.c.entity(a.id)], ["set", ["hp"], 90, true], "bob's change");
  eq(b.c.entity(a.id).attrs, { name: "alice", hp: 90 }, "alice in bob's view");
  b.rec.none("attrChanged", (e) => e.path[0] === "bag", "bob got alice's AttrOwnClient bag");
}

step("a method exposed to all clients: bob pokes alice");
b.c.call(a.id, "Poke", "from bob");
eq(await a.rec.call("OnPoked"), ["from bob"], "OnPoked");

step("the server moves alice");
{
  a.c.callPlayer("Teleport", 1.5, 0, GoWorld.float(2), 0.25);
  await a.rec.next("moved", (e) => e.updates.some((u) => u.id === a.id && same(u.pos, { x: 1.5, y: 0, z: 2 }) && u.yaw === 0.25));
  eq([a.c.player().pos, a.c.player().yaw], [{ x: 1.5, y: 0, z: 2 }, 0.25], "alice's view of herself");
  await b.rec.next("moved", (e) => e.updates.some((u) => u.id === a.id && same(u.pos, { x: 1.5, y: 0, z: 2 })));
  eq(b.c.entity(a.id).pos, { x: 1.5, y: 0, z: 2 }, "alice in bob's view");
}

step("a broadcast reaches every player");
b.c.callPlayer("Shout", "hello all");
for (const p of [a, b]) {
  const e = await p.rec.next("call", (e) => e.method === "OnShout");
  eq([e.broadcast, e.entityID, e.args], [true, p.id, ["hello all"]], `${p.name}'s broadcast`);
}

step("bob walks out of alice's view");
{
  b.c.movePlayer({ x: 100, y: 0, z: 100 }, 0);
  const gone = await a.rec.next("entityDestroyed", (e) => e.id === b.id);
  eq([gone.isPlayer, gone.type], [false, "Tester"], "bob leaves alice's view");
  check(a.c.entity(b.id) === null && a.c.playerID === a.id, "alice's view without bob");
  await b.rec.next("entityDestroyed", (e) => e.id === a.id);
  eq(b.c.entities().map((e) => e.id), [b.id], "bob's view: himself");
}

step("alice leaves the space");
{
  a.c.callPlayer("Leave");
  const left = await a.rec.next("spaceEntered", (e) => e.id === null);
  eq(left.type, "", "no space type");
  eq(a.c.space, null, "no space");
  throws(() => a.c.movePlayer({ x: 1, y: 0, z: 1 }), /in no space/, "movePlayer outside a space");
}

step("a handover: alice becomes an Other");
{
  a.c.callPlayer("Become", "new self");
  const d = await a.rec.next("entityDestroyed", (e) => e.id === a.id);
  eq([d.isPlayer, d.type], [true, "Tester"], "the old player is destroyed");
  const cr = await a.rec.next("entityCreated", (e) => e.isPlayer);
  eq([cr.entity.type, cr.entity.attrs, a.c.playerID], ["Other", { label: "new self" }, cr.id], "the new player");
  eq(await a.rec.call("OnBecame"), ["new self"], "OnBecame");
}

step("kicks: by game code, for a method not exposed, for bad arguments");
{
  b.c.callPlayer("KickMe", "bye now, bob");
  const d = await b.rec.next("disconnected");
  eq([d.reason, d.kicked], ["bye now, bob", true], "bob's kick");
  check(!b.c.connected, "bob is not connected");
  throws(() => b.c.callPlayer("Hello"), /no player|not connected/, "a call after the kick");

  a.c.callPlayer("Hurt", 1); // Other does not expose it
  const da = await a.rec.next("disconnected");
  eq([da.reason, da.kicked], ["call Other.Hurt refused: method is not exposed to clients", true], "alice's kick");

  const c = await dial("carol");
  c.c.callPlayer("Numbers", 2.5, 0, 0, 0, 0);
  const dc = await c.rec.next("disconnected");
  check(dc.kicked && /^call Tester\.Numbers refused: Tester\.Numbers: rpc: bad arguments: argument 0 \(int8\)/.test(dc.reason),
    `carol's kick: ${dc.reason}`);
}

step("heartbeats: the silent client is kicked, the heartbeating one stays");
{
  const d = await silent.rec.next("disconnected", () => true, heartbeatTimeout * 3);
  eq([d.reason, d.kicked], ["heartbeat timeout: nothing received for too long", true], "the silent client's kick");
  const quietFor = 2 * heartbeatTimeout + 300 - (Date.now() - t0);
  if (quietFor > 0) await sleep(quietFor);
  check(idle.c.connected, `the idle client is connected after ${Date.now() - t0} ms (heartbeat_timeout ${heartbeatTimeout} ms)`);
  idle.c.callPlayer("Hello");
  eq(await idle.rec.call("OnHello"), [idle.id], "the idle client still works");
  check(idle.c.stats().framesOut >= 3, `heartbeats sent: ${idle.c.stats().framesOut}`);
  const closing = idle.c.close();
  const di = await idle.rec.next("disconnected");
  eq([di.reason, di.kicked], ["closed by the client", false], "close()");
  await closing;
}

console.log("cluster: ok");
process.exit(0);
