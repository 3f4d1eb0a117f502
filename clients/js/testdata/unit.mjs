// Unit tests of goworld.js with no network: MessagePack and frames against
// the bytes of docs/protocol.md, attribute changes (section 11.3), the
// whole worked session of sections 12.8 and 13 through a fake WebSocket
// (bytes in and bytes out), resumable sessions (protocol.md 8.1) against a
// fake gate, byte by byte, and a bounded fuzz of the decoders and of the
// client's frame handling, resumable sessions and resume answers included.
//
//   node unit.mjs [fuzz-iterations [fuzz-seed]]

import { GoWorld, step, fail, deadline, check, eq, show, hex, tohex, throws, same, sleep, until } from "./lib.mjs";

deadline(60000);
const fuzzIterations = Number(process.argv[2] || 20000);
const fuzzSeed = Number(process.argv[3] || 0x9e3779b9) >>> 0 || 1;

// ---------------------------------------------------------------------------
step("msgpack encoding, as protocol.md 7 shows it");
{
  const enc = (v) => tohex(GoWorld.encode(v));
  eq(enc([GoWorld.float(3), 2.5, 3]), "93cb4008000000000000cb400400000000000003", "[3.0, 2.5, 3]");
  eq(enc(250), "ccfa", "250");
  eq(enc(-33), "d0df", "-33");
  eq(enc(-200), "d1ff38", "-200");
  eq(enc(GoWorld.float(-0)), "cb8000000000000000", "float(-0)");
  eq(enc(Infinity), "cb7ff0000000000000", "+Inf");
  eq(enc(-0), "00", "-0 as an integer");
  eq(enc(2), "02", "2");
  eq(enc(GoWorld.float(2)), "cb4000000000000000", "float(2)");
  eq(enc(0.5), "cb3fe0000000000000", "0.5");
  const cases = [
    [0, "00"], [127, "7f"], [128, "cc80"], [255, "ccff"], [256, "cd0100"], [65535, "cdffff"],
    [65536, "ce00010000"], [4294967295, "ceffffffff"], [4294967296, "cf0000000100000000"],
    [2 ** 60, "cf1000000000000000"], [-1, "ff"], [-32, "e0"], [-128, "d080"], [-129, "d1ff7f"],
    [-32768, "d18000"], [-32769, "d2ffff7fff"], [-2147483648, "d280000000"], [-2147483649, "d3ffffffff7fffffff"],
    [-(2 ** 63), "d38000000000000000"], [2 ** 64, "cb43f0000000000000"], [1e300, "cb7e37e43c8800759c"],
    [2n ** 64n - 1n, "cfffffffffffffffff"], [-(2n ** 63n), "d38000000000000000"], [5n, "05"], [-5n, "fb"],
    [true, "c3"], [false, "c2"], [null, "c0"], [undefined, "c0"],
    ["", "a0"], ["a".repeat(31), "bf" + "61".repeat(31)], ["a".repeat(32), "d920" + "61".repeat(32)],
    ["a".repeat(256), "da0100" + "61".repeat(256)], ["é", "a2c3a9"],
    [new Uint8Array([1, 2]), "c4020102"], [new Uint8Array(256), "c50100" + "00".repeat(256)], [new Uint8Array([7]).buffer, "c40107"],
    [[], "90"], [new Array(16).fill(1), "dc0010" + "01".repeat(16)],
    [{}, "80"], [{ a: 1, skipped: undefined }, "81a16101"], [new Map([["k", [null]]]), "81a16b91c0"],
  ];
  for (const [v, h] of cases) eq(enc(v), h, `encode ${show(v).slice(0, 40)}`);
  throws(() => GoWorld.encode(2n ** 64n), /does not fit 64 bits/, "2^64n");
  throws(() => GoWorld.encode(() => 1), /function cannot be sent/, "function");
  throws(() => GoWorld.encode(Symbol("x")), /symbol cannot be sent/, "symbol");
  throws(() => GoWorld.encode(new Date()), /Date/, "Date");
  throws(() => GoWorld.encode(new Float32Array(2)), /Float32Array/, "Float32Array");
  throws(() => GoWorld.encode(new Map([[1, 2]])), /string keys only/, "Map with a number key");
  const cyc = [];
  cyc.push(cyc);
  throws(() => GoWorld.encode(cyc), /nested deeper than 32/, "a cycle");
  let deep = [];
  for (let i = 0; i < 32; i++) deep = [deep];
  GoWorld.encode(deep); // 33 arrays: the server's limit for one argument
  throws(() => GoWorld.encode([deep]), /nested deeper than 32/, "34 arrays");
}

// ---------------------------------------------------------------------------
step("msgpack decoding: every encoding the server may send");
{
  const dec = (h) => GoWorld.decode(hex(h));
  const cases = [
    ["00", 0], ["7f", 127], ["ff", -1], ["e0", -32], ["cc80", 128], ["cdffff", 65535], ["ceffffffff", 4294967295],
    ["cf001fffffffffffff", 2 ** 53 - 1], ["cf0020000000000000", 2n ** 53n], ["cfffffffffffffffff", 2n ** 64n - 1n],
    ["d080", -128], ["d18000", -32768], ["d280000000", -2147483648], ["d3ffe0000000000001", -(2 ** 53 - 1)],
    ["d3ffe0000000000000", -(2n ** 53n)], ["d38000000000000000", -(2n ** 63n)], ["d30000000000000005", 5],
    ["c0", null], ["c2", false], ["c3", true],
    ["cb4008000000000000", 3], ["cb8000000000000000", -0], ["ca40400000", 3], ["ca3fc00000", 1.5],
    ["cb7ff0000000000000", Infinity], ["cbfff0000000000000", -Infinity],
    ["a0", ""], ["a3616263", "abc"], ["d903616263", "abc"], ["da0003616263", "abc"], ["db00000003616263", "abc"],
    ["a2c3a9", "é"], ["a1ff", "\ufffd"],
    ["c4020102", new Uint8Array([1, 2])], ["c500020102", new Uint8Array([1, 2])], ["c6000000020102", new Uint8Array([1, 2])],
    ["92c0c3", [null, true]], ["dc0001c0", [null]], ["dd00000001c0", [null]],
    ["81a161c0", { a: null }], ["de0001a161c0", { a: null }], ["df00000001a161c0", { a: null }],
    ["82a16101a16102", { a: 2 }], // a repeated key: the last one wins, as in a Go map
  ];
  for (const [h, want] of cases) eq(dec(h), want, `decode ${h}`);
  check(Number.isNaN(dec("cb7ff8000000000000")), "NaN decodes as NaN");
  // "__proto__" and "constructor" are plain keys.
  const o = dec("82a95f5f70726f746f5f5f01ab636f6e7374727563746f7202");
  eq(Object.keys(o).sort(), ["__proto__", "constructor"], "special keys");
  check(Object.getPrototypeOf(o) === Object.prototype && o.constructor === 2, "special keys are own data");
  eq(GoWorld.decodeOne(hex("01 02 03"), 1), { value: 2, length: 1 }, "decodeOne at an offset");

  const bad = [
    ["c1", /0xc1/], ["c7", /extension/], ["c8", /extension/], ["c9", /extension/], ["d4", /extension/],
    ["d5", /extension/], ["d6", /extension/], ["d7", /extension/], ["d8", /extension/],
    ["81c0c0", /map key of type nil/], ["8101c0", /map key of type number/], ["81c401ffc0", /map key of type object/],
    ["", /need 1 bytes/], ["cd01", /need 2 bytes/], ["a5616263", /string of 5 exceeds the 3 bytes left/],
    ["ddffffffff", /array of 4294967295 exceeds the 0 bytes left/], ["dfffffffff01", /map of 4294967295 exceeds/],
    ["c6ffffffff", /binary of 4294967295 exceeds/], ["dbffffffff", /string of 4294967295 exceeds/],
    ["9101c0", /1 trailing bytes/], ["81a161", /need 1 bytes/],
  ];
  for (const [h, re] of bad) {
    const e = throws(() => dec(h), re, `decode ${h || "(empty)"}`);
    check(e instanceof GoWorld.ProtocolError && e.name === "GoWorldProtocolError", `decode ${h}: error is a ProtocolError`);
  }
  // Nesting: 33 levels decode (as in the Go client), 34 do not.
  dec("91".repeat(32) + "90");
  throws(() => dec("91".repeat(33) + "90"), /nesting deeper than 32/, "34 levels");
  throws(() => dec("81a161".repeat(33) + "80"), /nesting deeper than 32/, "34 levels of maps");
}

