// With the DOM library: a browser's WebSocket class fits the option.
// Type-checked only (TestTypeDeclarations), never run.

import { Client } from "@goworld-engine/client";

const c = new Client({ WebSocket: WebSocket });
document.title = String(c.connected);
