/*
 * TypeScript declarations of goworld.mjs, the ES module: the same names
 * as goworld.d.ts (one set of declarations, so a Client from `import` and
 * one from `require` are the same type), plus the default export, the
 * GoWorld object itself.
 */
import * as GoWorld from "./goworld.js";

export * from "./goworld.js";
export default GoWorld;
