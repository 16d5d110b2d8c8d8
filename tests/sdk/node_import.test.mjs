// The npm package imported in Node without a DOM, as server-side rendering
// does: the import itself does no I/O (the wasm is instantiated lazily), so
// it must not throw; client() before the wasm is loaded is a typed error, and
// after load() with the wasm's bytes the core works in Node too.
// `node --test tests/sdk/node_import.test.mjs` (needs pkg/dist: scripts/build-sdk.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

const pkg = new URL("../../pkg/", import.meta.url);

// One sequence: the wasm-bindgen glue instantiates once per process.
test("imports without a DOM, loads lazily, retries a failed load, then works", async () => {
  assert.equal(typeof globalThis.window, "undefined", "this runs without a DOM");
  assert.equal(typeof globalThis.document, "undefined", "this runs without a DOM");
  const smart = await import(new URL("index.js", pkg));
  for (const name of ["authorize", "ready", "load", "client", "storageAvailable", "Client", "PageIterator"]) {
    assert.equal(typeof smart[name], "function", name);
  }
  assert.equal(smart.storageAvailable(), false, "no sessionStorage in Node");

  const options = { serverUrl: "https://ehr.test/fhir", accessToken: "t1", patient: "p1", expiresIn: 3600 };
  const notLoaded = (e) => e.name === "FlareError" && e.kind === "launch" && /load\(\)/.test(e.message);
  assert.throws(() => smart.client(options), notLoaded);

  // Not a wasm module: a typed error, and the next load() tries again.
  await assert.rejects(smart.load(new Uint8Array([0, 1, 2, 3])), (e) => e.name === "FlareError" && e.kind === "network");
  assert.throws(() => smart.client(options), notLoaded);

  const bytes = await readFile(new URL("dist/flare_sdk_bg.wasm", pkg));
  const first = smart.load(bytes);
  assert.equal(smart.load(), first, "one load, shared by later calls");
  await first;
  const c = smart.client(options);
  assert.equal(c.serverUrl, "https://ehr.test/fhir");
  assert.equal(c.patient, "p1");
  assert.equal(c.accessToken, "t1");
  assert.ok(Math.abs(c.expiresAt - (Date.now() + 3600_000)) < 60_000, "expiry computed by the core");
});
