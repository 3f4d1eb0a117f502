// A classic script (no import or export) that uses the GoWorld global,
// as a page that loads goworld.js with <script src> does.
// Type-checked only (TestTypeDeclarations), never run.

/// <reference types="@goworld-engine/client" />

const page = new GoWorld.Client();
page.onCall("OnLogin", (name) => page.callPlayer("JoinRoom", "lobby", name));
const code: GoWorld.ErrorCode = GoWorld.ErrorCode.NoEntity;
// @ts-expect-error: no such export
GoWorld.Nope;
void code;
