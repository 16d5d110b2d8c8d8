// @flare/smart: SMART on FHIR for browser apps. The whole client is Rust
// compiled to WebAssembly (sdk/src/npm over sdk/src/web and sdk/src/runtime);
// this entry module only loads it lazily, so importing the package does no
// I/O (Node and server-side rendering import it without a DOM).
import init, * as wasm from "./dist/flare_sdk.js";

let loading = null;
let loaded = false;

/** Instantiates the wasm once (see index.d.ts); a failed load is tried again by the next call. */
export function load(source) {
  loading ??= init({ module_or_path: source ?? new URL("./dist/flare_sdk_bg.wasm", import.meta.url) }).then(
    () => void (loaded = true),
    (e) => {
      loading = null;
      const error = new Error("cannot load the SDK's WebAssembly: " + (e?.message ?? e));
      throw Object.assign(error, { name: "FlareError", kind: "network", issues: [] });
    },
  );
  return loading;
}

export function authorize(options) {
  if (loaded) return wasm.authorize(options, undefined);
  // Still loading: a popup must open inside the click, so it is opened here
  // (the wasm sizes it and sends it on, or reports null as blocked).
  const first = Array.isArray(options) ? options[0] : options;
  const popup = first?.target === "popup" && first.noRedirect !== true ? open("", "_blank", "popup") : undefined;
  return load().then(
    () => wasm.authorize(options, popup),
    (e) => (popup?.close(), Promise.reject(e)),
  );
}

export const ready = (options) => load().then(() => wasm.ready(options));

function needsLoad(name) {
  if (!loaded) {
    const error = new Error("the SDK's WebAssembly is not loaded yet: `await load()` before " + name + "()");
    throw Object.assign(error, { name: "FlareError", kind: "launch", issues: [] });
  }
}

export function client(options) {
  needsLoad("client");
  return wasm.client(options);
}

/**
 * Synchronous and usable before the wasm loads (an EHR frame decides on a popup launch first):
 * the same write probe as the wasm's SessionStore (sdk/src/web/store.rs).
 */
export function storageAvailable() {
  try {
    sessionStorage.setItem("flare-smart:probe", "1");
    sessionStorage.removeItem("flare-smart:probe");
    return true;
  } catch {
    return false;
  }
}

export function byCode(resources, property) {
  needsLoad("byCode");
  return wasm.byCode(resources, property);
}

export const { Client, PageIterator } = wasm;
PageIterator.prototype[Symbol.asyncIterator] = function () {
  return this;
};
