// The API through the ES module (goworld.d.mts), as a game's TypeScript
// client and a generated stub use it. Right uses compile; each line under
// `// @ts-expect-error` must be an error (tsc fails if it is not).
// Type-checked only (TestTypeDeclarations), never run.

import GoWorld, {
  Client,
  Entity,
  RequestError,
  ProtocolError,
  ErrorCode,
  MsgType,
  AttrOp,
  FrameReader,
  float,
  encode,
  decode,
  decodeOne,
  encodeFrame,
  applyAttrChange,
  isEntityID,
  connect,
  PROTOCOL_VERSION,
} from "@goworld-engine/client";
import type {
  ClientOptions,
  ClientEvents,
  ClientEventName,
  EntityCreatedEvent,
  EntityDestroyedEvent,
  CallEvent,
  AttrChangedEvent,
  SpaceEnteredEvent,
  MovedEvent,
  DisconnectedEvent,
  ReconnectingEvent,
  ResumedEvent,
  Value,
  Sendable,
  Attrs,
  Vector3,
} from "@goworld-engine/client";

// The default export is the same object as the named ones.
const same: typeof Client = GoWorld.Client;
const v: number = PROTOCOL_VERSION;

// Options.
const opts: ClientOptions = { heartbeatInterval: 1000, requestTimeout: 500, maxSendBody: 1 << 16 };
const client = new Client(opts);
new Client();
// @ts-expect-error: a misspelt option
new Client({ heartbeatIntervall: 1000 });
// @ts-expect-error: a number option given a string
new Client({ connectTimeout: "10s" });
// @ts-expect-error: WebSocket must be a class
new Client({ WebSocket: {} });
// A resumable session (protocol.md 8.1).
const resuming: ClientOptions = { resume: true, reconnectMax: 30000, reconnectDelay: 100, reconnectDelayMax: 2000, resumeBuffer: 1 << 20 };
// @ts-expect-error: resume is a boolean
new Client({ resume: "yes" });

// A stub a generator writes: typed wrappers over call and request.
type ChatLine = { room: string; name: string; text: string };
class ChatStub {
  constructor(private readonly c: Client) {}
  say(text: string): void {
    this.c.callPlayer("Say", text);
  }
  history(room: string, n: number): Promise<ChatLine[]> {
    return this.c.requestPlayer<ChatLine[]>("History", room, n);
  }
  onChat(fn: (room: string, name: string, text: string) => void): () => void {
    return this.c.onCall("OnChat", fn);
  }
}

