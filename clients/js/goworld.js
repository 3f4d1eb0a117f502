/*
 * goworld.js: a JavaScript client for goworld gates, over WebSocket.
 *
 * One file, no dependencies. Load it as a classic script in a browser
 * (<script src="goworld.js"></script>, file:// included) or import or
 * require it in Node 20+ (Node 20 needs --experimental-websocket); either
 * way it sets globalThis.GoWorld (and module.exports under CommonJS).
 * goworld.mjs, next to it, is the ES module (it loads this file and
 * exports GoWorld); goworld.d.ts declares the API for TypeScript. As the
 * npm package @goworld-engine/client, `import` gives the ES module and
 * `require` this file (package.json, README.md).
 *
 * It speaks the protocol of docs/protocol.md and follows the reference Go
 * client (client/client.go): frames, the MessagePack subset, the entity
 * view with attribute sync (section 11), spaces and positions (section
 * 12), heartbeats at the gate's heartbeat_interval (5 s by default) and
 * dead-server detection after 4 silent intervals, at most the gate's
 * heartbeat_timeout (section 9), and kicks (section 10). With the option
 * resume: true it asks for a resumable session (section 8.1) and, after
 * a drop, reconnects by itself and takes the session up where it
 * stopped, nothing lost, duplicated or reordered either way, as the Go
 * client's Options.Resume does.
 *
 * Numbers (protocol.md section 7):
 *   - Sending: a JS number that is an integer goes as a MessagePack
 *     integer (its smallest encoding), any other number (fractional, NaN,
 *     +-Infinity) as a float64. The server never turns an integer into a
 *     float for you if it is above 2^53 (2^24 for float32), and never
 *     accepts a float for an integer parameter, so wrap a value meant for a
 *     float parameter in GoWorld.float(x) to send it as a float64 even
 *     when it happens to be integral (GoWorld.float(3)). BigInts go as
 *     64-bit integers; -0 goes as the integer 0 (Math.round(-0.4) is -0).
 *   - Receiving: integers that fit a JS number exactly (|n| <= 2^53 - 1)
 *     are numbers; larger ones (only 64-bit encodings can hold them) are
 *     BigInts. Floats (float32 or float64) are numbers, so a float 3.0
 *     arrives as 3.
 *   - str is a JS string, bin a Uint8Array, array an Array, map a plain
 *     object (string keys only). Extension types and non-string map keys
 *     are refused, as the Go client refuses them.
 */
