/*
 * TypeScript declarations of goworld.js, the JavaScript client for
 * goworld gates (README.md documents the API; docs/protocol.md the
 * protocol). They describe the CommonJS module (require), the global
 * GoWorld a classic <script> sets (`export as namespace`), and, through
 * goworld.d.mts, the ES module (import).
 *
 * They need no DOM or Node type library: the WebSocket option is typed
 * structurally (WebSocketLike).
 */

export as namespace GoWorld;

// ---------------------------------------------------------------------------
// Values

/**
 * A value received from the server (protocol.md section 7): nil is null,
 * integers beyond ±(2^53 − 1) are BigInts, bin is a Uint8Array, a map is
 * a plain object with string keys.
 */
export type Value = null | boolean | number | bigint | string | Uint8Array | Value[] | { [key: string]: Value };

/** The attributes of an entity in the view: a map of Values. */
export type Attrs = { [key: string]: Value };

/**
 * A value that can be sent as an argument: what a Value can be, plus
 * undefined (nil; left out as a map entry), Float64 (GoWorld.float(x)),
 * ArrayBuffer and Uint8ClampedArray (bin), Maps with string keys, and
 * read-only arrays and objects. Functions, symbols, Dates and other
 * typed arrays cannot be sent (they throw a TypeError at run time).
 *
 * Objects are checked through an index signature: a `type` alias of an
 * object type fits, an `interface` does not (TypeScript gives interfaces
 * no implicit index signature); declare argument shapes with `type`.
 */
export type Sendable =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Float64
  | Uint8Array
  | Uint8ClampedArray
  | ArrayBuffer
  | readonly Sendable[]
  | ReadonlyMap<string, Sendable>
  | { readonly [key: string]: Sendable };

/** Bytes as the decoders take them. */
export type Bytes = Uint8Array | ArrayBuffer | ArrayBufferView;

/** A position in a space. */
export interface Vector3 {
  x: number;
  y: number;
  z: number;
}

/**
 * Float64 wraps a number that travels as a MessagePack float64 even when
 * it is integral, for a float parameter on the server (protocol.md 7.3).
 * Make one with GoWorld.float(x).
 */
export class Float64 {
  constructor(value: number);
  readonly value: number;
  valueOf(): number;
  toString(): string;
  toJSON(): number;
}

/** float(x) marks x to be sent as a float64, even when it is integral. */
export function float(x: number | bigint): Float64;

// ---------------------------------------------------------------------------
// Constants

/** Message types of the client protocol (protocol.md section 5). */
export const MsgType: {
  readonly Heartbeat: 1;
  readonly HeartbeatAck: 2;
  readonly CallEntity: 3;
  readonly SyncPosition: 4;
  readonly ClientHello: 5;
  readonly Request: 6;
  readonly Bye: 7;
  readonly Resume: 8;
  readonly Ack: 9;
  readonly CreateEntity: 10;
  readonly DestroyEntity: 11;
  readonly CallClient: 12;
  readonly AttrChange: 13;
  readonly Kick: 14;
  readonly EnterSpace: 15;
  readonly Positions: 16;
  readonly Reply: 17;
  readonly Session: 18;
  readonly Resumed: 19;
};
/** A message type number (a value of MsgType). */
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/**
 * Error codes of a request's answer (protocol.md, MsgReply). Codes from
 * User (1000) up are the game's own.
 */
export const ErrorCode: {
  readonly Timeout: 1;
  readonly NoEntity: 2;
  readonly NoMethod: 3;
  readonly BadArgs: 4;
  readonly Panicked: 5;
  readonly Overloaded: 6;
  readonly Failed: 7;
  readonly User: 1000;
};
/** An error code: one of ErrorCode's, or a game's own (1000 and up). */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode] | (number & {});

/** Attribute change operations (protocol.md section 11.2). */
export const AttrOp: {
  readonly Set: 1;
  readonly Delete: 2;
  readonly Append: 3;
  readonly Pop: 4;
};
/** An attribute operation number (a value of AttrOp). */
export type AttrOp = (typeof AttrOp)[keyof typeof AttrOp];

/** How deep arrays and maps may nest below an argument (32). */
export const MAX_DEPTH: number;

/** The client protocol version this client speaks (its MsgClientHello). */
export const PROTOCOL_VERSION: number;

// ---------------------------------------------------------------------------
// Errors

/**
 * What a request's promise rejects with when the server answered with an
 * error, or no answer came within requestTimeout: `code` says why. A
 * disconnection rejects with a plain Error instead. Callable with or
 * without `new`.
 */