// ---------------------------------------------------------------------------
step("frames: encoding and a streaming reader");
{
  eq(tohex(GoWorld.encodeFrame(1)), "020000000100", "heartbeat");
  eq(tohex(GoWorld.encodeFrame(3, hex("aabb"))), "040000000300aabb", "a frame with a body");
  const frames = [GoWorld.encodeFrame(2), GoWorld.encodeFrame(12, new Uint8Array(300).fill(7)), GoWorld.encodeFrame(16, hex("0000"))];
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let off = 0;
  for (const f of frames) {
    all.set(f, off);
    off += f.length;
  }
  for (const chunk of [all.length, 1, 2, 5, 7, 100]) {
    const r = new GoWorld.FrameReader();
    const got = [];
    for (let i = 0; i < all.length; i += chunk) {
      r.push(all.subarray(i, i + chunk));
      for (let f; (f = r.next()); ) got.push(f);
    }
    eq(got.map((f) => [f.type, f.body.length]), [[2, 0], [12, 300], [16, 2]], `frames in chunks of ${chunk}`);
    check(got[1].body.every((b) => b === 7), "body bytes");
    eq(r.buffered(), 0, "nothing left over");
  }
  let r = new GoWorld.FrameReader();
  r.push(hex("01000000"));
  throws(() => r.next(), /frame length 1 below 2/, "length 1");
  throws(() => r.next(), /below 2/, "a broken reader stays broken");
  r = new GoWorld.FrameReader(1000);
  r.push(hex("ffffffff")); // 4 GiB announced: refused before anything is allocated
  throws(() => r.next(), /frame too large: 4294967293 bytes, limit 1000/, "huge frame");
  r = new GoWorld.FrameReader(1000);
  r.push(hex("ea030000")); // 1002 = 2 + 1000: allowed
  eq(r.next(), null, "a frame at the limit waits for its body");
}

// ---------------------------------------------------------------------------
step("attribute changes: protocol.md 11.3, row by row");
{
  const rows = [
    ["01", "91a3626167", "82a4676f6c640aa56974656d7390", { bag: { gold: 10, items: [] } }],
    ["01", "92a3626167a4676f6c64", "ccfa", { bag: { gold: 250, items: [] } }],
    ["03", "92a3626167a56974656d73", "a573776f7264", { bag: { gold: 250, items: ["sword"] } }],
    ["03", "92a3626167a56974656d73", "a6736869656c64", { bag: { gold: 250, items: ["sword", "shield"] } }],
    ["01", "93a3626167a56974656d7300", "a3617865", { bag: { gold: 250, items: ["axe", "shield"] } }],
    ["04", "92a3626167a56974656d73", "c0", { bag: { gold: 250, items: ["axe"] } }],
    ["02", "92a3626167a4676f6c64", "c0", { bag: { items: ["axe"] } }],
  ];
  const root = {};
  for (const [op, path, value, want] of rows) {
    GoWorld.applyAttrChange(root, parseInt(op, 16), GoWorld.decode(hex(path)), GoWorld.decode(hex(value)));
    eq(root, want, `after op ${op} path ${path}`);
  }
  const bad = [
    [1, [], 1, /empty/], [1, ["nope", "x"], 1, /no key "nope"/], [1, ["bag", "items", 5], 1, /index 5 out of range/],
    [1, ["bag", "items", 1], 1, /index 1 out of range/], [3, ["bag"], 1, /append on a map/], [4, ["bag", "items", 0], null, /pop on a string/],
    [2, ["bag", "items", 0], null, /cannot delete 0 from a list/], [9, ["bag"], 1, /unknown attribute operation 9/],
    [1, ["bag", "constructor", "x"], 1, /no key "constructor"/], [1, ["bag", "items", "0"], 1, /index 0 out of range/],
  ];
  for (const [op, path, value, re] of bad) throws(() => GoWorld.applyAttrChange(root, op, path, value), re, `op ${op} ${show(path)}`);
  GoWorld.applyAttrChange(root, 1, ["__proto__"], { x: 1 });
  check(Object.getPrototypeOf(root) === Object.prototype && root.__proto__.x === 1, "__proto__ is a plain key");
  GoWorld.applyAttrChange(root, 1, ["__proto__", "y"], 2);
  eq(Object.keys(root).sort(), ["__proto__", "bag"], "keys after __proto__");
}

// ---------------------------------------------------------------------------
step("RequestError: an Error of its own class, with or without new");
{
  for (const e of [new GoWorld.RequestError(1002, "refused"), GoWorld.RequestError(GoWorld.ErrorCode.Timeout)]) {
    check(e instanceof GoWorld.RequestError && e instanceof Error && !(e instanceof GoWorld.ProtocolError), `${e.message}: its classes`);
    check(e.name === "GoWorldRequestError" && e.constructor === GoWorld.RequestError, `${e.message}: name ${e.name}`);
  }
  const e = GoWorld.RequestError(1002, "refused");
  eq([e.code, e.serverMessage, e.message], [1002, "refused", "goworld: request failed: code 1002: refused"], "a game's code");
  const t = GoWorld.RequestError(GoWorld.ErrorCode.Timeout);
  eq([t.code, t.serverMessage, t.message], [1, "", "goworld: request failed: timeout"], "a timeout without a message");
  check(!(new Error("x") instanceof GoWorld.RequestError), "a plain Error is not a RequestError");
}

step("names and IDs");
{
  for (const s of ["Login", "_x", "héllo", "Ünïcode9", "x1"]) check(GoWorld.isIdentifier(s), `${s} is an identifier`);
  for (const s of ["", "1x", "@takeClient", "Say!", "func", "range", "a-b", "a b", "\ud800"]) check(!GoWorld.isIdentifier(s), `${show(s)} is not an identifier`);
  check(GoWorld.isEntityID("AAECAwQFBgcICQoL") && GoWorld.isEntityID("-_-_-_-_-_-_-_-_"), "valid IDs");
  for (const s of ["", "AAECAwQFBgcICQo", "AAECAwQFBgcICQoL1", "AAECAwQFBgcICQo=", "AAECAwQFBgcICQoé", 5]) check(!GoWorld.isEntityID(s), `${show(s)} is not an ID`);
}