(function (root) {
  "use strict";

  /** Message types (protocol.md section 5). */
  var MsgType = Object.freeze({
    Heartbeat: 1,
    HeartbeatAck: 2,
    CallEntity: 3,
    SyncPosition: 4,
    ClientHello: 5,
    Request: 6,
    Bye: 7,
    Resume: 8,
    Ack: 9,
    CreateEntity: 10,
    DestroyEntity: 11,
    CallClient: 12,
    AttrChange: 13,
    Kick: 14,
    EnterSpace: 15,
    Positions: 16,
    Reply: 17,
    Session: 18,
    Resumed: 19,
  });

  /**
   * isSessionFrame reports whether frames of type t are numbered in a
   * resumable session (protocol.md 8.1): the client's calls, positions
   * and requests, and what the gate sends but its control frames.
   */
  function isSessionFrame(t) {
    return t === 3 || t === 4 || t === 6 || (t >= 10 && t <= 17 && t !== 14);
  }

  /**
   * Error codes of a request's answer (protocol.md, MsgReply). Codes from
   * 1000 (User) up are the game's own.
   */
  var ErrorCode = Object.freeze({
    Timeout: 1,
    NoEntity: 2,
    NoMethod: 3,
    BadArgs: 4,
    Panicked: 5,
    Overloaded: 6,
    Failed: 7,
    User: 1000,
  });
  var codeNames = { 1: "timeout", 2: "no such entity", 3: "no such method", 4: "bad arguments", 5: "callee panicked", 6: "overloaded", 7: "failed" };
  /** The longest message of an error answer (rpc.MaxReplyMessage). */
  var MAX_REPLY_MESSAGE = 512;

  /**
   * RequestError is what a request's promise rejects with when the server
   * answered with an error, or no answer came in time: code (ErrorCode,
   * or the game's own) and the server's message. It is an Error, and
   * `e instanceof GoWorld.RequestError` tells it from other rejections
   * (a disconnection). It works with or without `new`.
   */
  function RequestError(code, message) {
    var name = hasOwn(codeNames, code) ? codeNames[code] : "code " + code;
    var e = new Error("goworld: request failed: " + name + (message ? ": " + message : ""));
    Object.setPrototypeOf(e, RequestError.prototype);
    if (Error.captureStackTrace) Error.captureStackTrace(e, RequestError);
    e.code = code;
    e.serverMessage = message === undefined ? "" : message;
    return e;
  }
  RequestError.prototype = Object.create(Error.prototype, {
    constructor: { value: RequestError, writable: true, configurable: true },
    name: { value: "GoWorldRequestError", writable: true, configurable: true },
  });

  /** Attribute change operations (protocol.md section 11.2). */
  var AttrOp = Object.freeze({ Set: 1, Delete: 2, Append: 3, Pop: 4 });
  var opNames = { 1: "set", 2: "delete", 3: "append", 4: "pop" };

  /**
   * The client protocol version this client speaks (protocol.md,
   * "Versioning"): its first frame, MsgClientHello, says it, and a gate of
   * another version kicks it with a reason.
   */
  var PROTOCOL_VERSION = 1;

  var HEADER_SIZE = 6;
  var ENTITY_ID_LENGTH = 16;
  /** Arrays and maps nest at most this deep (protocol.md 7.2). */
  var MAX_DEPTH = 32;
  var DEFAULT_MAX_BODY = 16 << 20; // what the client accepts from the server
  var DEFAULT_MAX_SEND_BODY = 65536; // the gate's max_client_packet_size

  var utf8Encoder = new TextEncoder();
  // Not fatal: the server does not check UTF-8 (protocol.md 2.2).
  var utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  // ---------------------------------------------------------------------
  // Errors

  /** Malformed or unexpected input from the server (or given to a decoder). */
  function ProtocolError(message) {
    var e = new Error(message);
    Object.setPrototypeOf(e, ProtocolError.prototype);
    if (Error.captureStackTrace) Error.captureStackTrace(e, ProtocolError);
    return e;
  }
  ProtocolError.prototype = Object.create(Error.prototype, {
    constructor: { value: ProtocolError, writable: true, configurable: true },
    name: { value: "GoWorldProtocolError", writable: true, configurable: true },
  });

  function tagOf(v) {
    return Object.prototype.toString.call(v);
  }
  var hasOwn = function (o, k) {
    return Object.prototype.hasOwnProperty.call(o, k);
  };

  // setKey sets o[k] = v as an own, enumerable property, even for keys
  // such as "__proto__" that plain assignment would treat specially.
  function setKey(o, k, v) {
    if (k === "__proto__") {
      Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
    } else {
      o[k] = v;
    }
  }

  // quote shows a value in a message: JSON for strings and lists, which
  // may hold BigInts (which JSON.stringify refuses), String otherwise.
  function quote(v) {
    if (typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map(quote).join(",") + "]";
    if (typeof v === "bigint") return v + "n";
    if (typeof v === "symbol") return v.toString();
    if (v instanceof Uint8Array) return "bytes(" + v.length + ")";
    if (v !== null && typeof v === "object") return tagOf(v);
    return String(v);
  }

  /** isMap reports whether v is a decoded MessagePack map (a plain object). */
  function isMap(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);
  }

  // ---------------------------------------------------------------------
  // Float64: a number that travels as a MessagePack float64 even when it
  // is integral.

  function Float64(value) {
    this.value = value;
    Object.freeze(this);
  }
  Float64.prototype.valueOf = function () {
    return this.value;
  };
  Float64.prototype.toString = function () {
    return String(this.value);
  };
  Float64.prototype.toJSON = function () {
    return this.value;
  };

  /**
   * float(x) marks x to be sent as a MessagePack float64 (cb), for a float
   * parameter on the server, even when x is integral (protocol.md 7.3).
   */
  function float(x) {
    if (typeof x === "bigint") x = Number(x);
    if (typeof x !== "number") throw new TypeError("GoWorld.float: " + typeof x + " is not a number");
    return new Float64(x);
  }

  // ---------------------------------------------------------------------
  // Writer: a growable byte buffer.

  function Writer(capacity) {
    this.buf = new Uint8Array(capacity || 64);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  Writer.prototype.ensure = function (n) {
    if (this.len + n <= this.buf.length) return;
    var cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    var b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
  };
  Writer.prototype.u8 = function (v) {
    this.ensure(1);
    this.buf[this.len++] = v;
  };
  Writer.prototype.u16 = function (v, le) {
    this.ensure(2);
    this.view.setUint16(this.len, v, le);
    this.len += 2;
  };
  Writer.prototype.u32 = function (v, le) {
    this.ensure(4);
    this.view.setUint32(this.len, v, le);
    this.len += 4;
  };
  Writer.prototype.u64 = function (b) {
    // b is a BigInt in [0, 2^64) or its two's complement image; big-endian.
    b = BigInt.asUintN(64, b);
    this.u32(Number(b >> BigInt(32)), false);
    this.u32(Number(b & BigInt(0xffffffff)), false);
  };
  Writer.prototype.f32 = function (v, le) {
    this.ensure(4);
    this.view.setFloat32(this.len, v, le);
    this.len += 4;
  };
  Writer.prototype.f64 = function (v, le) {
    this.ensure(8);
    this.view.setFloat64(this.len, v, le);
    this.len += 8;
  };
  Writer.prototype.bytes = function (b) {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  };
  Writer.prototype.result = function () {
    return this.buf.slice(0, this.len);
  };

  // ---------------------------------------------------------------------
  // MessagePack encoding

  var TWO_32 = 4294967296;
  var TWO_63 = 9223372036854775808;
  var TWO_64 = 18446744073709551616;

  function encodeInt(w, n) {
    // n is an integral number in [-2^63, 2^64).
    if (n >= 0) {
      if (n < 128) w.u8(n);
      else if (n < 256) {
        w.u8(0xcc);
        w.u8(n);
      } else if (n < 65536) {
        w.u8(0xcd);
        w.u16(n, false);
      } else if (n < TWO_32) {
        w.u8(0xce);
        w.u32(n, false);
      } else {
        w.u8(0xcf);
        w.u64(BigInt(n));
      }
    } else if (n >= -32) {
      w.u8(n & 0xff);
    } else if (n >= -128) {
      w.u8(0xd0);
      w.u8(n & 0xff);
    } else if (n >= -32768) {
      w.u8(0xd1);
      w.u16(n & 0xffff, false);
    } else if (n >= -2147483648) {
      w.u8(0xd2);
      w.u32(n >>> 0, false);
    } else {
      w.u8(0xd3);
      w.u64(BigInt(n));
    }
  }

  function encodeNumber(w, n) {
    // -0 is an integer here (sent as 0): Number.isInteger(-0) is true.
    if (Number.isInteger(n) && n >= -TWO_63 && n < TWO_64) {
      encodeInt(w, n === 0 ? 0 : n);
    } else {
      w.u8(0xcb);
      w.f64(n, false);
    }
  }

  var BIG_MAX_U64 = BigInt("18446744073709551615");
  var BIG_MIN_I64 = BigInt("-9223372036854775808");
  var BIG_2_31 = BigInt(2147483648);

  function encodeBigInt(w, b) {
    if (b > BIG_MAX_U64 || b < BIG_MIN_I64) {
      throw new RangeError("goworld: BigInt " + b + " does not fit 64 bits");
    }
    if (b >= -BIG_2_31 && b < BigInt(TWO_32)) {
      encodeInt(w, Number(b));
    } else if (b > 0) {
      w.u8(0xcf);
      w.u64(b);
    } else {
      w.u8(0xd3);
      w.u64(b);
    }
  }

  function encodeString(w, s) {
    var b = utf8Encoder.encode(s);
    var n = b.length;
    if (n < 32) w.u8(0xa0 | n);
    else if (n < 256) {
      w.u8(0xd9);
      w.u8(n);
    } else if (n < 65536) {
      w.u8(0xda);
      w.u16(n, false);
    } else {
      w.u8(0xdb);
      w.u32(n, false);
    }
    w.bytes(b);
  }

  function encodeBin(w, b) {
    var n = b.length;
    if (n < 256) {
      w.u8(0xc4);
      w.u8(n);
    } else if (n < 65536) {
      w.u8(0xc5);
      w.u16(n, false);
    } else {
      w.u8(0xc6);
      w.u32(n, false);
    }
    w.bytes(b);
  }

  function encodeArrayHeader(w, n) {
    if (n < 16) w.u8(0x90 | n);
    else if (n < 65536) {
      w.u8(0xdc);
      w.u16(n, false);
    } else {
      w.u8(0xdd);
      w.u32(n, false);
    }
  }

  function encodeMapHeader(w, n) {
    if (n < 16) w.u8(0x80 | n);
    else if (n < 65536) {
      w.u8(0xde);
      w.u16(n, false);
    } else {
      w.u8(0xdf);
      w.u32(n, false);
    }
  }

  function encodeValue(w, v, depth) {
    if (depth > MAX_DEPTH) {
      throw new RangeError("goworld: value nested deeper than " + MAX_DEPTH + " levels (or a cycle)");
    }
    switch (typeof v) {
      case "undefined":
        w.u8(0xc0);
        return;
      case "boolean":
        w.u8(v ? 0xc3 : 0xc2);
        return;
      case "number":
        encodeNumber(w, v);
        return;
      case "bigint":
        encodeBigInt(w, v);
        return;
      case "string":
        encodeString(w, v);
        return;
      case "object":
        break;
      default:
        throw new TypeError("goworld: a " + typeof v + " cannot be sent");
    }
    if (v === null) {
      w.u8(0xc0);
      return;
    }
    if (v instanceof Float64) {
      w.u8(0xcb);
      w.f64(v.value, false);
      return;
    }
    if (v instanceof Uint8Array || tagOf(v) === "[object Uint8ClampedArray]") {
      encodeBin(w, v);
      return;
    }
    if (tagOf(v) === "[object ArrayBuffer]") {
      encodeBin(w, new Uint8Array(v));
      return;
    }
    if (ArrayBuffer.isView(v)) {
      throw new TypeError("goworld: " + tagOf(v) + " cannot be sent: use a Uint8Array for bytes, or Array.from(x) for numbers");
    }
    if (Array.isArray(v)) {
      encodeArrayHeader(w, v.length);
      for (var i = 0; i < v.length; i++) encodeValue(w, v[i], depth + 1);
      return;
    }
    var keys, vals, j;
    if (v instanceof Map) {
      keys = [];
      vals = [];
      v.forEach(function (val, k) {
        if (typeof k !== "string") {
          throw new TypeError("goworld: a Map key of type " + typeof k + " cannot be sent: the server accepts string keys only");
        }
        if (val !== undefined) {
          keys.push(k);
          vals.push(val);
        }
      });
    } else if (tagOf(v) === "[object Object]") {
      keys = [];
      vals = [];
      var own = Object.keys(v);
      for (j = 0; j < own.length; j++) {
        if (v[own[j]] !== undefined) {
          keys.push(own[j]);
          vals.push(v[own[j]]);
        }
      }
    } else {
      throw new TypeError("goworld: " + tagOf(v) + " cannot be sent");
    }
    encodeMapHeader(w, keys.length);
    for (j = 0; j < keys.length; j++) {
      encodeString(w, keys[j]);
      encodeValue(w, vals[j], depth + 1);
    }
  }

  /** encode returns the MessagePack encoding of one value. */
  function encode(value) {
    var w = new Writer();
    encodeValue(w, value, 0);
    return w.result();
  }

  // ---------------------------------------------------------------------
  // MessagePack decoding

  function toBytes(data) {
    if (data instanceof Uint8Array) return data;
    if (tagOf(data) === "[object ArrayBuffer]") return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    throw new TypeError("goworld: expected a Uint8Array or an ArrayBuffer, got " + tagOf(data));
  }

  function Decoder(bytes, pos, end) {
    this.b = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
    this.end = end;
  }
  Decoder.prototype.need = function (n) {
    if (n > this.end - this.pos) {
      throw ProtocolError("msgpack: need " + n + " bytes, " + (this.end - this.pos) + " left");
    }
  };
  Decoder.prototype.u8 = function () {
    this.need(1);
    return this.b[this.pos++];
  };
  Decoder.prototype.u16 = function () {
    this.need(2);
    var x = this.v.getUint16(this.pos, false);
    this.pos += 2;
    return x;
  };
  Decoder.prototype.u32 = function () {
    this.need(4);
    var x = this.v.getUint32(this.pos, false);
    this.pos += 4;
    return x;
  };
  Decoder.prototype.u64 = function () {
    this.need(8);
    var hi = this.v.getUint32(this.pos, false);
    var lo = this.v.getUint32(this.pos + 4, false);
    this.pos += 8;
    if (hi < 0x200000) return hi * TWO_32 + lo; // < 2^53
    return (BigInt(hi) << BigInt(32)) | BigInt(lo);
  };
  Decoder.prototype.i64 = function () {
    this.need(8);
    var hi = this.v.getInt32(this.pos, false);
    var lo = this.v.getUint32(this.pos + 4, false);
    this.pos += 8;
    var n = hi * TWO_32 + lo;
    if (Number.isSafeInteger(n)) return n;
    return (BigInt(hi) << BigInt(32)) | BigInt(lo);
  };
  // room checks that n elements of at least per bytes each can fit in what
  // is left, before anything is allocated for them.
  Decoder.prototype.room = function (n, per, what) {
    if (n * per > this.end - this.pos) {
      throw ProtocolError("msgpack: " + what + " of " + n + " exceeds the " + (this.end - this.pos) + " bytes left");
    }
  };
  Decoder.prototype.str = function (n) {
    this.room(n, 1, "string");
    var s = utf8Decoder.decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  };
  Decoder.prototype.bin = function (n) {
    this.room(n, 1, "binary");
    var b = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  };
  Decoder.prototype.array = function (n, depth) {
    this.room(n, 1, "array");
    var a = new Array(n);
    for (var i = 0; i < n; i++) a[i] = this.value(depth + 1);
    return a;
  };
  Decoder.prototype.map = function (n, depth) {
    this.room(n, 2, "map");
    var o = {};
    for (var i = 0; i < n; i++) {
      var k = this.value(depth + 1);
      if (typeof k !== "string") {
        throw ProtocolError("msgpack: map key of type " + (k === null ? "nil" : typeof k) + ", want a string");
      }
      setKey(o, k, this.value(depth + 1));
    }
    return o;
  };
  Decoder.prototype.value = function (depth) {
    if (depth > MAX_DEPTH) throw ProtocolError("msgpack: nesting deeper than " + MAX_DEPTH);
    var c = this.u8();
    if (c <= 0x7f) return c;
    if (c >= 0xe0) return c - 256;
    if (c <= 0x8f) return this.map(c & 0x0f, depth);
    if (c <= 0x9f) return this.array(c & 0x0f, depth);
    if (c <= 0xbf) return this.str(c & 0x1f);
    var x;
    switch (c) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xca:
        this.need(4);
        x = this.v.getFloat32(this.pos, false);
        this.pos += 4;
        return x;
      case 0xcb:
        this.need(8);
        x = this.v.getFloat64(this.pos, false);
        this.pos += 8;
        return x;
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.u64();
      case 0xd0:
        this.need(1);
        return this.v.getInt8(this.pos++);
      case 0xd1:
        this.need(2);
        x = this.v.getInt16(this.pos, false);
        this.pos += 2;
        return x;
      case 0xd2:
        this.need(4);
        x = this.v.getInt32(this.pos, false);
        this.pos += 4;
        return x;
      case 0xd3:
        return this.i64();
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      case 0xc1:
        throw ProtocolError("msgpack: code 0xc1 is never used");
    }
    // c7-c9, d4-d8
    throw ProtocolError("msgpack: extension type (code 0x" + c.toString(16) + ") is not part of the goworld protocol");
  };

  /**
   * decodeOne decodes the one MessagePack value that starts at offset and
   * returns {value, length}, length being the bytes it took. Bytes after
   * it are not looked at.
   */
  function decodeOne(data, offset) {
    var b = toBytes(data);
    var d = new Decoder(b, offset || 0, b.length);
    var v = d.value(0);
    return { value: v, length: d.pos - (offset || 0) };
  }

  /** decode decodes one MessagePack value that must take all of data. */
  function decode(data) {
    var b = toBytes(data);
    var r = decodeOne(b, 0);
    if (r.length !== b.length) throw ProtocolError("msgpack: " + (b.length - r.length) + " trailing bytes");
    return r.value;
  }

  // ---------------------------------------------------------------------
  // Frames (protocol.md section 4)

  /** encodeFrame returns the frame of message type `type` with body `body`. */
  function encodeFrame(type, body) {
    body = body ? toBytes(body) : new Uint8Array(0);
    var f = new Uint8Array(HEADER_SIZE + body.length);
    var v = new DataView(f.buffer);
    v.setUint32(0, body.length + 2, true);
    v.setUint16(4, type, true);
    f.set(body, HEADER_SIZE);
    return f;
  }

  /**
   * FrameReader cuts a byte stream into frames: push() the bytes as they
   * come (a WebSocket message may hold several frames, or part of one),
   * then call next() until it returns null. next() returns {type, body}
   * (body a Uint8Array of its own) and throws a ProtocolError for a length
   * below 2 or a body over maxBody, checked before anything is allocated
   * for the body. After an error the reader stays broken.
   */
  function FrameReader(maxBody) {
    this.maxBody = maxBody === undefined ? DEFAULT_MAX_BODY : maxBody;
    this.buf = new Uint8Array(0);
    this.start = 0;
    this.end = 0;
    this.err = null;
  }
  FrameReader.prototype.buffered = function () {
    return this.end - this.start;
  };
  FrameReader.prototype.push = function (chunk) {
    if (this.err) throw this.err;
    chunk = toBytes(chunk);
    var n = chunk.length;
    if (n === 0) return;
    if (this.start === this.end) {
      this.start = this.end = 0;
      // Do not keep the room one big frame needed.
      if (this.buf.length > 1 << 20 && n <= 1 << 16) this.buf = new Uint8Array(0);
    }
    if (this.buf.length - this.end < n) {
      var used = this.end - this.start;
      if (used + n <= this.buf.length && this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        var cap = Math.max(this.buf.length * 2, used + n, 256);
        var b = new Uint8Array(cap);
        b.set(this.buf.subarray(this.start, this.end));
        this.buf = b;
      }
      this.start = 0;
      this.end = used;
    }
    this.buf.set(chunk, this.end);
    this.end += n;
  };
  FrameReader.prototype.next = function () {
    if (this.err) throw this.err;
    var avail = this.end - this.start;
    if (avail < 4) return null;
    var b = this.buf, s = this.start;
    var len = (b[s] | (b[s + 1] << 8) | (b[s + 2] << 16)) + b[s + 3] * 16777216;
    if (len < 2) {
      this.err = ProtocolError("frame length " + len + " below 2");
      throw this.err;
    }
    if (len - 2 > this.maxBody) {
      this.err = ProtocolError("frame too large: " + (len - 2) + " bytes, limit " + this.maxBody);
      throw this.err;
    }
    if (avail < 4 + len) return null;
    var type = b[s + 4] | (b[s + 5] << 8);
    var body = b.slice(s + HEADER_SIZE, s + 4 + len);
    this.start += 4 + len;
    return { type: type, body: body };
  };

  // ---------------------------------------------------------------------
  // Body fields (protocol.md section 2)

  function isEntityIDByte(c) {
    return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
  }

  /** isEntityID reports whether s is a valid entity ID (16 characters of A-Z a-z 0-9 - _). */
  function isEntityID(s) {
    if (typeof s !== "string" || s.length !== ENTITY_ID_LENGTH) return false;
    for (var i = 0; i < s.length; i++) if (!isEntityIDByte(s.charCodeAt(i))) return false;
    return true;
  }

  var goKeywords = {};
  ("break case chan const continue default defer else fallthrough for func go goto if import " +
    "interface map package range return select struct switch type var")
    .split(" ")
    .forEach(function (k) {
      goKeywords[k] = true;
    });
  var identRE = /^[\p{L}_][\p{L}\p{Nd}_]*$/u;

  /** isIdentifier reports whether s is a Go identifier, as method names must be. */
  function isIdentifier(s) {
    return typeof s === "string" && identRE.test(s) && !hasOwn(goKeywords, s);
  }

  function BodyReader(body) {
    this.b = body;
    this.v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.pos = 0;
  }
  BodyReader.prototype.remaining = function () {
    return this.b.length - this.pos;
  };
  BodyReader.prototype.need = function (n, what) {
    if (this.b.length - this.pos < n) throw ProtocolError("body too short for " + what);
  };
  BodyReader.prototype.u8 = function () {
    this.need(1, "a u8");
    return this.b[this.pos++];
  };
  BodyReader.prototype.u16 = function () {
    this.need(2, "a u16");
    var x = this.v.getUint16(this.pos, true);
    this.pos += 2;
    return x;
  };
  BodyReader.prototype.u32 = function () {
    this.need(4, "a u32");
    var x = this.v.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  };
  BodyReader.prototype.f32 = function () {
    this.need(4, "a f32");
    var x = this.v.getFloat32(this.pos, true);
    this.pos += 4;
    return x;
  };
  /** entityID returns the ID, or null for all zeros. */
  BodyReader.prototype.entityID = function () {
    this.need(ENTITY_ID_LENGTH, "an entity ID");
    var zero = true, ok = true, s = "";
    for (var i = 0; i < ENTITY_ID_LENGTH; i++) {
      var c = this.b[this.pos + i];
      if (c !== 0) zero = false;
      if (!isEntityIDByte(c)) ok = false;
      s += String.fromCharCode(c);
    }
    this.pos += ENTITY_ID_LENGTH;
    if (zero) return null;
    if (!ok) throw ProtocolError("malformed entity ID");
    return s;
  };
  BodyReader.prototype.str = function () {
    var n = this.u16();
    this.need(n, "a string of " + n + " bytes");
    var s = utf8Decoder.decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  };
  BodyReader.prototype.position = function () {
    this.need(16, "a position");
    var p = { x: this.f32(), y: this.f32(), z: this.f32() };
    return { pos: p, yaw: this.f32() };
  };
  BodyReader.prototype.msgpack = function () {
    var r = decodeOne(this.b, this.pos);
    this.pos += r.length;
    return r.value;
  };

  // ---------------------------------------------------------------------
  // Attribute changes (protocol.md section 11.2)

  function describe(v) {
    if (v === null) return "nil";
    if (Array.isArray(v)) return "a list";
    if (v instanceof Uint8Array) return "bytes";
    if (typeof v === "object") return "a map";
    return "a " + typeof v;
  }

  function child(cur, step) {
    if (Array.isArray(cur)) {
      if (typeof step !== "number" || !Number.isInteger(step) || step < 0 || step >= cur.length) {
        throw ProtocolError("list index " + String(step) + " out of range");
      }
      return cur[step];
    }
    if (isMap(cur)) {
      if (typeof step !== "string") throw ProtocolError("map key " + String(step) + " is not a string");
      if (!hasOwn(cur, step)) throw ProtocolError("no key " + quote(step));
      return cur[step];
    }
    throw ProtocolError("cannot index " + describe(cur) + " with " + String(step));
  }

  /**
   * applyAttrChange applies one MsgAttrChange to an entity's attribute
   * map, in place: op is 1 Set, 2 Delete, 3 Append or 4 Pop. A path that
   * does not resolve means the copy has diverged from the server's: it
   * throws a ProtocolError (the Client then closes the connection, as the
   * Go client does).
   */
  function applyAttrChange(rootMap, op, path, value) {
    if (!Array.isArray(path) || path.length === 0) throw ProtocolError("attribute path is empty or not a list");
    var walk = op === AttrOp.Append || op === AttrOp.Pop ? path.length : path.length - 1;
    var cur = rootMap;
    for (var i = 0; i < walk; i++) cur = child(cur, path[i]);
    var last = path[path.length - 1];
    switch (op) {
      case AttrOp.Set:
        if (Array.isArray(cur)) {
          if (typeof last !== "number" || !Number.isInteger(last) || last < 0 || last >= cur.length) {
            throw ProtocolError("list index " + String(last) + " out of range");
          }
          cur[last] = value;
        } else if (isMap(cur)) {
          if (typeof last !== "string") throw ProtocolError("map key " + String(last) + " is not a string");
          setKey(cur, last, value);
        } else {
          throw ProtocolError("cannot set in " + describe(cur));
        }
        return;
      case AttrOp.Delete:
        if (!isMap(cur) || typeof last !== "string") {
          throw ProtocolError("cannot delete " + String(last) + " from " + describe(cur));
        }
        if (hasOwn(cur, last)) delete cur[last];
        return;
      case AttrOp.Append:
      case AttrOp.Pop:
        if (!Array.isArray(cur)) throw ProtocolError(opNames[op] + " on " + describe(cur));
        if (op === AttrOp.Append) cur.push(value);
        else if (cur.length > 0) cur.pop();
        return;
    }
    throw ProtocolError("unknown attribute operation " + op);
  }

  // ---------------------------------------------------------------------
  // Client

  /** Entity is the client's view of one entity. Treat it as read-only. */
  function Entity(id, type, isPlayer, attrs, pos, yaw) {
    this.id = id;
    this.type = type;
    this.isPlayer = isPlayer;
    /** The client-visible attributes: plain objects, arrays, numbers, ... */
    this.attrs = attrs;
    /** Where the entity is in the player's space ({x:0,y:0,z:0} when in none). */
    this.pos = pos;
    this.yaw = yaw;
  }

  var eventNames = ["entityCreated", "entityDestroyed", "call", "attrChanged", "spaceEntered", "moved", "disconnected", "reconnecting", "resumed"];

  // Resumable sessions (protocol.md 8.1), as the Go client does them
  // (client/session.go).
  var RESUME_TOKEN_LENGTH = 32;
  var HELLO_RESUME = 1; // the MsgClientHello flag that asks for a resumable session
  var ACK_DELAY = 100; // ms after the first unacknowledged session frame: MsgAck
  var ACK_BYTES = 32 << 10; // or at this many bytes of them
  var CLOSE_WAIT = 1000; // ms close() waits for the gate's answer to MsgBye, and for the socket
  var MAX_SKIPPED = 256; // frames before MsgResumed skipped on a resuming connection, at most
  var DEFAULT_RESUME_BUFFER = 4 << 20;
  var TWO_53 = 9007199254740992;

  // newSession returns the state of a session that is not (yet) resumable.
  function newSession(state) {
    return {
      state: state, // "undecided" (asked, no MsgSession yet), "resumable", "none"
      token: null, // Uint8Array(32)
      window: 0, // ms the gate holds the session after a drop
      limit: 0, // bytes the gate holds for the client (resume_limit)
      sent: 0, // session frames sent (the n-th is number n)
      base: 0, // the gate has acknowledged frames 1..base
      kept: [], // frames base+1..sent, headers included
      keptBytes: 0,
      recvd: 0, // session frames received
      acked: 0, // the last count acknowledged
      unackedBytes: 0, // bytes of session frames received since
      ackTimer: null,
    };
  }

  // u64le appends n (an integer below 2^53) to w as a u64 LE.
  function u64le(w, n) {
    w.u32(n % TWO_32, true);
    w.u32(Math.floor(n / TWO_32), true);
  }

  // readU64 reads a u64 LE at off of body; -1 when it is 2^53 or more
  // (no session counts that far).
  function readU64(body, off) {
    var dv = new DataView(body.buffer, body.byteOffset + off, 8);
    var lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
    if (hi >= 0x200000) return -1;
    return hi * TWO_32 + lo;
  }

  function reportError(e) {
    if (typeof root.reportError === "function") root.reportError(e);
    else
      setTimeout(function () {
        throw e;
      }, 0);
  }

  function now() {
    return typeof performance !== "undefined" && performance.now ? performance.now() : Date.now();
  }

  var noWebSocket =
    "goworld: no WebSocket implementation: browsers have one; Node 22+ too; Node 20 needs " +
    "--experimental-websocket; or pass one as new GoWorld.Client({WebSocket})";

  /**
   * Client is a connection to a gate's WebSocket port.
   *
   * Options (all optional):
   *   heartbeatInterval  ms between heartbeats. Default: the gate's
   *                      heartbeat_interval, which it announces in its
   *                      answer to the heartbeat sent right after the
   *                      hello (5000 until then). 0 or less turns
   *                      heartbeats and the silence timeout off.
   *   heartbeatTimeout   ms with nothing received after which the server
   *                      is taken as gone. Default: 4 heartbeat
   *                      intervals, at most the gate's heartbeat_timeout.
   *                      heartbeat() says what is in use.
   *   maxBody            largest frame body accepted from the server
   *                      (default 16 MiB).
   *   maxSendBody        largest frame body sent (default 65536, the gate's
   *                      max_client_packet_size); a larger call throws.
   *   connectTimeout     ms that connect() waits for the socket (default 10000).
   *   requestTimeout     ms a request() waits for its answer before it
   *                      rejects with ErrorCode.Timeout (default 10000).
   *   WebSocket          a WebSocket class (default globalThis.WebSocket).
   *   resume             true: ask the gate for a resumable session
   *                      (protocol.md 8.1; off by default, as in the Go
   *                      client). After a drop the client reconnects to
   *                      the same URL by itself ("reconnecting" events),
   *                      takes the session up ("resumed") and carries on,
   *                      nothing lost, duplicated or reordered either
   *                      way; calls made meanwhile are sent on resume.
   *   reconnectMax       ms the client keeps trying after a drop. Default
   *                      (0): the resume window the gate announced.
   *                      Negative: do not reconnect.
   *   reconnectDelay     ms before the first attempt (default 200),
   *                      doubling with each attempt up to
   *   reconnectDelayMax  (default 5000); each wait times a random factor
   *                      in [0.5, 1.5).
   *   resumeBuffer       bytes of sent session frames (calls, requests,
   *                      moves) kept until the gate acknowledges them,
   *                      those made while reconnecting included (default
   *                      4 MiB); a call that would pass it throws.
   */
  function Client(options) {
    var o = options || {};
    this._opts = {
      heartbeatInterval: o.heartbeatInterval === undefined ? 5000 : o.heartbeatInterval,
      followGate: o.heartbeatInterval === undefined,
      heartbeatTimeout: o.heartbeatTimeout,
      maxBody: o.maxBody === undefined ? DEFAULT_MAX_BODY : o.maxBody,
      maxSendBody: o.maxSendBody === undefined ? DEFAULT_MAX_SEND_BODY : o.maxSendBody,
      connectTimeout: o.connectTimeout === undefined ? 10000 : o.connectTimeout,
      requestTimeout: o.requestTimeout === undefined ? 10000 : o.requestTimeout,
      WebSocket: o.WebSocket,
      resume: o.resume === true,
      reconnectMax: typeof o.reconnectMax === "number" && !isNaN(o.reconnectMax) ? o.reconnectMax : 0,
      reconnectDelay: o.reconnectDelay > 0 ? o.reconnectDelay : 200,
      reconnectDelayMax: o.reconnectDelayMax > 0 ? o.reconnectDelayMax : 5000,
      resumeBuffer: o.resumeBuffer > 0 ? o.resumeBuffer : DEFAULT_RESUME_BUFFER,
    };
    this._opts.reconnectDelayMax = Math.max(this._opts.reconnectDelayMax, this._opts.reconnectDelay);
    this._listeners = {};
    for (var i = 0; i < eventNames.length; i++) this._listeners[eventNames[i]] = [];
    this._state = "idle"; // idle, connecting, open, closed
    this._ws = null;
    this._wsClosed = null;
    this._entities = new Map();
    this._player = null;
    this._space = null;
    this._reader = null;
    this._ready = false;
    this._pendingError = null;
    this._abortConnect = null;
    this._timers = [];
    this._idleTimer = null;
    this._hbTimer = null;
    this._hbEvery = 0; // ms between heartbeats in use (0: off)
    this._hbIdle = 0; // ms of silence that end the session (0: never)
    this._lastRecv = 0;
    this._disconnect = null;
    this._stats = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 };
    this._pending = new Map(); // request ID -> {resolve, reject, timer}
    this._nextReq = 0;
    // A resumable session (protocol.md 8.1): its state, whether the
    // connection dropped and the client is reconnecting (_away), the
    // attempt under way, and close()'s goodbye.
    this._url = "";
    this._sess = newSession("none");
    this._away = false;
    this._retryTimer = null;
    this._attempt = null;
    this._byeSent = false;
    this._byeTimer = null;
    this._resolveClosed = null;
  }

  // --- events

  /** on(event, fn) calls fn(ev) for each event; it returns a function that removes fn. */
  Client.prototype.on = function (event, fn) {
    var l = typeof event === "string" && hasOwn(this._listeners, event) ? this._listeners[event] : null;
    if (!l) throw new TypeError("goworld: unknown event " + quote(event) + "; events are " + eventNames.join(", "));
    if (typeof fn !== "function") throw new TypeError("goworld: listener is not a function");
    l.push(fn);
    var self = this;
    return function () {
      self.off(event, fn);
    };
  };

  /** off(event, fn) removes a listener added with on. */
  Client.prototype.off = function (event, fn) {
    var l = typeof event === "string" && hasOwn(this._listeners, event) ? this._listeners[event] : null;
    if (!l) return;
    var i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
  };

  /** once(event, fn) is on() for the next event only. */
  Client.prototype.once = function (event, fn) {
    var off = this.on(event, function (ev) {
      off();
      fn(ev);
    });
    return off;
  };

  /**
   * onCall(method, fn) calls fn(...args) whenever the server calls method
   * on the client's copy of an entity (broadcasts included). It returns a
   * function that removes fn. For the entity ID and the broadcast flag,
   * listen to "call".
   */
  Client.prototype.onCall = function (method, fn) {
    if (typeof fn !== "function") throw new TypeError("goworld: handler is not a function");
    return this.on("call", function (ev) {
      if (ev.method === method) fn.apply(undefined, ev.args);
    });
  };

  /**
   * waitFor(event, predicate, timeoutMs) resolves with the next event for
   * which predicate(ev) is true (any event if no predicate), and rejects
   * after timeoutMs (default 10000) or when the client disconnects first.
   */
  Client.prototype.waitFor = function (event, predicate, timeoutMs) {
    var self = this;
    if (typeof event !== "string" || !hasOwn(this._listeners, event)) {
      return Promise.reject(new TypeError("goworld: unknown event " + quote(event)));
    }
    predicate = predicate || function () {
      return true;
    };
    if (timeoutMs === undefined) timeoutMs = 10000;
    if (this._state === "closed") {
      if (event === "disconnected" && this._disconnect && predicate(this._disconnect)) {
        return Promise.resolve(this._disconnect);
      }
      return Promise.reject(new Error("goworld: disconnected (" + (this._disconnect ? this._disconnect.reason : "") + ") before " + event));
    }
    return new Promise(function (resolve, reject) {
      var settled = false, offs = [], timer;
      function done(f, v) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (var i = 0; i < offs.length; i++) offs[i]();
        f(v);
      }
      offs.push(
        self.on(event, function (ev) {
          var ok;
          try {
            ok = predicate(ev);
          } catch (e) {
            done(reject, e);
            return;
          }
          if (ok) done(resolve, ev);
        })
      );
      if (event !== "disconnected") {
        offs.push(
          self.on("disconnected", function (ev) {
            done(reject, new Error("goworld: disconnected while waiting for " + event + ": " + ev.reason));
          })
        );
      }
      timer = setTimeout(function () {
        done(reject, new Error("goworld: no matching " + event + " event within " + timeoutMs + " ms"));
      }, timeoutMs);
    });
  };

  Client.prototype._emit = function (event, ev) {
    var l = this._listeners[event].slice();
    for (var i = 0; i < l.length; i++) {
      try {
        l[i].call(undefined, ev);
      } catch (e) {
        reportError(e);
      }
    }
  };

  // --- state

  /**
   * connected is true between connect() resolving and the disconnected
   * event, while reconnecting too (the session lives on).
   */
  Object.defineProperty(Client.prototype, "connected", {
    get: function () {
      return this._state === "open";
    },
  });

  /**
   * reconnecting is true while a client with the resume option is away:
   * its connection dropped and it is trying to take the session up on a
   * new one. Calls made meanwhile are kept and sent on resume.
   */
  Object.defineProperty(Client.prototype, "reconnecting", {
    get: function () {
      return this._state === "open" && this._away;
    },
  });

  /**
   * resumable is true once the gate has made the session resumable (its
   * MsgSession came); a gate with resume_window = off, or one older than
   * resumable sessions, leaves it false, and a drop ends the session.
   */
  Object.defineProperty(Client.prototype, "resumable", {
    get: function () {
      return this._state === "open" && this._sess.state === "resumable";
    },
  });

  /** The player entity's ID, or null. */
  Object.defineProperty(Client.prototype, "playerID", {
    get: function () {
      return this._player;
    },
  });

  /** The space the player is in, {id, type}, or null. */
  Object.defineProperty(Client.prototype, "space", {
    get: function () {
      return this._space ? { id: this._space.id, type: this._space.type } : null;
    },
  });

  /** The disconnected event, once there was one (for the reason), else null. */
  Object.defineProperty(Client.prototype, "lastDisconnect", {
    get: function () {
      return this._disconnect;
    },
  });

  /** player() returns the player Entity, or null. */
  Client.prototype.player = function () {
    return (this._player && this._entities.get(this._player)) || null;
  };

  /** entity(id) returns the Entity with that ID in the view, or null. */
  Client.prototype.entity = function (id) {
    return this._entities.get(id) || null;
  };

  /** entities() returns every Entity in the view, the player included. */
  Client.prototype.entities = function () {
    return Array.from(this._entities.values());
  };

  /**
   * heartbeat() returns {interval, timeout}, in ms: how often the client
   * sends a heartbeat and how long the server may stay silent before it
   * is taken as gone, as options and the gate's announcement made them
   * (0 and 0 with heartbeats off).
   */
  Client.prototype.heartbeat = function () {
    if (!(this._opts.heartbeatInterval > 0)) return { interval: 0, timeout: 0 };
    this._hbDefaults();
    return { interval: this._hbEvery, timeout: this._hbIdle };
  };

  /** stats() counts frames and bytes (frame headers included) in each direction. */
  Client.prototype.stats = function () {
    var s = this._stats;
    return { framesIn: s.framesIn, bytesIn: s.bytesIn, framesOut: s.framesOut, bytesOut: s.bytesOut };
  };

  // --- connection

  /**
   * connect(url) opens a WebSocket to the gate (ws:// or wss://) and
   * resolves once it is open; events start in a later task, so listeners
   * added right after `await client.connect(url)` miss nothing. It
   * rejects if the socket does not open. A client that has disconnected
   * can connect again; its view starts empty.
   */
  Client.prototype.connect = function (url) {
    var self = this;
    if (this._state === "connecting" || this._state === "open") {
      return Promise.reject(new Error("goworld: already connected or connecting"));
    }
    var WS = this._opts.WebSocket || root.WebSocket;
    if (typeof WS !== "function") return Promise.reject(new Error(noWebSocket));
    var ws;
    try {
      ws = new WS(url);
    } catch (e) {
      return Promise.reject(new Error("goworld: cannot connect to " + url + ": " + (e && e.message)));
    }
    ws.binaryType = "arraybuffer";
    this._url = url;
    this._ws = ws;
    this._state = "connecting";
    this._entities = new Map();
    this._player = null;
    this._space = null;
    this._disconnect = null;
    this._reader = new FrameReader(this._opts.maxBody);
    this._ready = false;
    this._pendingError = null;
    this._stats = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 };
    this._sess = newSession(this._opts.resume ? "undecided" : "none");
    this._away = false;
    this._byeSent = false;
    var resolveClosed;
    this._wsClosed = new Promise(function (r) {
      resolveClosed = r;
    });
    this._resolveClosed = resolveClosed;
    return new Promise(function (resolve, reject) {
      self._abortConnect = function () {
        clearTimeout(timer);
        reject(new Error("goworld: connecting to " + url + ": closed by the client before the connection opened"));
      };
      var timer = setTimeout(function () {
        if (self._ws !== ws || self._state !== "connecting") return;
        self._state = "closed";
        self._ws = null;
        try {
          ws.close();
        } catch (e) {
          /* already closing */
        }
        reject(new Error("goworld: cannot connect to " + url + ": no answer within " + self._opts.connectTimeout + " ms"));
      }, self._opts.connectTimeout);
      ws.onopen = function () {
        clearTimeout(timer);
        if (self._ws !== ws || self._state !== "connecting") return;
        self._state = "open";
        self._lastRecv = now();
        // The first frame: the protocol version (u16 LE), and with the
        // resume option the HelloResume flag (protocol.md 8.1).
        var hello = [PROTOCOL_VERSION & 0xff, PROTOCOL_VERSION >> 8];
        if (self._opts.resume) hello.push(HELLO_RESUME);
        self._sendFrame(MsgType.ClientHello, new Uint8Array(hello));
        // A heartbeat at once: the gate's answer says its heartbeat
        // settings, which the client follows (_adoptHeartbeat).
        if (self._opts.heartbeatInterval > 0) self._sendFrame(MsgType.Heartbeat, new Uint8Array(0));
        self._startTimers();
        // Hold what arrives until the task after this one, so that code
        // after `await connect()` can add listeners first.
        setTimeout(function () {
          if (self._ws !== ws) return;
          self._ready = true;
          self._pump();
        }, 0);
        resolve();
      };
      ws.onmessage = function (ev) {
        if (self._ws !== ws || self._state !== "open") return;
        self._onData(ev.data);
      };
      ws.onerror = function (ev) {
        // Browsers follow an error with a close event, which says what
        // there is to say; Node's WebSocket may not, while connecting.
        if (self._ws !== ws || self._state !== "connecting") return;
        clearTimeout(timer);
        self._state = "closed";
        self._ws = null;
        try {
          ws.close();
        } catch (e) {
          /* not open */
        }
        resolveClosed();
        var why = ev && (ev.message || (ev.error && ev.error.message));
        reject(new Error("goworld: cannot connect to " + url + (why ? ": " + why : " (WebSocket error)")));
      };
      ws.onclose = function (ev) {
        clearTimeout(timer);
        resolveClosed();
        if (self._ws !== ws) return;
        if (self._state === "connecting") {
          self._state = "closed";
          self._ws = null;
          reject(new Error("goworld: cannot connect to " + url + " (WebSocket closed, code " + ev.code + (ev.reason ? ", " + ev.reason : "") + ")"));
          return;
        }
        self._closedByServer(ev.code);
      };
    });
  };

  // _closedByServer handles the close of the socket in use: the frames
  // already received are handled first (the kick, if any, comes before
  // the close), then the connection has dropped.
  Client.prototype._closedByServer = function (code) {
    if (this._state === "open") {
      this._ready = true;
      this._pump();
    }
    this._drop("the server closed the connection", null, code);
  };

  /**
   * close() closes the connection (WebSocket close code 1000). Unless the
   * client was already disconnected, "disconnected" fires with reason
   * "closed by the client": at once, or, in a resumable session, when the
   * gate answers the goodbye (MsgBye) close() sends first, within a
   * second (protocol.md 6.15: the gate would take a close without it as
   * a drop and hold the session for its resume window). A client that is
   * reconnecting stops at once. The promise resolves once the socket is
   * closed, or after a second.
   */
  Client.prototype.close = function () {
    var self = this;
    var closed = this._wsClosed;
    if (this._state === "connecting") {
      var ws = this._ws;
      this._ws = null;
      this._state = "closed";
      try {
        ws.close(1000);
      } catch (e) {
        /* ignore */
      }
      this._abortConnect();
    } else if (this._state === "open" && !this._away && this._sess.state !== "none") {
      if (!this._byeSent) {
        // Say goodbye; the gate's MsgBye answers it behind everything it
        // had queued (_handle), and ends the session then, or the wait.
        try {
          this._sendFrame(MsgType.Bye, new Uint8Array(0));
          this._byeSent = true;
        } catch (e) {
          this._finish("closed by the client", null, false, 1000);
        }
        if (this._byeSent) {
          this._stopTimers();
          this._byeTimer = setTimeout(function () {
            self._byeTimer = null;
            self._finish("closed by the client", null, false, 1000);
          }, CLOSE_WAIT);
        }
      }
    } else {
      this._finish("closed by the client", null, false, 1000);
    }
    if (!closed) return Promise.resolve();
    return Promise.race([
      closed,
      new Promise(function (r) {
        setTimeout(r, CLOSE_WAIT);
      }),
    ]);
  };

  // Bounds on the heartbeat settings a gate announces (rpc.MinHeartbeatInterval,
  // MaxHeartbeatInterval, MaxHeartbeatTimeout), in ms.
  var MIN_HEARTBEAT = 100,
    MAX_HEARTBEAT = 600000,
    MAX_HEARTBEAT_TIMEOUT = 3600000;

  // _hbDefaults sets the heartbeat settings from the options alone, as
  // they are until the gate announces its own.
  Client.prototype._hbDefaults = function () {
    if (this._hbEvery > 0) return;
    var iv = Math.max(this._opts.heartbeatInterval, MIN_HEARTBEAT);
    this._hbEvery = iv;
    this._hbIdle = this._opts.heartbeatTimeout > 0 ? this._opts.heartbeatTimeout : 4 * iv;
  };

  Client.prototype._startTimers = function () {
    if (!(this._opts.heartbeatInterval > 0)) return;
    this._hbEvery = 0;
    this._hbDefaults();
    this._startHeartbeats();
    this._watchIdle(this._hbIdle);
  };

  // _watchIdle looks, after ms, whether the server has been silent for
  // the timeout in use, and ends the session if so, else looks again.
  Client.prototype._watchIdle = function (ms) {
    var self = this;
    clearTimeout(this._idleTimer);
    this._idleTimer = setTimeout(function () {
      self._idleTimer = null;
      if (self._state !== "open") return;
      var quiet = now() - self._lastRecv;
      if (quiet >= self._hbIdle) {
        self._drop("the server stopped answering", new Error("goworld: nothing received for " + Math.round(quiet) + " ms"), 0);
        return;
      }
      self._watchIdle(self._hbIdle - quiet + 1);
    }, ms);
  };

  Client.prototype._startHeartbeats = function () {
    var self = this;
    clearInterval(this._hbTimer);
    this._hbTimer = setInterval(function () {
      try {
        self._sendFrame(MsgType.Heartbeat, new Uint8Array(0));
        self._ackNow(); // with each heartbeat, if anything is new
      } catch (e) {
        /* closing */
      }
    }, this._hbEvery);
  };

  // _adoptHeartbeat follows the heartbeat settings the gate announced in
  // a MsgHeartbeatAck (interval u32 | timeout u32, ms), clamped, where
  // the options leave them to the gate.
  Client.prototype._adoptHeartbeat = function (body) {
    if (!(this._opts.heartbeatInterval > 0) || body.length < 8) return;
    var dv = new DataView(body.buffer, body.byteOffset, 8);
    var iv = Math.min(Math.max(dv.getUint32(0, true), MIN_HEARTBEAT), MAX_HEARTBEAT);
    var to = Math.min(Math.max(dv.getUint32(4, true), 2 * iv), MAX_HEARTBEAT_TIMEOUT);
    if (!this._opts.followGate) iv = this._hbEvery;
    this._hbIdle = this._opts.heartbeatTimeout > 0 ? this._opts.heartbeatTimeout : Math.min(4 * iv, to);
    if (iv !== this._hbEvery) {
      this._hbEvery = iv;
      if (this._state === "open") this._startHeartbeats();
    }
    // The answer just arrived: the next look is a whole timeout away.
    if (this._state === "open" && this._hbTimer !== null) this._watchIdle(this._hbIdle);
  };

  Client.prototype._stopTimers = function () {
    for (var i = 0; i < this._timers.length; i++) clearInterval(this._timers[i]);
    this._timers = [];
    clearInterval(this._hbTimer);
    this._hbEvery = 0;
    this._hbTimer = null;
    clearTimeout(this._idleTimer);
    this._idleTimer = null;
    clearTimeout(this._sess.ackTimer);
    this._sess.ackTimer = null;
  };

  // _finish ends the session once: closes the socket (and a resume
  // attempt's), stops the timers, forgets what was kept for a resume and
  // emits "disconnected". The view stays readable until the next connect.
  // refused marks a resume the gate refused.
  Client.prototype._finish = function (reason, error, kicked, code, refused) {
    if (this._state !== "open") return;
    this._state = "closed";
    this._stopTimers();
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    clearTimeout(this._byeTimer);
    this._byeTimer = null;
    if (this._attempt) this._attempt.abort();
    this._sess.kept = [];
    this._sess.keptBytes = 0;
    var ws = this._ws;
    this._ws = null;
    closeSocket(ws);
    this._disconnect = { reason: reason, kicked: kicked, error: error, code: code, refused: refused === true };
    var pending = this._pending;
    this._pending = new Map();
    pending.forEach(function (p) {
      clearTimeout(p.timer);
      p.reject(new Error("goworld: disconnected before the answer: " + reason));
    });
    this._emit("disconnected", this._disconnect);
  };

  // closeSocket closes ws (if any) with 1000 unless it is closing already.
  function closeSocket(ws) {
    if (!ws) return;
    try {
      if (ws.readyState === 0 || ws.readyState === 1) ws.close(1000);
    } catch (e) {
      /* ignore */
    }
  }

  Client.prototype._fail = function (err) {
    var msg = err && err.message ? err.message : String(err);
    if (err && err.name === "GoWorldProtocolError" && msg.indexOf("goworld: ") !== 0) msg = "goworld: protocol error: " + msg;
    this._finish(msg, err, false, 0);
  };

  Client.prototype._onData = function (data) {
    if (this._pendingError) return;
    this._lastRecv = now();
    if (typeof data === "string") {
      // Fails the session once the frames before it are handled.
      this._pendingError = ProtocolError("goworld: text message from the server; goworld speaks binary messages only");
    } else {
      try {
        this._reader.push(toBytes(data));
      } catch (e) {
        this._pendingError = ProtocolError("goworld: a WebSocket message that is not an ArrayBuffer (" + tagOf(data) + ")");
      }
    }
    if (this._ready) this._pump();
  };

  Client.prototype._pump = function () {
    try {
      while (this._state === "open") {
        var f = this._reader.next();
        if (!f) {
          if (this._pendingError) this._fail(this._pendingError);
          return;
        }
        this._stats.framesIn++;
        this._stats.bytesIn += HEADER_SIZE + f.body.length;
        this._handle(f.type, f.body);
        if (this._sess.state !== "none" && isSessionFrame(f.type)) this._received(f.type, HEADER_SIZE + f.body.length);
      }
    } catch (e) {
      this._fail(e);
    }
  };

  Client.prototype._sendFrame = function (type, body) {
    if (this._state !== "open" || this._away || this._byeSent || !this._ws || this._ws.readyState !== 1) {
      throw new Error("goworld: not connected" + (this._byeSent && this._state === "open" ? " (closing)" : ""));
    }
    this._ws.send(encodeFrame(type, body));
    this._stats.framesOut++;
    this._stats.bytesOut += HEADER_SIZE + body.length;
  };

  // _sendSession sends a session frame (a call, a request, a move). In a
  // resumable session, or one asked for and not yet answered, it is
  // numbered and kept until the gate acknowledges it, and while
  // reconnecting it is only kept, to be sent on resume; past the
  // resumeBuffer option it throws and sends nothing.
  Client.prototype._sendSession = function (type, body) {
    var s = this._sess;
    if (s.state === "none" || this._state !== "open" || this._byeSent) {
      this._sendFrame(type, body);
      return;
    }
    var frame = encodeFrame(type, body);
    if (s.keptBytes + frame.length > this._opts.resumeBuffer) {
      throw new Error("goworld: too much sent and not yet acknowledged by the gate (over the resumeBuffer option's " +
        this._opts.resumeBuffer + " bytes); try again later");
    }
    s.kept.push(frame);
    s.keptBytes += frame.length;
    s.sent++;
    if (this._away || !this._ws || this._ws.readyState !== 1) return; // sent on resume
    this._ws.send(frame);
    this._stats.framesOut++;
    this._stats.bytesOut += frame.length;
  };

  // --- resumable sessions (protocol.md 8.1)

  // _drop handles a connection that ended without a kick, a goodbye or
  // a protocol error: with a resumable session (and reconnecting allowed)
  // the client goes away and reconnects; otherwise the session ends.
  Client.prototype._drop = function (reason, error, code) {
    if (this._state !== "open" || this._away) return;
    if (this._byeSent) {
      // close() is waiting for the gate's answer: the end it asked for.
      this._finish("closed by the client", null, false, 1000);
      return;
    }
    if (!this._opts.resume || this._opts.reconnectMax < 0 || this._sess.state !== "resumable") {
      this._finish(reason, error, false, code);
      return;
    }
    this._away = true;
    this._stopTimers();
    var ws = this._ws;
    this._ws = null;
    closeSocket(ws);
    this._reconnect(error || new Error("goworld: " + reason + (code ? " (code " + code + ")" : "")));
  };

  // _backoff returns the wait before reconnect attempt n (from 1), in
  // ms: reconnectDelay doubled for each attempt before it, at most
  // reconnectDelayMax, times a random factor in [0.5, 1.5).
  Client.prototype._backoff = function (n) {
    var d = this._opts.reconnectDelay, max = this._opts.reconnectDelayMax;
    for (var i = 1; i < n && d < max; i++) d *= 2;
    return Math.min(d, max) * (0.5 + Math.random());
  };

  // _reconnect tries again and again, with backoff, until the gate takes
  // the session up, refuses it, reconnectMax (by default the gate's
  // resume window) passes, or close(). drop is why the connection ended.
  Client.prototype._reconnect = function (drop) {
    var self = this;
    var limit = this._opts.reconnectMax > 0 ? this._opts.reconnectMax : this._sess.window;
    var deadline = now() + limit;
    var attempt = 0;
    function next(err) {
      if (self._state !== "open" || !self._away) return;
      var left = deadline - now();
      if (left <= 0) {
        var msg = "could not reconnect within " + limit + " ms";
        self._finish(msg, new Error("goworld: " + msg + ": " + (err && err.message ? err.message : String(err))), false, 0);
        return;
      }
      attempt++;
      self._emit("reconnecting", { attempt: attempt, error: err });
      if (self._state !== "open" || !self._away) return; // a listener closed
      self._retryTimer = setTimeout(function () {
        self._retryTimer = null;
        self._tryResume(Math.max(Math.min(self._opts.connectTimeout, deadline - now()), 1), next);
      }, Math.min(self._backoff(attempt), left));
    }
    next(drop);
  };

  // _tryResume makes one attempt: open a socket to the same URL, send
  // MsgResume, and read the gate's answer within timeout ms. MsgResumed:
  // the session goes on over the new socket. A kick: the gate refused,
  // the session ends. Anything else that fails calls next(error).
  Client.prototype._tryResume = function (timeout, next) {
    var self = this;
    var url = this._url;
    var WS = this._opts.WebSocket || root.WebSocket;
    var ws, settled = false, skipped = 0, timer = null;
    var reader = new FrameReader(this._opts.maxBody);
    var att = {
      abort: function () {
        settle();
        closeSocket(ws);
      },
    };
    function settle() {
      settled = true;
      clearTimeout(timer);
      if (self._attempt === att) self._attempt = null;
    }
    function fail(err) {
      if (settled) return;
      att.abort();
      next(err);
    }
    function end(reason, error, kicked, refused) {
      att.abort();
      self._finish(reason, error, kicked, 0, refused);
    }
    try {
      ws = new WS(url);
    } catch (e) {
      setTimeout(function () {
        next(new Error("goworld: cannot connect to " + url + ": " + (e && e.message)));
      }, 0);
      return;
    }
    ws.binaryType = "arraybuffer";
    this._attempt = att;
    timer = setTimeout(function () {
      fail(new Error("goworld: no answer to Resume within " + Math.round(timeout) + " ms"));
    }, timeout);
    ws.onopen = function () {
      if (settled) return;
      var s = self._sess;
      var w = new Writer(64);
      w.u16(PROTOCOL_VERSION, true);
      w.u8(HELLO_RESUME);
      w.bytes(s.token);
      u64le(w, s.recvd);
      var f = encodeFrame(MsgType.Resume, w.result());
      try {
        ws.send(f);
      } catch (e) {
        fail(e);
        return;
      }
      self._stats.framesOut++;
      self._stats.bytesOut += f.length;
    };
    ws.onerror = function (ev) {
      var why = ev && (ev.message || (ev.error && ev.error.message));
      fail(new Error("goworld: cannot connect to " + url + (why ? ": " + why : " (WebSocket error)")));
    };
    ws.onclose = function (ev) {
      fail(new Error("goworld: the connection to " + url + " closed before the answer to Resume (code " + ev.code + ")"));
    };
    ws.onmessage = function (ev) {
      if (settled) return;
      var f;
      try {
        if (typeof ev.data === "string") throw ProtocolError("goworld: text message from the server; goworld speaks binary messages only");
        reader.push(toBytes(ev.data));
        // The answer comes first: MsgResumed, or a kick that refuses.
        // Frames before it are not the session's (a broadcast can reach
        // the socket before the gate has read the resume; the session
        // has its own copy, which the gate resends): skipped, a few.
        for (;;) {
          f = reader.next();
          if (!f) return;
          if (!isSessionFrame(f.type) && f.type !== MsgType.HeartbeatAck) break;
          if (++skipped > MAX_SKIPPED) throw new Error("goworld: no answer to Resume among the first " + MAX_SKIPPED + " frames");
        }
      } catch (e) {
        fail(e);
        return;
      }
      self._stats.framesIn++;
      self._stats.bytesIn += HEADER_SIZE + f.body.length;
      if (f.type === MsgType.Kick) {
        var reason = "";
        try {
          reason = new BodyReader(f.body).str();
        } catch (e) {
          /* malformed: no reason */
        }
        if (!reason) reason = "resume refused (the gate gave no reason)";
        end(reason, new Error("goworld: the gate refused to resume the session: " + reason), true, true);
        return;
      }
      if (f.type !== MsgType.Resumed) {
        end("goworld: protocol error: the gate answered Resume with message type " + f.type, ProtocolError("goworld: the gate answered Resume with message type " + f.type), false, false);
        return;
      }
      var s = self._sess;
      var got = f.body.length >= RESUME_TOKEN_LENGTH + 8 ? readU64(f.body, RESUME_TOKEN_LENGTH) : -2;
      if (got === -2 || got < s.base || got > s.sent) {
        var msg = got === -2 ? "malformed Resumed (" + f.body.length + " bytes)" :
          "Resumed counts " + (got < 0 ? "2^53 or more" : got) + " frames, but " + s.sent + " were sent and " + s.base + " acknowledged";
        end("goworld: protocol error: " + msg, ProtocolError("goworld: " + msg), false, false);
        return;
      }
      settle();
      self._resumed(ws, reader, f.body.subarray(0, RESUME_TOKEN_LENGTH).slice(), got);
    };
  };

  // _resumed swaps the session over to ws, whose MsgResumed said the gate
  // has received got session frames from the client: the client resends
  // those after them, then carries on (what reader still holds first).
  Client.prototype._resumed = function (ws, reader, token, got) {
    var self = this;
    var s = this._sess;
    this._trim(got);
    s.token = token;
    this._ws = ws;
    this._reader = reader;
    this._pendingError = null;
    this._away = false;
    this._lastRecv = now();
    // MsgResume told the gate what the client had received.
    s.acked = s.recvd;
    s.unackedBytes = 0;
    var resolveClosed;
    this._wsClosed = new Promise(function (r) {
      resolveClosed = r;
    });
    this._resolveClosed = resolveClosed;
    ws.onmessage = function (ev) {
      if (self._ws !== ws || self._state !== "open") return;
      self._onData(ev.data);
    };
    ws.onerror = null;
    ws.onclose = function (ev) {
      resolveClosed();
      if (self._ws !== ws) return;
      self._closedByServer(ev.code);
    };
    var resent = s.kept.length;
    try {
      if (resent > 0) {
        var all = new Uint8Array(s.keptBytes), off = 0;
        for (var i = 0; i < resent; i++) {
          all.set(s.kept[i], off);
          off += s.kept[i].length;
        }
        ws.send(all);
        this._stats.framesOut += resent;
        this._stats.bytesOut += all.length;
      }
    } catch (e) {
      // The new socket failed at once: its close event drops it again.
    }
    this._emit("resumed", { resent: resent });
    if (this._ws !== ws || this._state !== "open") return; // a listener closed
    if (this._opts.heartbeatInterval > 0) {
      // Heartbeats restart on the new socket, and the answer tells the
      // gate's settings again.
      try {
        this._sendFrame(MsgType.Heartbeat, new Uint8Array(0));
      } catch (e) {
        /* closing: the close event follows */
      }
      this._startTimers();
    }
    this._pump();
  };

  // _trim forgets the kept frames up to number n, which the gate has received.
  Client.prototype._trim = function (n) {
    var s = this._sess;
    var k = n - s.base;
    for (var i = 0; i < k; i++) s.keptBytes -= s.kept[i].length;
    s.kept = s.kept.slice(k);
    s.base = n;
  };

  // _gotSession handles MsgSession: the session is resumable.
  Client.prototype._gotSession = function (body) {
    if (!this._opts.resume) throw ProtocolError("goworld: unexpected message type 18 (Session) from the server: the client asked for no resumable session");
    if (body.length < RESUME_TOKEN_LENGTH + 8) throw ProtocolError("goworld: malformed Session (" + body.length + " bytes)");
    var s = this._sess;
    if (s.state !== "undecided") throw ProtocolError("goworld: Session after the session began");
    s.state = "resumable";
    s.token = body.slice(0, RESUME_TOKEN_LENGTH);
    var dv = new DataView(body.buffer, body.byteOffset + RESUME_TOKEN_LENGTH, 8);
    s.window = dv.getUint32(0, true);
    s.limit = dv.getUint32(4, true);
  };

  // _gotAck handles the gate's MsgAck: forget what it has received.
  Client.prototype._gotAck = function (body) {
    var s = this._sess;
    if (s.state !== "resumable") throw ProtocolError("goworld: unexpected message type 9 (Ack) from the server: the session is not resumable");
    if (body.length !== 8) throw ProtocolError("goworld: malformed Ack (" + body.length + " bytes)");
    var n = readU64(body, 0);
    if (n < s.base || n > s.sent) {
      throw ProtocolError("goworld: Ack of " + (n < 0 ? "2^53 or more" : n) + " frames, but " + s.sent + " were sent and " + s.base + " acknowledged");
    }
    this._trim(n);
  };

  // _received counts a session frame the client has handled, of size
  // bytes, and acknowledges as protocol.md 8.1 says: 100 ms after the
  // first unacknowledged one, at 32 KiB of them, or with a heartbeat.
  Client.prototype._received = function (type, size) {
    var self = this;
    var s = this._sess;
    if (s.state === "undecided") {
      // Frames before MsgSession are not counted: a broadcast can reach
      // the socket before the gate has read the hello. The boot entity's
      // MsgCreateEntity comes after the hello, which the gate answers
      // with MsgSession first: if that did not come, this gate holds no
      // session (resume_window = off, or an older gate).
      if (type === MsgType.CreateEntity) {
        s.state = "none";
        s.kept = [];
        s.keptBytes = 0;
      }
      return;
    }
    if (s.state !== "resumable") return;
    s.recvd++;
    s.unackedBytes += size;
    if (s.unackedBytes >= ACK_BYTES) {
      this._ackNow();
      return;
    }
    if (s.ackTimer === null && this._state === "open") {
      s.ackTimer = setTimeout(function () {
        s.ackTimer = null;
        self._ackNow();
      }, ACK_DELAY);
    }
  };

  // _ackNow sends MsgAck if session frames arrived since the last one.
  Client.prototype._ackNow = function () {
    var s = this._sess;
    if (s.state !== "resumable" || s.recvd === s.acked || this._away || this._byeSent) return;
    var w = new Writer(8);
    u64le(w, s.recvd);
    try {
      this._sendFrame(MsgType.Ack, w.result());
    } catch (e) {
      return; // not connected: the resume says it
    }
    s.acked = s.recvd;
    s.unackedBytes = 0;
    clearTimeout(s.ackTimer);
    s.ackTimer = null;
  };

  // --- calls and moves

  /**
   * call(entityID, method, ...args) calls an exposed method of an entity
   * on the server. Arguments are converted as described at the top of this
   * file; GoWorld.float(x) forces a float. It throws for an invalid ID or
   * method name, an argument that cannot be sent, a body over maxSendBody,
   * or when not connected. Nothing is returned: the server answers, if at
   * all, with calls of its own.
   */
  Client.prototype.call = function (entityID, method) {
    this._sendSession(MsgType.CallEntity, this._callBody(entityID, method, Array.prototype.slice.call(arguments, 2), -1));
  };

  // _callBody encodes a MsgCallEntity body, or a MsgRequest body when
  // reqID >= 0, and checks it (see call).
  Client.prototype._callBody = function (entityID, method, args, reqID) {
    if (!isEntityID(entityID)) throw new TypeError("goworld: invalid entity ID " + quote(entityID));
    if (!isIdentifier(method)) throw new TypeError("goworld: method name " + quote(method) + " is not a Go identifier");
    var w = new Writer(64);
    for (var i = 0; i < ENTITY_ID_LENGTH; i++) w.u8(entityID.charCodeAt(i));
    if (reqID >= 0) w.u32(reqID, true);
    var m = utf8Encoder.encode(method);
    if (m.length > 0xffff) throw new RangeError("goworld: method name of " + m.length + " bytes is too long");
    w.u16(m.length, true);
    w.bytes(m);
    encodeArrayHeader(w, args.length);
    for (i = 0; i < args.length; i++) {
      try {
        encodeValue(w, args[i], 0);
      } catch (e) {
        e.message = e.message.replace(/^goworld: /, "goworld: " + method + " argument " + i + ": ");
        throw e;
      }
    }
    var body = w.result();
    if (body.length > this._opts.maxSendBody) {
      throw new RangeError("goworld: call " + method + ": a body of " + body.length + " bytes is over the limit of " + this._opts.maxSendBody);
    }
    return body;
  };

  /**
   * request(entityID, method, ...args) calls an exposed method of an
   * entity and returns a promise of its answer: the value the method
   * returned (decoded as the server's calls are; null for a method that
   * returns only an error, or nothing), or a rejection with a
   * RequestError whose code (GoWorld.ErrorCode, or the game's own from
   * 1000) says why: the method's error, a panic, a method not exposed, bad
   * arguments, no such entity, too many requests waiting (Overloaded), or
   * no answer within the requestTimeout option (Timeout; a later answer
   * is ignored). It rejects with a plain Error if the connection closes
   * first. It throws at once as call() does.
   */
  Client.prototype.request = function (entityID, method) {
    var self = this;
    var id;
    do {
      this._nextReq = (this._nextReq + 1) >>> 0;
      id = this._nextReq;
    } while (this._pending.has(id));
    var body = this._callBody(entityID, method, Array.prototype.slice.call(arguments, 2), id);
    this._sendSession(MsgType.Request, body);
    return new Promise(function (resolve, reject) {
      var p = { resolve: resolve, reject: reject, timer: null };
      if (self._opts.requestTimeout > 0) {
        p.timer = setTimeout(function () {
          if (self._pending.get(id) !== p) return;
          self._pending.delete(id);
          reject(RequestError(ErrorCode.Timeout, "no answer within " + self._opts.requestTimeout + " ms"));
        }, self._opts.requestTimeout);
      }
      self._pending.set(id, p);
    });
  };

  /** requestPlayer(method, ...args) is request() on the player entity. */
  Client.prototype.requestPlayer = function (method) {
    if (!this._player) return Promise.reject(new Error("goworld: no player entity yet"));
    var args = Array.prototype.slice.call(arguments, 1);
    try {
      return this.request.apply(this, [this._player, method].concat(args));
    } catch (e) {
      return Promise.reject(e);
    }
  };

  /** callPlayer(method, ...args) calls a method of the player entity (see call). */
  Client.prototype.callPlayer = function (method) {
    if (!this._player) throw new Error("goworld: no player entity yet");
    var args = Array.prototype.slice.call(arguments, 1);
    return this.call.apply(this, [this._player, method].concat(args));
  };

  /**
   * movePlayer({x, y, z}, yaw) tells the server the player moved, in the
   * space it is in, and updates the view's copy (as float32s). yaw
   * defaults to the player's current one. It throws when there is no
   * player, the player is in no space, or a value is not finite as a
   * float32.
   */
  Client.prototype.movePlayer = function (pos, yaw) {
    if (!pos || typeof pos !== "object") throw new TypeError("goworld: movePlayer wants {x, y, z}");
    var e = this.player();
    if (yaw === undefined) yaw = e ? e.yaw : 0;
    var x = Math.fround(pos.x), y = Math.fround(pos.y), z = Math.fround(pos.z), w = Math.fround(yaw);
    if (!isFinite(x) || !isFinite(y) || !isFinite(z) || !isFinite(w) ||
        typeof pos.x !== "number" || typeof pos.y !== "number" || typeof pos.z !== "number" || typeof yaw !== "number") {
      throw new RangeError("goworld: position (" + pos.x + ", " + pos.y + ", " + pos.z + ") yaw " + yaw + " is not finite as float32s");
    }
    if (!this._player) throw new Error("goworld: no player entity yet");
    if (!this._space) throw new Error("goworld: the player is in no space");
    var b = new Writer(48);
    var ids = [this._player, this._space.id];
    for (var k = 0; k < 2; k++) for (var i = 0; i < ENTITY_ID_LENGTH; i++) b.u8(ids[k].charCodeAt(i));
    b.f32(x, true);
    b.f32(y, true);
    b.f32(z, true);
    b.f32(w, true);
    this._sendSession(MsgType.SyncPosition, b.result());
    if (e) {
      e.pos = { x: x, y: y, z: z };
      e.yaw = w;
    }
  };

  // --- what the server sends

  Client.prototype._handle = function (type, body) {
    var r = new BodyReader(body);
    var id, e, p;
    switch (type) {
      case MsgType.HeartbeatAck:
        this._adoptHeartbeat(body);
        return;

      case MsgType.Bye:
        // The answer to close()'s goodbye: the gate has ended the
        // session. One not asked for is the server closing.
        if (this._byeSent) this._finish("closed by the client", null, false, 1000);
        else this._finish("the server closed the connection", new Error("goworld: the server said goodbye"), false, 0);
        return;

      case MsgType.Session:
        this._gotSession(body);
        return;

      case MsgType.Ack:
        this._gotAck(body);
        return;

      case MsgType.CreateEntity: {
        id = r.entityID();
        var isPlayer = r.u8() !== 0;
        var typ = r.str();
        if (id === null) throw ProtocolError("malformed MsgCreateEntity: zero entity ID");
        var attrs = r.msgpack();
        if (!isMap(attrs)) attrs = {};
        p = { pos: { x: 0, y: 0, z: 0 }, yaw: 0 };
        var tail = r.remaining();
        if (tail === 16) p = r.position();
        else if (tail !== 0) throw ProtocolError("malformed MsgCreateEntity: " + tail + " bytes after the attributes");
        if (isPlayer) {
          var old = this._player && this._entities.get(this._player);
          if (old && this._player !== id) old.isPlayer = false; // handed over
          this._player = id;
        }
        // isPlayer = 0 leaves the player unchanged, even when it names it.
        e = new Entity(id, typ, id === this._player, attrs, p.pos, p.yaw);
        this._entities.set(id, e);
        this._emit("entityCreated", { id: id, entity: e, isPlayer: e.isPlayer });
        return;
      }

      case MsgType.DestroyEntity: {
        id = r.entityID();
        if (id === null) throw ProtocolError("malformed MsgDestroyEntity: zero entity ID");
        e = this._entities.get(id) || null;
        this._entities.delete(id);
        var wasPlayer = this._player === id;
        if (wasPlayer) this._player = null;
        this._emit("entityDestroyed", { id: id, type: e ? e.type : "", entity: e, isPlayer: wasPlayer });
        return;
      }

      case MsgType.CallClient: {
        id = r.entityID();
        var method = r.str();
        var args;
        try {
          args = decode(body.subarray(r.pos));
        } catch (err) {
          throw ProtocolError("MsgCallClient " + method + ": " + err.message);
        }
        if (!Array.isArray(args)) throw ProtocolError("MsgCallClient " + method + ": arguments are not an array");
        var broadcast = id === null;
        if (broadcast) id = this._player;
        this._emit("call", { entityID: id, entity: (id && this._entities.get(id)) || null, method: method, args: args, broadcast: broadcast });
        return;
      }

      case MsgType.AttrChange: {
        id = r.entityID();
        var op = r.u8();
        if (id === null) throw ProtocolError("malformed MsgAttrChange: zero entity ID");
        var path, value;
        try {
          path = r.msgpack();
        } catch (err) {
          throw ProtocolError("MsgAttrChange path: " + err.message);
        }
        try {
          value = r.msgpack();
        } catch (err) {
          throw ProtocolError("MsgAttrChange value: " + err.message);
        }
        e = this._entities.get(id) || null;
        if (e) {
          try {
            applyAttrChange(e.attrs, op, path, value);
          } catch (err) {
            throw ProtocolError("MsgAttrChange on " + id + " " + quote(path) + ": " + err.message);
          }
        }
        this._emit("attrChanged", { entityID: id, entity: e, op: op, opName: opNames[op] || String(op), path: path, value: value });
        return;
      }

      case MsgType.EnterSpace: {
        id = r.entityID();
        var spaceType = r.str();
        p = r.position();
        if (r.remaining() !== 0) throw ProtocolError("malformed MsgEnterSpace (" + body.length + " bytes)");
        this._space = id === null ? null : { id: id, type: spaceType };
        e = this.player();
        if (e && id !== null) {
          e.pos = p.pos;
          e.yaw = p.yaw;
        }
        this._emit("spaceEntered", { id: id, type: spaceType, pos: p.pos, yaw: p.yaw });
        return;
      }

      case MsgType.Positions: {
        var n = r.u16();
        if (r.remaining() !== n * 32) throw ProtocolError("malformed MsgPositions (" + body.length + " bytes for " + n + " entries)");
        var ups = new Array(n);
        for (var i = 0; i < n; i++) {
          var uid = r.entityID();
          p = r.position();
          ups[i] = { id: uid, pos: p.pos, yaw: p.yaw, entity: null };
        }
        for (i = 0; i < n; i++) {
          e = ups[i].id !== null ? this._entities.get(ups[i].id) : undefined;
          if (e) {
            e.pos = ups[i].pos;
            e.yaw = ups[i].yaw;
            ups[i].entity = e;
          }
        }
        this._emit("moved", { updates: ups });
        return;
      }

      case MsgType.Reply: {
        var reqID = r.u32(), code = r.u16(), result = null, message = "";
        if (code === 0) {
          if (r.remaining() === 0) throw ProtocolError("Reply without a result");
          result = r.msgpack();
        } else {
          message = r.str();
          if (utf8Encoder.encode(message).length > MAX_REPLY_MESSAGE) throw ProtocolError("Reply message over " + MAX_REPLY_MESSAGE + " bytes");
        }
        if (r.remaining() !== 0) throw ProtocolError("Reply: " + r.remaining() + " bytes after the answer");
        var pend = this._pending.get(reqID);
        if (!pend) return; // timed out already
        this._pending.delete(reqID);
        clearTimeout(pend.timer);
        if (code === 0) pend.resolve(result);
        else pend.reject(RequestError(code, message));
        return;
      }

      case MsgType.Kick: {
        var reason = r.str();
        this._finish(reason, new Error("goworld: kicked by the server: " + reason), true, 0);
        return;
      }
    }
    throw ProtocolError("goworld: unexpected message type " + type + " from the server");
  };

  // ---------------------------------------------------------------------
  // Exports

  var GoWorld = {
    Client: Client,
    Entity: Entity,
    float: float,
    Float64: Float64,
    MsgType: MsgType,
    ErrorCode: ErrorCode,
    RequestError: RequestError,
    AttrOp: AttrOp,
    ProtocolError: ProtocolError,
    encode: encode,
    decode: decode,
    decodeOne: decodeOne,
    encodeFrame: encodeFrame,
    FrameReader: FrameReader,
    applyAttrChange: applyAttrChange,
    isEntityID: isEntityID,
    isIdentifier: isIdentifier,
    MAX_DEPTH: MAX_DEPTH,
    PROTOCOL_VERSION: PROTOCOL_VERSION,
    /** connect(url, options) is new Client(options) then connect(url); it resolves with the client. */
    connect: function (url, options) {
      var c = new Client(options);
      return c.connect(url).then(function () {
        return c;
      });
    },
  };
  Object.freeze(GoWorld);

  root.GoWorld = GoWorld;
  if (typeof module === "object" && module && typeof module.exports === "object") {
    module.exports = GoWorld;
  }
})(typeof globalThis !== "undefined" ? globalThis : typeof self !== "undefined" ? self : this);
