// @flare/smart: instantiates the WebAssembly module once (top-level await),
// makes search page iterators async-iterable, and re-exports the API.
import init, { PageIterator } from "./dist/flare_sdk.js";

await init({ module_or_path: new URL("./dist/flare_sdk_bg.wasm", import.meta.url) });

PageIterator.prototype[Symbol.asyncIterator] = function () {
  return this;
};

export { authorize, ready, client, storageAvailable, Client, PageIterator } from "./dist/flare_sdk.js";