export class RequestError extends Error {
  constructor(code: ErrorCode, message?: string);
  /** ErrorCode's, or the game's own (1000 and up). */
  readonly code: ErrorCode;
  /** The server's message ("" for none). */
  readonly serverMessage: string;
  /** "GoWorldRequestError". */
  readonly name: string;
}

/**
 * Malformed or unexpected input from the server, or given to a decoder.
 * Callable with or without `new`.
 */
export class ProtocolError extends Error {
  constructor(message: string);
  /** "GoWorldProtocolError". */
  readonly name: string;
}

// ---------------------------------------------------------------------------
// Entities and events

/** The client's view of one entity. Read it; the client keeps it up to date. */
export class Entity {
  /** Used by the client; programs get entities from it, not from here. */
  constructor(id: string, type: string, isPlayer: boolean, attrs: Attrs, pos: Vector3, yaw: number);
  /** The entity ID: 16 characters of A-Z a-z 0-9 - _. */
  readonly id: string;
  /** The entity type's name, as registered on the server. */
  readonly type: string;
  /** Whether this is the client's player. */
  readonly isPlayer: boolean;
  /** The client-visible attributes, kept up to date by the client. */
  readonly attrs: Attrs;
  /** Where the entity is in the player's space (zeros outside one). */
  readonly pos: Readonly<Vector3>;
  readonly yaw: number;
}

/** entityCreated: an entity entered the view. */
export interface EntityCreatedEvent {
  readonly id: string;
  readonly entity: Entity;
  /** The client's player (the boot entity, then each entity it is handed to). */
  readonly isPlayer: boolean;
}

/**
 * entityDestroyed: an entity left the view: it left the player's area of
 * interest, left the space or was destroyed, or (with the game's
 * aoi_view_limit) nearer entities took its place; a later entityCreated
 * brings it back with its current state.
 */
export interface EntityDestroyedEvent {
  readonly id: string;
  /** Its type, or "" for an ID that was not in the view. */
  readonly type: string;
  /** The removed view, or null for an ID that was not in it. */
  readonly entity: Entity | null;
  /** It was the player; there is none until the next entityCreated with isPlayer. */
  readonly isPlayer: boolean;
}

/** call: the server called a method on the client's copy of an entity. */
export interface CallEvent {
  /** The entity, or for a broadcast the current player's ID (null if none). */
  readonly entityID: string | null;
  readonly entity: Entity | null;
  readonly method: string;
  readonly args: Value[];
  /** CallFilteredClients or CallAllClients. */
  readonly broadcast: boolean;
}

/**
 * attrChanged: an attribute changed. For an entity in the view
 * (AppliedAttrChange) the entity's attrs already hold the change; for one
 * not in it (entity null) nothing was applied, and op and path are as the
 * server sent them, unchecked.
 */
export type AttrChangedEvent = AppliedAttrChange | UnappliedAttrChange;

/** An attribute change applied to an entity in the view. */
export interface AppliedAttrChange {
  readonly entityID: string;
  readonly entity: Entity;
  readonly op: AttrOp;
  readonly opName: "set" | "delete" | "append" | "pop";
  /** From the top-level attribute to the key or index that changed (to the list for append and pop). */
  readonly path: (string | number)[];
  readonly value: Value;
}

/** An attribute change for an entity not in the view: nothing was applied. */
export interface UnappliedAttrChange {
  readonly entityID: string;
  readonly entity: null;
  readonly op: number;
  /** "set", "delete", "append", "pop", or the number for another op. */
  readonly opName: string;
  readonly path: Value;
  readonly value: Value;
}

/** spaceEntered: the player entered a space, or left its space (id null). */
export interface SpaceEnteredEvent {
  readonly id: string | null;
  /** The space's type, "" when the player left its space. */
  readonly type: string;
  readonly pos: Vector3;
  readonly yaw: number;
}

/** One entry of a moved event. */
export interface PositionUpdate {
  /** null for an all-zero ID. */
  readonly id: string | null;
  readonly pos: Vector3;
  readonly yaw: number;
  /** null for an ID not in the view. */
  readonly entity: Entity | null;
}

/** moved: new positions of entities in the view. */
export interface MovedEvent {
  readonly updates: PositionUpdate[];
}

/** disconnected: the last event of a connection (of a session, with resume). */
export interface DisconnectedEvent {
  /**
   * The server's kick reason when kicked, otherwise "closed by the
   * client", "the server closed the connection", "the server stopped
   * answering", or a "goworld: …" protocol error; with the resume option,
   * also the gate's refusal ("resume refused: …", refused) or "could not
   * reconnect within N ms".
   */
  readonly reason: string;
  readonly kicked: boolean;
  /** The error behind it, if any. */
  readonly error: Error | null;
  /** The WebSocket close code, when the socket closed (0 otherwise). */
  readonly code: number;
  /**
   * True when the gate refused to resume the session (reason says why,
   * kicked is true): the session is over; connect again and log in.
   */
  readonly refused: boolean;
}