// ---------------------------------------------------------------------------
// FakeWebSocket stands in for the browser's WebSocket: the script plays the
// gate, delivering bytes and reading what the client sent.
class FakeWebSocket {
  static last = null;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.binaryType = "blob";
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.last = this;
  }
  send(data) {
    if (this.readyState !== 1) throw new Error("fake: send on a socket that is not open");
    check(data instanceof Uint8Array, "the client sends Uint8Arrays");
    this.sent.push(new Uint8Array(data));
  }
  close(code) {
    this.closedWith = code;
    if (this.readyState >= 2) return;
    this.readyState = 2;
    setTimeout(() => {
      this.readyState = 3;
      this.onclose && this.onclose({ code: code || 1005, reason: "" });
    }, 0);
  }
  // test side
  open() {
    this.readyState = 1;
    this.onopen({});
  }
  deliver(bytes) {
    check(this.binaryType === "arraybuffer", "binaryType is arraybuffer");
    const b = bytes.slice();
    this.onmessage({ data: b.buffer });
  }
  serverClose(code) {
    this.readyState = 3;
    this.onclose({ code, reason: "" });
  }
  /** take returns the frames sent since the last take, heartbeats left out. */
  take() {
    const out = this.sent.filter((b) => tohex(b) !== "020000000100").map(tohex);
    this.sent = [];
    return out;
  }
}

const cat = (...parts) => {
  const bs = parts.map((p) => (typeof p === "string" ? hex(p) : p));
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of bs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
};
const tick = () => sleep(1);

step("a client session in the bytes of protocol.md 13, 11.3 and 12.8");
{
  const c = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  const ev = [];
  for (const name of ["entityCreated", "entityDestroyed", "call", "attrChanged", "spaceEntered", "moved", "disconnected"]) {
    c.on(name, (e) => ev.push([name, e]));
  }
  const connecting = c.connect("ws://fake/");
  const ws = FakeWebSocket.last;
  eq(ws.url, "ws://fake/", "url");
  ws.open();
  eq(ws.take(), ["0400000005000100"], "the first frame: MsgClientHello, protocol version 1");
  eq(GoWorld.PROTOCOL_VERSION, 1, "PROTOCOL_VERSION");
  await connecting;
  check(c.connected, "connected after open");
  await tick();

  const ACCOUNT = "AAECAwQFBgcICQoL", AVATAR = "DA0ODxAREhMUFRYX", AVATAR_HEX = "4441304f4478415245684d5546525958";
  // ① boot entity
  ws.deliver(hex("1d0000000a0041414543417751464267634943516f4c0107004163636f756e7480"));
  eq(ev.length, 1, "one event");
  eq(ev[0][0], "entityCreated", "event");
  eq([ev[0][1].id, ev[0][1].isPlayer, ev[0][1].entity.type, ev[0][1].entity.attrs], [ACCOUNT, true, "Account", {}], "boot entity");
  eq(c.playerID, ACCOUNT, "player ID");
  check(c.player() === c.entity(ACCOUNT) && c.player().isPlayer, "player()");
  eq(c.player().pos, { x: 0, y: 0, z: 0 }, "no position outside a space");
  // ② Register
  c.call(ACCOUNT, "Register", "alice", "secret");
  eq(ws.take(), ["2a000000030041414543417751464267634943516f4c0800526567697374657292a5616c696365a6736563726574"], "Register bytes");
  // ③ handover: destroy and create in one WebSocket message
  ev.length = 0;
  ws.deliver(cat("120000000b0041414543417751464267634943516f4c",
    "270000000a00" + AVATAR_HEX + "01060041766174617281a46e616d65a5616c696365"));
  eq(ev.map((e) => e[0]), ["entityDestroyed", "entityCreated"], "handover events");
  eq([ev[0][1].id, ev[0][1].type, ev[0][1].isPlayer], [ACCOUNT, "Account", true], "destroyed the old player");
  eq([ev[1][1].id, ev[1][1].isPlayer, ev[1][1].entity.attrs], [AVATAR, true, { name: "alice" }], "the new player");
  check(c.entity(ACCOUNT) === null && c.playerID === AVATAR, "the view after the handover");
  // ④ OnLogin, split over messages byte by byte
  ev.length = 0;
  const onLogin = hex("220000000c004441304f4478415245684d554652595807004f6e4c6f67696e91a5616c696365");
  for (let i = 0; i < onLogin.length; i++) ws.deliver(onLogin.subarray(i, i + 1));
  eq(ev.length, 1, "one call from a frame split in 38 messages");
  eq([ev[0][0], ev[0][1].entityID, ev[0][1].method, ev[0][1].args, ev[0][1].broadcast], ["call", AVATAR, "OnLogin", ["alice"], false], "OnLogin");
  // ⑤ JoinRoom
  c.callPlayer("JoinRoom", "lobby");
  eq(ws.take(), ["230000000300" + AVATAR_HEX + "08004a6f696e526f6f6d91a56c6f626279"], "JoinRoom bytes");
  ev.length = 0;
  ws.deliver(cat("1f0000000d00" + AVATAR_HEX + "0191a4726f6f6da56c6f626279",
    "230000000c00" + AVATAR_HEX + "08004f6e4a6f696e656491a56c6f626279"));
  eq(ev.map((e) => e[0]), ["attrChanged", "call"], "JoinRoom answers");
  eq([ev[0][1].entityID, ev[0][1].op, ev[0][1].opName, ev[0][1].path, ev[0][1].value], [AVATAR, 1, "set", ["room"], "lobby"], "attrChanged");
  eq(c.player().attrs, { name: "alice", room: "lobby" }, "attrs after the Set");
  // ⑥ Say, then the broadcast with a zero entity ID
  c.callPlayer("Say", "hi all");
  eq(ws.take(), ["1f0000000300" + AVATAR_HEX + "0300536179" + "91a6686920616c6c"], "Say bytes");
  ev.length = 0;
  ws.deliver(cat("1a0000000d00" + AVATAR_HEX + "0191a47361696401",
    "2e0000000c000000000000000000000000000000000006004f6e4368617493a56c6f626279a5616c696365a6686920616c6c"));
  eq(ev[1][1], { entityID: AVATAR, entity: c.player(), method: "OnChat", args: ["lobby", "alice", "hi all"], broadcast: true }, "broadcast");
  eq(c.player().attrs.said, 1, "said");

  // 11.3 on the avatar
  const rows = [
    ["01", "91a3626167", "82a4676f6c640aa56974656d7390"], ["01", "92a3626167a4676f6c64", "ccfa"],
    ["03", "92a3626167a56974656d73", "a573776f7264"], ["03", "92a3626167a56974656d73", "a6736869656c64"],
    ["01", "93a3626167a56974656d7300", "a3617865"], ["04", "92a3626167a56974656d73", "c0"], ["02", "92a3626167a4676f6c64", "c0"],
  ];
  const row5 = GoWorld.encodeFrame(13, cat(AVATAR_HEX, rows[4].join("")));
  eq(tohex(row5), "230000000d00" + AVATAR_HEX + "0193a3626167a56974656d7300a3617865", "11.3 change 5 as a frame");
  for (const r of rows) ws.deliver(GoWorld.encodeFrame(13, cat(AVATAR_HEX, r.join(""))));
  eq(c.player().attrs, { name: "alice", room: "lobby", said: 1, bag: { items: ["axe"] } }, "attrs after 11.3");

  // 12.8: enter the Arena, two entities in view
  ev.length = 0;
  ws.deliver(cat("290000000f0047426b6147787764486838674953496a0500417265 6e6100002041000000000000a04100000000",
    "350000000a004a43556d4a7967704b6973734c5334760006004176617461 7281a46e616d65a3626f6200004041000000000000c8410000c03f",
    "2d0000000a004d4445794d7a51314e6a63344f546f370007004d6f6e737465728000000041000000000000944100000 0bf"));
  eq(ev.map((e) => e[0]), ["spaceEntered", "entityCreated", "entityCreated"], "entering");
  eq(ev[0][1], { id: "GBkaGxwdHh8gISIj", type: "Arena", pos: { x: 10, y: 0, z: 20 }, yaw: 0 }, "spaceEntered");
  eq(c.space, { id: "GBkaGxwdHh8gISIj", type: "Arena" }, "space");
  eq([c.player().pos, c.player().yaw], [{ x: 10, y: 0, z: 20 }, 0], "player position from MsgEnterSpace");
  const bob = c.entity("JCUmJygpKissLS4v"), monster = c.entity("MDEyMzQ1Njc4OTo7");
  eq([bob.type, bob.isPlayer, bob.attrs, bob.pos, bob.yaw], ["Avatar", false, { name: "bob" }, { x: 12, y: 0, z: 25 }, 1.5], "bob");
  eq([monster.type, monster.attrs, monster.pos, monster.yaw], ["Monster", {}, { x: 8, y: 0, z: 18.5 }, -0.5], "monster");
  eq(ev[1][1].isPlayer, false, "others are not the player");
  eq(c.playerID, AVATAR, "the player stays");
  c.movePlayer({ x: 11, y: 0, z: 21 }, 0.25);
  eq(ws.take(), ["3200000004004441304f4478415245684d554652595847426b6147787764486838674953496a00003041000000000000a8410000803e"], "MsgSyncPosition bytes");
  eq([c.player().pos, c.player().yaw], [{ x: 11, y: 0, z: 21 }, 0.25], "movePlayer updates the view");
  ev.length = 0;
  ws.deliver(hex("44000000100002004a43556d4a7967704b6973734c53347600004841000000000000c0410000c03f4d4445794d7a51314e6a63344f546f37000004410000003f0000944100004040"));
  eq(ev[0][0], "moved", "moved");
  eq(ev[0][1].updates.map((u) => [u.id, u.pos, u.yaw, u.entity && u.entity.type]),
    [["JCUmJygpKissLS4v", { x: 12.5, y: 0, z: 24 }, 1.5, "Avatar"], ["MDEyMzQ1Njc4OTo7", { x: 8.25, y: 0.5, z: 18.5 }, 3, "Monster"]], "updates");
  eq([bob.pos, monster.pos, monster.yaw], [{ x: 12.5, y: 0, z: 24 }, { x: 8.25, y: 0.5, z: 18.5 }, 3], "view after positions");
  ws.deliver(hex("1f0000000d004a43556d4a7967704b6973734c53347601 91a46e616d65a5626f626279"));
  eq(bob.attrs.name, "bobby", "bob renamed");
  ev.length = 0;
  ws.deliver(hex("120000000b004a43556d4a7967704b6973734c533476"));
  eq([ev[0][0], ev[0][1].id, ev[0][1].type, ev[0][1].isPlayer], ["entityDestroyed", "JCUmJygpKissLS4v", "Avatar", false], "bob leaves");
  check(c.entity("JCUmJygpKissLS4v") === null && c.playerID === AVATAR, "bob is gone, the player stays");
  ws.deliver(cat("120000000b004d4445794d7a51314e6a63344f546f37",
    "240000000f00" + "00".repeat(16) + "0000" + "00003041000000000000a8410000803e"));
  eq(c.space, null, "no space");
  eq(ev[ev.length - 1], ["spaceEntered", { id: null, type: "", pos: { x: 11, y: 0, z: 21 }, yaw: 0.25 }], "left the space");
  eq(c.entities().map((e) => e.id), [AVATAR], "only the player is left");
  throws(() => c.movePlayer({ x: 1, y: 0, z: 1 }), /in no space/, "movePlayer outside a space");
  // positions for unknown IDs and the player itself
  ws.deliver(GoWorld.encodeFrame(16, cat("0200", "00".repeat(32), AVATAR_HEX, "0000803f000000400000404000008040")));
  eq([c.player().pos, c.player().yaw], [{ x: 1, y: 2, z: 3 }, 4], "a position entry for the player");

  // client-side refusals
  throws(() => c.call("AAECAwQFBgcICQo", "X"), /invalid entity ID/, "short ID");
  throws(() => c.call(AVATAR, "@takeClient"), /not a Go identifier/, "internal method");
  throws(() => c.call(AVATAR, "go"), /not a Go identifier/, "keyword");
  throws(() => c.call(AVATAR, "Say", new Date()), /Say argument 0: \[object Date\] cannot be sent/, "a Date argument");
  throws(() => c.call(AVATAR, "Say", "x".repeat(70000)), /over the limit of 65536/, "a call over 64 KiB");
  throws(() => c.movePlayer({ x: 1e39, y: 0, z: 0 }, 0), /not finite/, "a float32 overflow");
  eq(ws.take(), [], "nothing sent for refused calls");

  // ⑦ the kick: last frame; what follows it in the same message is ignored
  ev.length = 0;
  const reason = "logged in from another connection";
  ws.deliver(cat("120000000b00" + AVATAR_HEX, "250000000e002100" + tohex(new TextEncoder().encode(reason)), "020000000200"));
  eq(ev.map((e) => e[0]), ["entityDestroyed", "disconnected"], "kick events");
  eq(ev[1][1].reason, reason, "kick reason");
  eq(ev[1][1].kicked, true, "kicked");
  eq(ws.closedWith, 1000, "the client closes with 1000");
  check(!c.connected, "not connected after a kick");
  throws(() => c.call(AVATAR, "Say", "x"), /not connected/, "call after the kick");
  await c.close();
  eq(ev.length, 2, "close after a kick adds no event");
  eq(c.lastDisconnect.reason, reason, "lastDisconnect");
  eq(c.stats().framesIn > 20 && c.stats().framesOut, 5, "stats"); // the hello and 4 calls
}

