// The API through CommonJS (require; goworld.d.ts), compiled without the
// DOM library or Node's types: the declarations need neither.
// Type-checked only (TestTypeDeclarations), never run.

import GoWorld = require("@goworld-engine/client");
import type { Client, Value } from "@goworld-engine/client";

const client: Client = new GoWorld.Client({ requestTimeout: 1000 });
async function main(): Promise<void> {
  await client.connect("ws://127.0.0.1:14002/");
  const boot = await client.waitFor("entityCreated", (e) => e.isPlayer);
  client.call(boot.id, "Register", "bob", "hunter2");
  const r: Value = await client.requestPlayer("Who");
  client.callPlayer("SetSpeed", GoWorld.float(3));
  // @ts-expect-error: float takes a number
  GoWorld.float("3");
  // @ts-expect-error: CommonJS has no default export property
  void GoWorld.default;
  void r;
}
void main;

// A class of the ws package's shape fits the WebSocket option.
class FakeWS {
  binaryType = "arraybuffer";
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: Uint8Array | string): void {
    void data;
  }
  close(code?: number, reason?: string): void {
    void [code, reason];
  }
}
new GoWorld.Client({ WebSocket: FakeWS });
class NoSend {
  binaryType = "arraybuffer";
  readyState = 0;
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;
  constructor(readonly url: string) {}
  close(): void {}
}
// @ts-expect-error: a WebSocket class must be able to send
new GoWorld.Client({ WebSocket: NoSend });