async function session(url: string): Promise<void> {
  await client.connect(url);
  const c2: Client = await connect(url, { heartbeatInterval: 0 });
  await c2.close();

  // Events: each listener gets its event's type.
  const off: () => void = client.on("entityCreated", (e: EntityCreatedEvent) => {
    const ent: Entity = e.entity;
    const hp: Value | undefined = ent.attrs["hp"];
    if (e.isPlayer && ent.type === "Account") client.call(e.id, "Login", "alice", "secret");
    // @ts-expect-error: entities are read-only views
    ent.type = "Other";
    // @ts-expect-error: no such field
    void e.player;
    void hp;
  });
  off();
  client.on("entityDestroyed", (e: EntityDestroyedEvent) => void (e.entity?.id ?? e.type));
  client.on("call", (e: CallEvent) => void [e.method, e.args.length, e.broadcast, e.entityID]);
  client.on("attrChanged", (e: AttrChangedEvent) => {
    // @ts-expect-error: the path is a list of keys only for an entity in the view
    void e.path[0];
    if (e.entity) {
      const name: "set" | "delete" | "append" | "pop" = e.opName;
      const first: string | number | undefined = e.path[0];
      void [name, first, e.op === AttrOp.Set, e.entity.attrs];
    }
  });
  client.on("spaceEntered", (e: SpaceEnteredEvent) => void (e.id === null ? "left" : e.pos.x + e.yaw));
  client.on("moved", (e: MovedEvent) => e.updates.forEach((u) => void (u.entity ? u.pos.z : u.id)));
  client.once("disconnected", (d: DisconnectedEvent) => void [d.reason, d.kicked, d.code, d.error?.message, d.refused === true]);
  client.on("reconnecting", (e: ReconnectingEvent) => void [e.attempt + 1, e.error.message]);
  client.on("resumed", (e: ResumedEvent) => void [e.resent + 1, client.reconnecting === false, client.resumable === true]);
  // @ts-expect-error: a reconnecting event has no reason
  client.on("reconnecting", (e) => void e.reason);
  void resuming;
  // @ts-expect-error: no such event
  client.on("connected", () => {});
  // @ts-expect-error: a listener of the wrong event type
  client.on("moved", (e: CallEvent) => void e.method);

  const names: ClientEventName[] = ["call", "moved"];
  const ev: ClientEvents["call"] = await client.waitFor("call", (c) => c.method === "OnLogin", 5000);
  const boot = await client.waitFor("entityCreated", (e) => e.isPlayer);
  const disc = await client.waitFor("disconnected");
  // @ts-expect-error: waitFor's event type follows its name
  const wrong: CallEvent = await client.waitFor("moved");
  void [names, ev, boot.entity.attrs, disc.reason, wrong];

  // onCall: args are Values unless the handler narrows them.
  client.onCall("OnChat", (room, name, text) => {
    const r: Value = room;
    // @ts-expect-error: a Value is not a string until narrowed
    const s: string = name;
    void [r, s, text];
  });
  client.onCall("OnChat", (room: string, name: string, text: string) => void (room + name + text));

  // Calls: what can be sent.
  const point: Sendable = { x: 1, y: float(2), tags: ["a"], blob: new Uint8Array(2), big: 2n ** 60n, none: undefined };
  client.callPlayer("Move", point, [1, 2, 3], new Map([["k", 1]]), null, true, new ArrayBuffer(4));
  client.call("AAAAAAAAAAAAAAAA", "Poke", "me");
  type Move = { x: number; z: number };
  const m: Move = { x: 1, z: 2 };
  client.callPlayer("Go", m);
  // @ts-expect-error: a function cannot be sent
  client.callPlayer("Go", () => 1);
  // @ts-expect-error: a Date cannot be sent
  client.callPlayer("Go", new Date());
  // @ts-expect-error: a symbol cannot be sent
  client.callPlayer("Go", Symbol("x"));
  // @ts-expect-error: nor can typed arrays other than Uint8Array
  client.callPlayer("Go", new Float32Array(2));
  // @ts-expect-error: Map keys are strings
  client.callPlayer("Go", new Map([[1, "x"]]));
  // @ts-expect-error: the method name is missing
  client.call("AAAAAAAAAAAAAAAA");
  // @ts-expect-error: an entity ID is a string
  client.call(42, "Poke");

  // Requests.
  const doubled: number = await client.requestPlayer<number>("Double", 21);
  const any: Value = await client.request("AAAAAAAAAAAAAAAA", "Echo", "x");
  // @ts-expect-error: an untyped result is a Value, not a number
  const n: number = await client.requestPlayer("Double", 21);
  try {
    await client.requestPlayer("Refuse", 3);
  } catch (e) {
    if (e instanceof RequestError) {
      const code: number = e.code;
      const msg: string = e.serverMessage;
      if (e.code === ErrorCode.Timeout || code >= ErrorCode.User) void msg;
      // @ts-expect-error: no such code
      void ErrorCode.Nope;
    }
  }
  void [doubled, any, n];

  // The view.
  const p: Entity | null = client.player();
  // @ts-expect-error: player() may be null
  void client.player().id;
  const id: string | null = client.playerID;
  const others: Entity[] = client.entities().filter((e) => !e.isPlayer);
  const s = client.space;
  if (s) void (s.id + s.type);
  const st = client.stats();
  void [p, id, others, st.bytesIn + st.framesOut, client.connected, client.lastDisconnect?.reason];
  // @ts-expect-error: connected is read-only
  client.connected = true;
  const at: Vector3 = { x: 1, y: 0, z: 2 };
  client.movePlayer(at, 90);
  client.movePlayer({ x: 1, y: 2, z: 3 });
  // @ts-expect-error: a position has x, y and z
  client.movePlayer({ x: 1, z: 2 });

  await client.close();
  new ChatStub(client).say("hi");
}
void session;
void same;
void v;

// Lower level.
const bytes: Uint8Array = encode({ a: [1, float(2)] });
const back: Value = decode(bytes);
const one: { value: Value; length: number } = decodeOne(bytes, 0);
const fromBuffer: Value = decode(new ArrayBuffer(1));
const frame: Uint8Array = encodeFrame(MsgType.Heartbeat);
const reader = new FrameReader(1 << 20);
reader.push(frame);
const f = reader.next();
// @ts-expect-error: next() returns null when no whole frame is there
void f.type;
if (f) void (f.type === MsgType.HeartbeatAck, f.body.length);
const attrs: Attrs = { bag: { items: [] } };
applyAttrChange(attrs, AttrOp.Append, ["bag", "items"], "sword");
// @ts-expect-error: constants are read-only
MsgType.Kick = 99;
declare const maybe: string | number;
if (!isEntityID(maybe)) {
  // @ts-expect-error: isEntityID is no type guard (a string may be a bad ID)
  const notString: number = maybe;
  void notString;
}
const pe = new ProtocolError("x");
const err: Error = pe;
const re = new RequestError(ErrorCode.User + 1, "no");
void [back, one, fromBuffer, err, re.code];