step("connect: events wait for the task after connect() resolves");
{
  const c = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  const p = c.connect("ws://fake/");
  const ws = FakeWebSocket.last;
  ws.open();
  ws.deliver(hex("1d0000000a0041414543417751464267634943516f4c0107004163636f756e7480")); // same task as open
  await p;
  let created = 0;
  c.on("entityCreated", () => created++);
  await tick();
  eq(created, 1, "a listener added after await connect() sees the boot entity");
  // A cross-game handover may deliver the new player's create before the
  // old one's destroy (protocol.md 8, "Ordering").
  const account = c.player();
  ws.deliver(hex("270000000a004441304f4478415245684d554652595801060041766174617281a46e616d65a5616c696365"));
  eq([c.playerID, account.isPlayer, c.player().type], ["DA0ODxAREhMUFRYX", false, "Avatar"], "the newest isPlayer=1 is the player");
  const gone = c.waitFor("entityDestroyed");
  ws.deliver(hex("120000000b0041414543417751464267634943516f4c"));
  eq([(await gone).isPlayer, c.playerID], [false, "DA0ODxAREhMUFRYX"], "destroying the old player keeps the new one");
  // isPlayer = 0 for the player's own ID replaces it but keeps it the player.
  ws.deliver(hex("1c0000000a004441304f4478415245684d5546525958000600417661746172" + "80"));
  eq([c.playerID, c.player().isPlayer, c.player().attrs], ["DA0ODxAREhMUFRYX", true, {}], "isPlayer=0 naming the player");
  // The server closing without a kick.
  const d = c.waitFor("disconnected");
  ws.serverClose(1000);
  eq((await d).reason, "the server closed the connection", "server close");
  // Connecting again starts a new, empty view.
  const p2 = c.connect("ws://fake/2");
  eq(c.entities().length, 0, "a new connection starts empty");
  FakeWebSocket.last.open();
  await p2;
  const d2 = c.waitFor("disconnected");
  FakeWebSocket.last.deliver(hex("020000006300")); // type 99
  eq((await d2).reason, "goworld: unexpected message type 99 from the server", "unknown type");
  const p3 = c.connect("ws://fake/3");
  FakeWebSocket.last.serverClose(1006);
  await p3.then(() => fail("connect resolved"), (e) => check(/cannot connect to ws:\/\/fake\/3 \(WebSocket closed, code 1006\)/.test(e.message), `connect error: ${e.message}`));
  const c2 = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0, connectTimeout: 50 });
  await c2.connect("ws://fake/4").then(() => fail("connect resolved"), (e) => check(/no answer within 50 ms/.test(e.message), e.message));
  const c3 = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  const p4 = c3.connect("ws://fake/5");
  FakeWebSocket.last.open();
  await p4;
  const d3 = c3.waitFor("disconnected");
  await c3.close();
  eq((await d3).reason, "closed by the client", "close()");
  const c4 = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  const p5 = c4.connect("ws://fake/6");
  FakeWebSocket.last.open();
  await p5;
  const d4 = c4.waitFor("disconnected");
  FakeWebSocket.last.onmessage({ data: "text" });
  check(/text message/.test((await d4).reason), "a text message is a protocol error");
  const noWS = new GoWorld.Client({ WebSocket: null });
  if (typeof WebSocket === "undefined") {
    await noWS.connect("ws://x/").then(() => fail("connect without WebSocket"), (e) => check(/experimental-websocket/.test(e.message), e.message));
  }
  throws(() => c4.on("nope", () => {}), /unknown event "nope"/, "unknown event name");
  throws(() => c4.on("constructor", () => {}), /unknown event "constructor"/, "an Object.prototype name is no event");
  throws(() => c4.call(5n, "X"), /invalid entity ID 5n/, "a BigInt ID");
  // A path holding a BigInt that does not resolve: the reason names it.
  const c6 = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  const p7 = c6.connect("ws://fake/8");
  FakeWebSocket.last.open();
  await p7;
  await tick();
  FakeWebSocket.last.deliver(hex("1d0000000a0041414543417751464267634943516f4c0107004163636f756e7480"));
  const d6 = c6.waitFor("disconnected");
  FakeWebSocket.last.deliver(GoWorld.encodeFrame(13, cat("41414543417751464267634943516f4c", "01", GoWorld.encode(["bag", 2n ** 60n]), "c0")));
  eq((await d6).reason, 'goworld: protocol error: MsgAttrChange on AAECAwQFBgcICQoL ["bag",1152921504606846976n]: no key "bag"', "a BigInt in a path");
  // close() before the socket opens rejects connect() and emits nothing.
  const c5 = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  let events5 = 0;
  c5.on("disconnected", () => events5++);
  const p6 = c5.connect("ws://fake/7");
  const ws6 = FakeWebSocket.last;
  const r6 = p6.then(() => fail("connect resolved"), (e) => check(/closed by the client before the connection opened/.test(e.message), e.message));
  await c5.close();
  await r6;
  eq([ws6.closedWith, events5, c5.connected], [1000, 0, false], "close while connecting");
  // A reader that took one big frame does not keep its buffer.
  const big = new GoWorld.FrameReader();
  big.push(GoWorld.encodeFrame(12, new Uint8Array(3 << 20)));
  eq(big.next().body.length, 3 << 20, "a 3 MiB frame");
  big.push(GoWorld.encodeFrame(1));
  check(big.buf.length < 1 << 20, `the reader keeps ${big.buf.length} bytes after a big frame`);
}

