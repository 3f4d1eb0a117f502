// The API as a bundler (Vite, webpack, esbuild) resolves it: the "import"
// condition, goworld.d.mts. Type-checked only (TestTypeDeclarations).

import GoWorld, { Client, RequestError, type Value } from "@goworld-engine/client";

const c: Client = new GoWorld.Client();
const r: Promise<Value> = c.requestPlayer("Who");
const e: Error = new RequestError(GoWorld.ErrorCode.User, "x");
// @ts-expect-error: no such export
void GoWorld.Nope;
void [r, e];
