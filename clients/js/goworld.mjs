/*
 * goworld.mjs: goworld.js as an ES module, for Node (import) and for
 * browsers (<script type="module">, served over http or https).
 *
 * There is one client, goworld.js, a classic script that sets
 * globalThis.GoWorld (and module.exports under CommonJS). This module
 * loads it for that effect and exports what it set: the same object, so
 * that in Node `import` and `require` of the package give the same
 * classes (no second copy of the client to tell apart with instanceof).
 * A browser cannot take a classic script's exports any other way, and
 * goworld.js must stay a classic script so that a page opened from
 * file:// can load it with <script src>.
 *
 * Keep goworld.js next to this file.
 */
import "./goworld.js";

const GoWorld = globalThis.GoWorld;
if (!GoWorld || typeof GoWorld.Client !== "function") {
  throw new Error("goworld.mjs: goworld.js did not set globalThis.GoWorld (is it next to goworld.mjs?)");
}

export default GoWorld;
export const {
  Client,
  Entity,
  float,
  Float64,
  MsgType,
  ErrorCode,
  RequestError,
  AttrOp,
  ProtocolError,
  encode,
  decode,
  decodeOne,
  encodeFrame,
  FrameReader,
  applyAttrChange,
  isEntityID,
  isIdentifier,
  MAX_DEPTH,
  PROTOCOL_VERSION,
  connect,
} = GoWorld;