step("heartbeats and dead-server detection with a fake socket");
{
  const interval = 100;
  const c = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: interval });
  const p = c.connect("ws://fake/hb");
  const ws = FakeWebSocket.last;
  ws.open();
  await p;
  // The fake gate answers each heartbeat at once, as a gate does.
  let acks = 0, lastAck = 0;
  const send = ws.send.bind(ws);
  ws.send = (data) => {
    send(data);
    if (tohex(data) === "020000000100" && ws.answering) {
      queueMicrotask(() => {
        acks++;
        lastAck = Date.now();
        ws.deliver(hex("020000000200"));
      });
    }
  };
  ws.answering = true;
  await sleep(10 * interval);
  check(c.connected, "alive while the server answers");
  check(acks >= 3, `${acks} heartbeats in ${10 * interval} ms`);
  ws.answering = false; // then it falls silent
  const d = await c.waitFor("disconnected", null, 10000);
  const quiet = Date.now() - lastAck;
  eq(d.reason, "the server stopped answering", "dead server");
  check(quiet >= 4 * interval - 20, `disconnected after ${quiet} ms of silence, before 4 intervals of ${interval} ms`);
}

step("the gate's heartbeat settings: followed, clamped, and the client's own options win");
{
  // interval u32 LE | timeout u32 LE, ms
  const ack = (iv, to) => {
    const b = new Uint8Array(14);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 10, true);
    dv.setUint16(4, 2, true);
    dv.setUint32(6, iv, true);
    dv.setUint32(10, to, true);
    return b;
  };
  const dial = async (options) => {
    const c = new GoWorld.Client({ WebSocket: FakeWebSocket, ...options });
    const p = c.connect("ws://fake/hb2");
    const ws = FakeWebSocket.last;
    ws.open();
    await p;
    await tick(); // frames are handled from the task after connect on
    return [c, ws];
  };
  {
    const [c, ws] = await dial({});
    eq(ws.sent.map(tohex), ["0400000005000100", "020000000100"], "a hello, then a heartbeat at once");
    eq(c.heartbeat(), { interval: 5000, timeout: 20000 }, "the defaults until the gate says");
    ws.deliver(hex("020000000200"));
    eq(c.heartbeat(), { interval: 5000, timeout: 20000 }, "an empty answer (an older gate) changes nothing");
    ws.deliver(ack(100, 300));
    eq(c.heartbeat(), { interval: 100, timeout: 300 }, "the gate's 100 ms and 300 ms");
    // The gate falls silent: noticed after its 300 ms, not 20 s.
    const d = await c.waitFor("disconnected", null, 5000);
    eq(d.reason, "the server stopped answering", "dead server at the announced timeout");
    const beats = ws.sent.filter((b) => tohex(b) === "020000000100").length;
    check(beats >= 2, `${beats} heartbeats at the announced 100 ms`);
  }
  for (const [options, iv, to, want, what] of [
    [{}, 0, 0, { interval: 100, timeout: 200 }, "zeros, clamped"],
    [{}, 0xffffffff, 0xffffffff, { interval: 600000, timeout: 2400000 }, "all ones, clamped"],
    [{}, 1000, 30000, { interval: 1000, timeout: 4000 }, "4 intervals below the gate's timeout"],
    [{ heartbeatInterval: 2000 }, 1000, 3000, { interval: 2000, timeout: 3000 }, "its own interval, the gate's timeout"],
    [{ heartbeatTimeout: 7000 }, 1000, 3000, { interval: 1000, timeout: 7000 }, "its own timeout"],
    [{ heartbeatInterval: 0 }, 1000, 3000, { interval: 0, timeout: 0 }, "heartbeats off"],
  ]) {
    const [c, ws] = await dial(options);
    ws.deliver(ack(iv, to));
    eq(c.heartbeat(), want, what);
    c.close();
  }
}

// ---------------------------------------------------------------------------
// Resumable sessions (protocol.md 8.1) against a fake gate, byte by byte.