/**
 * reconnecting: with the resume option, the connection dropped and the
 * client is about to try again (attempt counts from 1). error is why the
 * connection dropped (attempt 1) or why the previous attempt failed.
 * Calls made meanwhile are kept and sent once the session is resumed.
 */
export interface ReconnectingEvent {
  readonly attempt: number;
  readonly error: Error;
}

/**
 * resumed: the client reconnected and the gate took the session up:
 * what each side had not received is resent, and the session goes on.
 */
export interface ResumedEvent {
  /** How many of its calls, requests and moves the client resent (the gate had not received them). */
  readonly resent: number;
}

/** Each event name and what its listeners get. */
export interface ClientEvents {
  entityCreated: EntityCreatedEvent;
  entityDestroyed: EntityDestroyedEvent;
  call: CallEvent;
  attrChanged: AttrChangedEvent;
  spaceEntered: SpaceEnteredEvent;
  moved: MovedEvent;
  disconnected: DisconnectedEvent;
  reconnecting: ReconnectingEvent;
  resumed: ResumedEvent;
}

/** An event name. */
export type ClientEventName = keyof ClientEvents;

// ---------------------------------------------------------------------------
// The client

/**
 * The part of a WebSocket the client uses: browsers' and Node's global
 * WebSocket and the ws package's fit it.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number): void;
  onopen: ((ev: any) => unknown) | null;
  onmessage: ((ev: any) => unknown) | null;
  onerror: ((ev: any) => unknown) | null;
  onclose: ((ev: any) => unknown) | null;
}

/** A WebSocket class. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of new Client(options); every one has a default. */
export interface ClientOptions {
  /** ms between heartbeats (5000); 4 silent intervals mean the server is gone. 0 turns both off. */
  heartbeatInterval?: number;
  /** The largest frame body accepted from the server (16 MiB). */
  maxBody?: number;
  /** The largest frame body sent (65536, the gate's max_client_packet_size): a larger call throws. */
  maxSendBody?: number;
  /** ms connect() waits for the socket to open (10000). */
  connectTimeout?: number;
  /** ms a request waits for its answer before it rejects with ErrorCode.Timeout (10000). */
  requestTimeout?: number;
  /** The WebSocket class to use (globalThis.WebSocket). */
  WebSocket?: WebSocketConstructor;
  /**
   * Ask the gate for a resumable session (false; protocol.md 8.1): after
   * a drop the client reconnects to the same URL by itself
   * ("reconnecting"), takes the session up ("resumed") and carries on,
   * nothing lost, duplicated or reordered either way.
   */
  resume?: boolean;
  /** ms to keep trying after a drop (0: the gate's resume window); negative: do not reconnect. */
  reconnectMax?: number;
  /** ms before the first reconnect attempt (200), doubling up to reconnectDelayMax (5000); each times [0.5, 1.5). */
  reconnectDelay?: number;
  reconnectDelayMax?: number;
  /** Bytes of sent calls kept until the gate acknowledges them (4 MiB): a call past it throws. */
  resumeBuffer?: number;
}

/** What stats() counts, frame headers included. */
export interface ClientStats {
  readonly framesIn: number;
  readonly bytesIn: number;
  readonly framesOut: number;
  readonly bytesOut: number;
}

/** The player's space. */
export interface SpaceInfo {
  readonly id: string;
  readonly type: string;
}

/** A connection to a gate's WebSocket port. */
export class Client {
  constructor(options?: ClientOptions);

  /**
   * connect(url) opens the WebSocket (ws:// or wss://) and resolves once
   * it is open; events begin in the task after. It rejects if the socket
   * does not open. A disconnected client may connect again.
   */
  connect(url: string): Promise<void>;
  /**
   * close() closes the connection (code 1000); disconnected fires at
   * once, or in a resumable session when the gate answers the goodbye
   * close() sends first (within a second).
   */
  close(): Promise<void>;
  /** True from connect() resolving until disconnected (while reconnecting too). */
  readonly connected: boolean;
  /** True while a client with the resume option is reconnecting after a drop. */
  readonly reconnecting: boolean;
  /** True once the gate has made the session resumable. */
  readonly resumable: boolean;

