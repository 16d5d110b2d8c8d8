// Imported first by bench.js: libraries that keep a reference to `fetch` when
// they load (fhirclient does) then still reach the benchmark's in-memory
// responses, which bench.js installs as window.__benchFetch. Until then (the
// SDK fetching its .wasm) requests go to the network.
const networkFetch = window.fetch.bind(window);
window.fetch = (input, init) => (window.__benchFetch || networkFetch)(input, init);