// u64 is n as a u64 LE, in hex.
const u64 = (n) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return tohex(b);
};
const TOKEN1 = "11".repeat(32), TOKEN2 = "22".repeat(32), TOKEN3 = "33".repeat(32);
// session: MsgSession(token, window ms, limit).
const sessionFrame = (token, windowMs) => GoWorld.encodeFrame(18, hex(token + tohex(new Uint8Array(new Uint32Array([windowMs, 1 << 20]).buffer))));
const resumedFrame = (token, n) => GoWorld.encodeFrame(19, hex(token + u64(n)));
const ackFrame = (n) => GoWorld.encodeFrame(9, hex(u64(n)));
const kickFrame = (reason) => {
  const r = new TextEncoder().encode(reason);
  return GoWorld.encodeFrame(14, cat(tohex(new Uint8Array([r.length & 0xff, r.length >> 8])), r));
};
const BOOT = "1d0000000a0041414543417751464267634943516f4c0107004163636f756e7480"; // MsgCreateEntity of the boot Account
const callFrame = (method, n) => {
  const m = new TextEncoder().encode(method);
  return GoWorld.encodeFrame(12, cat("41414543417751464267634943516f4c", tohex(new Uint8Array([m.length, 0])), m, GoWorld.encode([n])));
};
const callBytes = (n) => {
  // What the client sends for c.call(ACCOUNT, "N", n).
  return tohex(GoWorld.encodeFrame(3, cat("41414543417751464267634943516f4c", "01004e", GoWorld.encode([n]))));
};
const ACC = "AAECAwQFBgcICQoL";
const resumeOpts = { WebSocket: FakeWebSocket, heartbeatInterval: 0, resume: true, reconnectDelay: 5, reconnectDelayMax: 20 };

// resumable dials a client with the resume option and plays a gate that
// makes the session resumable with token1 and window ms.
async function resumable(windowMs = 60000, options = {}) {
  const c = new GoWorld.Client({ ...resumeOpts, ...options });
  const ev = [];
  for (const name of ["entityCreated", "call", "disconnected", "reconnecting", "resumed"]) c.on(name, (e) => ev.push([name, e]));
  const p = c.connect("ws://fake/resume");
  const ws = FakeWebSocket.last;
  ws.open();
  await p;
  await tick();
  eq(ws.take(), ["050000000500010001"], "the hello with the HelloResume flag");
  // A broadcast can come before MsgSession: not counted.
  ws.deliver(cat(callFrame("Early", 0), sessionFrame(TOKEN1, windowMs), BOOT));
  eq(c.resumable, true, "resumable after MsgSession");
  return { c, ws, ev };
}

step("resume: counting, acks after 100 ms and at 32 KiB, the gate's acks");
{
  const { c, ws, ev } = await resumable();
  eq(ev.map((e) => e[0]), ["call", "entityCreated"], "the early broadcast and the boot entity are handled");
  for (let i = 1; i <= 3; i++) ws.deliver(callFrame("N", i));
  eq(ws.take(), [], "no ack at once");
  await sleep(150);
  eq(ws.take(), ["0a0000000900" + u64(4)], "one ack after 100 ms: the boot entity and 3 calls (the early broadcast is not counted)");
  await sleep(150);
  eq(ws.take(), [], "nothing new, no ack");
  // 32 KiB of session frames: acknowledged at once.
  const pad = "x".repeat(1000);
  // Frames of 1031 bytes: the 32nd passes 32 KiB.
  eq(callFrame("Pad", pad).length, 1031, "a padded call's size");
  for (let i = 0; i < 31; i++) ws.deliver(callFrame("Pad", pad));
  eq(ws.take(), [], "no ack below 32 KiB");
  ws.deliver(callFrame("Pad", pad));
  eq(ws.take(), ["0a0000000900" + u64(4 + 32)], "an ack at 32 KiB, without waiting");
  // The client's calls are counted and kept until the gate acknowledges them.
  for (let i = 1; i <= 3; i++) c.call(ACC, "N", i);
  eq(ws.take(), [1, 2, 3].map(callBytes), "calls are sent at once");
  ws.deliver(ackFrame(2));
  check(c.connected, "an ack within what was sent");
  const d = c.waitFor("disconnected");
  ws.deliver(ackFrame(1));
  eq((await d).reason, "goworld: Ack of 1 frames, but 3 were sent and 2 acknowledged", "an ack that goes backwards");
}
{
  const { c, ws } = await resumable();
  const d = c.waitFor("disconnected");
  ws.deliver(GoWorld.encodeFrame(9, hex("01000000000000")));
  eq((await d).reason, "goworld: malformed Ack (7 bytes)", "a 7-byte ack");
  const r2 = await resumable();
  const d2 = r2.c.waitFor("disconnected");
  r2.ws.deliver(ackFrame(1));
  eq((await d2).reason, "goworld: Ack of 1 frames, but 0 were sent and 0 acknowledged", "an ack of more than was sent");
  const r3 = await resumable();
  const d3 = r3.c.waitFor("disconnected");
  r3.ws.deliver(sessionFrame(TOKEN2, 1000));
  eq((await d3).reason, "goworld: Session after the session began", "a second MsgSession");
}
{
  // Without the option, the session frames are unexpected.
  const c = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0 });
  const p = c.connect("ws://fake/noresume");
  const ws = FakeWebSocket.last;
  ws.open();
  await p;
  await tick();
  const d = c.waitFor("disconnected");
  ws.deliver(sessionFrame(TOKEN1, 1000));
  eq((await d).reason, "goworld: unexpected message type 18 (Session) from the server: the client asked for no resumable session", "MsgSession not asked for");
}

step("resume: a drop, reconnecting, MsgResume, skipped frames, MsgResumed, resent calls, a new token");
{
  const { c, ws, ev } = await resumable();
  ws.deliver(cat(callFrame("N", 1), callFrame("N", 2))); // received: boot + 2
  for (let i = 1; i <= 4; i++) c.call(ACC, "N", i);
  ws.take();
  ws.deliver(ackFrame(1)); // the gate has the first call
  ev.length = 0;
  const reconnecting = c.waitFor("reconnecting");
  ws.serverClose(1006);
  const r = await reconnecting;
  eq([r.attempt, r.error.message], [1, "goworld: the server closed the connection (code 1006)"], "reconnecting: attempt 1 and why");
  check(c.connected && c.reconnecting, "connected and reconnecting while away");
  c.call(ACC, "N", 5); // while away: kept, sent on resume
  const req = c.request(ACC, "N", 6);
  await until(() => FakeWebSocket.last !== ws, "a new socket");
  const ws2 = FakeWebSocket.last;
  eq(ws2.url, "ws://fake/resume", "the same URL");
  ws2.open();
  eq(ws2.take(), ["2d0000000800" + "010001" + TOKEN1 + u64(3)], "MsgResume: version, flag, token, 3 frames received");
  // A broadcast before the answer is skipped (the session has its own
  // copy), then MsgResumed with the gate's count, then what it resends.
  ws2.deliver(cat(callFrame("Stray", 9), resumedFrame(TOKEN2, 2), callFrame("N", 3)));
  eq(ev.map((e) => e[0] + (e[1].method ? ":" + e[1].method : "")), ["reconnecting", "resumed", "call:N"], "events: resumed, then the resent call, not the stray one");
  check(c.connected && !c.reconnecting, "connected again");
  // The gate had 2 of the 4 calls: the client resends 3 and 4, then the
  // calls made while away, in one message, then carries on.
  const reqBytes = tohex(GoWorld.encodeFrame(6, cat("41414543417751464267634943516f4c", "01000000", "01004e", GoWorld.encode([6]))));
  eq(ws2.sent.map(tohex), [callBytes(3) + callBytes(4) + callBytes(5) + reqBytes], "the calls the gate had not received, in order, in one message");
  eq(ev.find((e) => e[0] === "resumed")[1], { resent: 4 }, "resumed says 4 were resent");
  ws2.sent = [];
  ws2.deliver(GoWorld.encodeFrame(17, hex("01000000" + "0000" + "07")));
  eq(await req, 7, "a request made while away is answered after the resume");
  await sleep(150);
  eq(ws2.take(), ["0a0000000900" + u64(5)], "acks go on from the count: boot, 2 calls, the resent call and the reply");
  // A second drop resumes with the new token.
  ws2.serverClose(1006);
  await until(() => FakeWebSocket.last !== ws2, "a third socket");
  const ws3 = FakeWebSocket.last;
  ws3.open();
  eq(ws3.take(), ["2d0000000800" + "010001" + TOKEN2 + u64(5)], "the second MsgResume carries the token MsgResumed gave");
  // A gate that counts more than was sent breaks the protocol.
  const d = c.waitFor("disconnected");
  ws3.deliver(resumedFrame(TOKEN3, 7));
  eq((await d).reason, "goworld: protocol error: Resumed counts 7 frames, but 6 were sent and 2 acknowledged", "Resumed past what was sent");
}