  /** on(event, fn) calls fn for each event; it returns a function that removes fn. */
  on<K extends ClientEventName>(event: K, fn: (ev: ClientEvents[K]) => void): () => void;
  /** off(event, fn) removes a listener added with on. */
  off<K extends ClientEventName>(event: K, fn: (ev: ClientEvents[K]) => void): void;
  /** once(event, fn) is on() for the next event only. */
  once<K extends ClientEventName>(event: K, fn: (ev: ClientEvents[K]) => void): () => void;
  /**
   * onCall(method, fn) calls fn(...args) for each call of method
   * (broadcasts included); it returns a remover. The parameter types are
   * the caller's claim about what the server sends: they are not checked.
   */
  onCall<A extends unknown[] = Value[]>(method: string, fn: (...args: A) => void): () => void;
  /**
   * waitFor(event, predicate, timeoutMs = 10000) resolves with the next
   * event for which predicate is true (any without one); it rejects on
   * timeout or if the client disconnects first.
   */
  waitFor<K extends ClientEventName>(
    event: K,
    predicate?: ((ev: ClientEvents[K]) => boolean) | null,
    timeoutMs?: number,
  ): Promise<ClientEvents[K]>;
  /** The last disconnected event, or null before one. */
  readonly lastDisconnect: DisconnectedEvent | null;

  /** The player Entity, or null. */
  player(): Entity | null;
  /** The player's ID, or null. */
  readonly playerID: string | null;
  /** The Entity with that ID in the view, or null. */
  entity(id: string): Entity | null;
  /** Every Entity in the view, the player included. */
  entities(): Entity[];
  /** The player's space, or null. */
  readonly space: SpaceInfo | null;
  /** Frames and bytes in each direction. */
  stats(): ClientStats;

  /**
   * call(entityID, method, ...args) calls an exposed method of an entity.
   * It throws, sending nothing, for an invalid ID or method name, an
   * argument that cannot be sent, a body over maxSendBody, or when not
   * connected. With resume, while reconnecting it keeps the call and
   * sends it on resume, and it throws past resumeBuffer.
   */
  call(entityID: string, method: string, ...args: Sendable[]): void;
  /** callPlayer(method, ...args) is call() on the player. */
  callPlayer(method: string, ...args: Sendable[]): void;
  /**
   * request(entityID, method, ...args) calls an exposed method and
   * resolves with its result (null for none), or rejects with a
   * RequestError. T, given explicitly (`request<number>(…)`), is the
   * caller's claim about the result: it is not checked. Without it the
   * result is a Value (it is not inferred from where the result goes).
   */
  request<T = Value>(entityID: string, method: string, ...args: Sendable[]): Promise<NoInfer<T>>;
  /** requestPlayer(method, ...args) is request() on the player. */
  requestPlayer<T = Value>(method: string, ...args: Sendable[]): Promise<NoInfer<T>>;
  /**
   * movePlayer(pos, yaw) tells the server the player moved in its space;
   * yaw defaults to the player's current one.
   */
  movePlayer(pos: Readonly<Vector3>, yaw?: number): void;
}

/** connect(url, options) is new Client(options), then connect(url); it resolves with the client. */
export function connect(url: string, options?: ClientOptions): Promise<Client>;

// ---------------------------------------------------------------------------
// Lower level, for tools and tests

/** encode returns the MessagePack encoding of one value. */
export function encode(value: Sendable): Uint8Array;
/** decode decodes one MessagePack value that must take all of data. */
export function decode(data: Bytes): Value;
/** decodeOne decodes the value at offset; length is the bytes it took. */
export function decodeOne(data: Bytes, offset?: number): { value: Value; length: number };
/** encodeFrame returns the frame (header and body) of a message. */
export function encodeFrame(type: number, body?: Bytes | null): Uint8Array;

/** A frame read by FrameReader. */
export interface Frame {
  readonly type: number;
  readonly body: Uint8Array;
}

/** FrameReader cuts a byte stream into frames. */
export class FrameReader {
  /** maxBody: the largest body accepted (16 MiB by default). */
  constructor(maxBody?: number);
  readonly maxBody: number;
  /** push adds bytes as they come. */
  push(chunk: Bytes): void;
  /** next returns the next whole frame, or null; it throws a ProtocolError for a bad length. */
  next(): Frame | null;
  /** The bytes held, not yet returned as frames. */
  buffered(): number;
}

/**
 * applyAttrChange applies one attribute change to an attribute map, in
 * place; it throws a ProtocolError for a path that does not resolve.
 */
export function applyAttrChange(attrs: Attrs, op: AttrOp, path: readonly (string | number)[], value: Value): void;
/**
 * isEntityID reports whether s is a valid entity ID. (Not a type guard:
 * false does not mean s is not a string.)
 */
export function isEntityID(s: unknown): boolean;
/** isIdentifier reports whether s is a Go identifier, as method names must be. */
export function isIdentifier(s: unknown): boolean;
