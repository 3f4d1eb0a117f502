// The package installed by its name (pkg_test.go copies the files that
// package.json lists into node_modules/@goworld-engine/client of a
// temporary directory, next to this script): the ES module and CommonJS
// through "exports", one and the same client under both.
//
//   node imports.mjs

import { createRequire } from "node:module";
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import GoWorld, * as ns from "@goworld-engine/client";
import { Client, RequestError, ErrorCode, float } from "@goworld-engine/client";

const require = createRequire(import.meta.url);
function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
setTimeout(() => fail("timed out after 20 s"), 20000).unref();

// The ES module: a default export and named ones.
check(typeof GoWorld === "object" && typeof GoWorld.Client === "function", "the default export is the GoWorld object");
check(Client === GoWorld.Client && RequestError === GoWorld.RequestError && ErrorCode === GoWorld.ErrorCode, "named exports are GoWorld's");
check(float(3).value === 3 && float(3) instanceof GoWorld.Float64, "float() works through the module");
const named = Object.keys(ns).filter((k) => k !== "default").sort();
const runtime = Object.keys(GoWorld).sort();
check(JSON.stringify(named) === JSON.stringify(runtime), `named exports ${named} differ from GoWorld's keys ${runtime}`);
check(Object.isFrozen(GoWorld), "GoWorld is frozen");

// CommonJS: require gives the same object (the ES module wraps it, so
// there is one copy of the client, and instanceof works across both).
const cjs = require("@goworld-engine/client");
check(cjs === GoWorld, "require() and import give the same GoWorld");
check(new cjs.RequestError(7, "x") instanceof RequestError, "a RequestError made through require is one through import");
check(globalThis.GoWorld === GoWorld, "the module also sets globalThis.GoWorld, as the classic script does");

// Where the names resolve, and that nothing else is exported.
const pkgDir = dirname(require.resolve("@goworld-engine/client/package.json"));
check(require.resolve("@goworld-engine/client") === join(pkgDir, "goworld.js"), `require resolves to ${require.resolve("@goworld-engine/client")}`);
const esmURL = import.meta.resolve("@goworld-engine/client");
check(esmURL.endsWith("/node_modules/@goworld-engine/client/goworld.mjs"), `import resolves to ${esmURL}`);
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
for (const cond of ["import", "require"]) {
  const t = pkg.exports["."][cond].types;
  check(typeof t === "string" && existsSync(join(pkgDir, t)), `the ${cond} condition's types ${t} are in the package`);
}
check(existsSync(join(pkgDir, pkg.types)), `"types" ${pkg.types} is in the package`);
for (const sub of ["@goworld-engine/client/goworld.js", "@goworld-engine/client/testdata/lib.mjs"]) {
  try {
    require.resolve(sub);
    fail(`${sub} is exported`);
  } catch (e) {
    check(e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED", `${sub}: ${e.code} ${e.message}`);
  }
}
check(Number(process.versions.node.split(".")[0]) >= 20 && pkg.engines.node === ">=20", "engines.node");

console.log("imports: ok");