step("resume: refused, failed attempts, reconnectMax, reconnectMax < 0, a gate without sessions");
{
  const { c, ws } = await resumable();
  ws.serverClose(1006);
  await until(() => FakeWebSocket.last !== ws, "a new socket");
  FakeWebSocket.last.open();
  const d = c.waitFor("disconnected");
  FakeWebSocket.last.deliver(kickFrame("resume refused: unknown or expired session"));
  const got = await d;
  eq([got.reason, got.kicked, got.refused], ["resume refused: unknown or expired session", true, true], "a refused resume ends the session");
  eq(FakeWebSocket.last.closedWith, 1000, "the refused socket is closed");
  check(!c.connected, "not connected after a refusal");
  throws(() => c.call(ACC, "N", 1), /not connected/, "a call after the refusal");
}
{
  const { c, ws, ev } = await resumable(60000, { reconnectMax: 150 });
  const t0 = Date.now();
  ws.serverClose(1006);
  // Every attempt fails: the socket closes before opening.
  for (let last = ws; c.connected; ) {
    if (FakeWebSocket.last !== last) {
      last = FakeWebSocket.last;
      last.serverClose(1006);
    }
    await sleep(1);
  }
  const d = c.lastDisconnect;
  const attempts = ev.filter((e) => e[0] === "reconnecting").map((e) => e[1]);
  eq(d.reason, "could not reconnect within 150 ms", "reconnectMax passed");
  check(/^goworld: could not reconnect within 150 ms: goworld: the connection to ws:\/\/fake\/resume closed before the answer to Resume \(code 1006\)$/.test(d.error.message), d.error.message);
  check(Date.now() - t0 >= 140, "gave up after reconnectMax");
  check(attempts.length >= 3 && attempts.every((a, i) => a.attempt === i + 1), `attempts ${show(attempts.map((a) => a.attempt))}`);
  check(/closed before the answer to Resume/.test(attempts[1].error.message), `attempt 2's error: ${attempts[1].error.message}`);
  eq(d.refused, false, "not a refusal");
}
{
  // An attempt whose gate never answers ends at connectTimeout.
  const { c, ws, ev } = await resumable(60000, { connectTimeout: 50, reconnectMax: 5000 });
  ws.serverClose(1006);
  await until(() => ev.filter((e) => e[0] === "reconnecting").length >= 2, "a second attempt");
  const second = ev.filter((e) => e[0] === "reconnecting")[1][1];
  eq(second.error.message, "goworld: no answer to Resume within 50 ms", "an attempt that gets no answer");
  await c.close();
  eq(c.lastDisconnect.reason, "closed by the client", "close() while reconnecting ends at once");
  const n = FakeWebSocket.last;
  await sleep(100);
  check(FakeWebSocket.last === n && !c.connected, "no attempt after close()");
}
{
  const { c, ws, ev } = await resumable(60000, { reconnectMax: -1 });
  const d = c.waitFor("disconnected");
  ws.serverClose(1006);
  eq((await d).reason, "the server closed the connection", "reconnectMax < 0: a drop ends the session");
  eq(ev.filter((e) => e[0] === "reconnecting").length, 0, "no reconnecting");
}
{
  // A gate with resume_window = off: no MsgSession before the boot entity.
  const c = new GoWorld.Client(resumeOpts);
  const p = c.connect("ws://fake/nosession");
  const ws = FakeWebSocket.last;
  ws.open();
  await p;
  await tick();
  ws.deliver(hex(BOOT));
  eq(c.resumable, false, "no session");
  c.call(ACC, "N", 1);
  ws.take();
  await c.close();
  eq(ws.take(), [], "close() sends no goodbye without a session");
  const c2 = new GoWorld.Client(resumeOpts);
  const p2 = c2.connect("ws://fake/nosession2");
  const ws2 = FakeWebSocket.last;
  ws2.open();
  await p2;
  await tick();
  ws2.deliver(hex(BOOT));
  const d = c2.waitFor("disconnected");
  ws2.serverClose(1006);
  eq((await d).reason, "the server closed the connection", "a drop without a session ends it");
}

step("resume: close() says goodbye and waits for the answer; the buffer bound; the backoff");
{
  const { c, ws, ev } = await resumable();
  c.call(ACC, "N", 1);
  ws.take();
  const closing = c.close();
  eq(ws.take(), ["020000000700"], "close() sends MsgBye");
  check(c.lastDisconnect === null, "no disconnected before the answer");
  throws(() => c.call(ACC, "N", 2), /closing/, "a call after close()");
  ws.deliver(callFrame("N", 1)); // what the gate had queued comes first
  ws.deliver(GoWorld.encodeFrame(7));
  eq(ev.slice(-2).map((e) => e[0]), ["call", "disconnected"], "the queued call, then disconnected");
  eq([c.lastDisconnect.reason, ws.closedWith], ["closed by the client", 1000], "closed by the client, with 1000");
  await closing;
}
{
  const { c, ws } = await resumable();
  const t0 = Date.now();
  await c.close();
  eq(ws.take(), ["020000000700"], "MsgBye");
  const waited = Date.now() - t0;
  check(waited >= 950 && waited < 2000, `close() waited ${waited} ms for an answer that never came`);
  eq(c.lastDisconnect.reason, "closed by the client", "closed after the wait");
}
{
  // An unasked MsgBye is the server's close, not a drop.
  const { c, ws, ev } = await resumable();
  const d = c.waitFor("disconnected");
  ws.deliver(GoWorld.encodeFrame(7));
  eq((await d).reason, "the server closed the connection", "an unasked MsgBye");
  eq(ev.filter((e) => e[0] === "reconnecting").length, 0, "no reconnecting after the gate's goodbye");
}
{
  // resumeBuffer: 3 calls of 27 bytes fit in 81, the 4th does not, acks make room.
  eq(callBytes(1).length, 2 * 27, "a call's size");
  const { c, ws } = await resumable(60000, { resumeBuffer: 81 });
  for (let i = 1; i <= 3; i++) c.call(ACC, "N", i);
  throws(() => c.call(ACC, "N", 4), /too much sent and not yet acknowledged by the gate \(over the resumeBuffer option's 81 bytes\)/, "a call past resumeBuffer");
  eq(ws.take(), [1, 2, 3].map(callBytes), "nothing sent for the refused call");
  ws.deliver(ackFrame(3));
  c.call(ACC, "N", 4);
  eq(ws.take(), [callBytes(4)], "room again once acknowledged");
  c.close();
}
{
  const c = new GoWorld.Client({ reconnectDelay: 100, reconnectDelayMax: 1000 });
  for (let n = 1; n <= 70; n++) {
    const d = Math.min(100 * 2 ** Math.min(n - 1, 20), 1000);
    let lo = Infinity, hi = 0;
    for (let k = 0; k < 1000; k++) {
      const w = c._backoff(n);
      if (!(w >= d / 2 && w < (d * 3) / 2)) fail(`attempt ${n}: waits ${w}, want within [${d / 2}, ${(d * 3) / 2})`);
      lo = Math.min(lo, w);
      hi = Math.max(hi, w);
    }
    check(hi - lo >= d / 2, `attempt ${n}: 1000 waits within [${lo}, ${hi}]: hardly spread`);
  }
}

// ---------------------------------------------------------------------------
step(`fuzz: ${fuzzIterations} random inputs to the decoders and the client, seed ${fuzzSeed}`);
{
  // A small deterministic PRNG, so that a failure can be replayed.
  let seed = fuzzSeed;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const bytes = (n) => Uint8Array.from({ length: n }, () => (rnd() < 0.3 ? [0xc0, 0xdd, 0xdf, 0xdc, 0xff, 0x00, 0x91, 0x81, 0xdb, 0xc6][Math.floor(rnd() * 10)] : Math.floor(rnd() * 256)));
  const seeds = [
    GoWorld.encode({ a: [1, 2.5, "x", null, true, new Uint8Array([1])], b: { c: 2n ** 63n } }),
    hex("82a4676f6c640aa56974656d7390"), hex("93cb4008000000000000cb400400000000000003"),
  ];
  const t0 = Date.now();
  let errors = 0;
  for (let i = 0; i < fuzzIterations && Date.now() - t0 < 20000; i++) {
    let input;
    if (i % 2 === 0) input = bytes(Math.floor(rnd() * 40));
    else {
      input = seeds[i % seeds.length].slice();
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) input[Math.floor(rnd() * input.length)] = Math.floor(rnd() * 256);
      if (rnd() < 0.3) input = input.subarray(0, Math.floor(rnd() * input.length));
    }
    try {
      GoWorld.decode(input);
    } catch (e) {
      if (!(e instanceof GoWorld.ProtocolError)) fail(`decode(${tohex(input)}) threw ${e && e.stack}`);
      errors++;
    }
    const r = new GoWorld.FrameReader(1 << 16);
    try {
      for (let off = 0; off < input.length; off += 3) {
        r.push(input.subarray(off, off + 3));
        for (let n = 0; n < 1000 && r.next(); n++);
      }
    } catch (e) {
      if (!(e instanceof GoWorld.ProtocolError)) fail(`FrameReader(${tohex(input)}) threw ${e && e.stack}`);
    }
  }
  check(errors > 0, "the fuzz met errors");
  // The client: random bodies for every message type must end, at worst,
  // in a disconnection with a protocol error, never in an exception.
  const types = [2, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 99];
  const ids = ["AAECAwQFBgcICQoL", "DA0ODxAREhMUFRYX"].map((s) => new TextEncoder().encode(s));
  let sessions = 0, disconnects = 0, survived = 0;
  const A = "4441304f4478415245684d5546525958", B = "4a43556d4a7967704b6973734c533476";
  const validFrames = [
    "270000000a00" + A + "01060041766174617281a46e616d65a5616c696365",
    "350000000a00" + B + "00060041766174617281a46e616d65a3626f6200004041000000000000c8410000c03f",
    "220000000c00" + A + "07004f6e4c6f67696e91a5616c696365",
    "1f0000000d00" + A + "0191a4726f6f6da56c6f626279",
    "1f0000000d00" + B + "0191a46e616d65a5626f626279",
    "290000000f0047426b6147787764486838674953496a05004172656e6100002041000000000000a04100000000",
    "240000000f00" + "00".repeat(16) + "0000" + "00003041000000000000a8410000803e",
    "24000000100001" + "00" + B + "00004841000000000000c0410000c03f",
    "2e0000000c00" + "00".repeat(16) + "06004f6e4368617493a56c6f626279a5616c696365a6686920616c6c",
    "120000000b00" + B, "020000000200",
    // Answers to requests (none waits for them: they are ignored).
    "090000001100" + "01000000" + "0000" + "2a",
    "0c0000001100" + "01000000" + "0300" + "0200" + "6e6f",
  ];
  // Every other pair of sessions is resumable (protocol.md 8.1): the
  // gate's Ack, Session, Resumed and Bye are fuzzed too, and, in one
  // session of four, the answer to a resume after a drop halfway.
  let resumes = 0;
  const resumeSessions = fuzzIterations >= 80;
  for (let i = 0; i < fuzzIterations / 20 && Date.now() - t0 < 25000; i++) {
    const resume = i % 4 >= 2;
    const c = new GoWorld.Client({ WebSocket: FakeWebSocket, heartbeatInterval: 0, resume, reconnectDelay: 1, reconnectDelayMax: 2, connectTimeout: 50 });
    c.on("disconnected", (d) => {
      disconnects++;
      if (d.kicked || d.reason === "closed by the client") return;
      if (!/^goworld: |^goworld: protocol error: |^the server closed the connection$/.test(d.reason)) fail(`fuzz session ${i}: disconnected with ${show(d.reason)}`);
    });
    c.on("resumed", () => resumes++);
    const p = c.connect("ws://fake/fuzz");
    let ws = FakeWebSocket.last;
    ws.open();
    await p;
    await tick();
    sessions++;
    if (resume) ws.deliver(sessionFrame(TOKEN1, 60000));
    ws.deliver(cat("1d0000000a0041414543417751464267634943516f4c0107004163636f756e7480"));
    const mutateValid = i % 2 === 1;
    for (let k = 0; k < 30 && c.connected; k++) {
      if (resume && i % 4 === 3 && k === 15) {
        // A drop; the new socket gets the fuzz, answer first (or not).
        ws.serverClose(1006);
        await until(() => FakeWebSocket.last !== ws || !c.connected, "a resume attempt");
        if (!c.connected) break;
        ws = FakeWebSocket.last;
        ws.open();
        if (rnd() < 0.5) ws.deliver(rnd() < 0.7 ? resumedFrame(TOKEN2, 0) : kickFrame("resume refused: fuzz"));
        continue;
      }
      if (mutateValid) {
        // A frame of the documented session with, most of the time, one
        // byte of its body changed: sessions live longer this way.
        const f = hex(validFrames[Math.floor(rnd() * validFrames.length)]);
        if (rnd() < 0.15) f[6 + Math.floor(rnd() * (f.length - 6))] = Math.floor(rnd() * 256);
        ws.deliver(f);
        continue;
      }
      const t = types[Math.floor(rnd() * types.length)];
      let body = cat(ids[Math.floor(rnd() * 2)], bytes(Math.floor(rnd() * 40)));
      if (rnd() < 0.5 && seeds.length) body = cat(ids[0], Uint8Array.of(Math.floor(rnd() * 5)), seeds[k % seeds.length].subarray(0, Math.floor(rnd() * 20)), bytes(Math.floor(rnd() * 4)));
      ws.deliver(GoWorld.encodeFrame(t, body));
    }
    if (c.connected) {
      survived++;
      const closing = c.close();
      if (c.connected) ws.deliver(GoWorld.encodeFrame(7)); // the gate's answer to the goodbye
      await closing;
    }
  }
  check(!resumeSessions || resumes > 0, "no fuzzed session resumed");
  check(survived > 0, "no fuzzed session survived: the mutations are too coarse");
  console.log(`fuzz: ${fuzzIterations} decoder inputs (${errors} refused), ${sessions} client sessions (${disconnects - survived} ended by a protocol error or a kick, ${resumes} resumed) in ${Date.now() - t0} ms`);
}

console.log("unit: ok");
process.exit(0);
