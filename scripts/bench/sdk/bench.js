// The benchmark page's script (bundled by esbuild with both SDKs): time to
// fetch, parse and page a 1,000-entry searchset with @flare/smart and with
// fhirclient, over the same in-memory responses (window.fetch is replaced, so
// the network is out of the measurement), in the same headless Chromium.
import "./mock-fetch.js";
import * as flare from "@flare/smart";
import FHIR from "fhirclient";
import { PATIENT_ID, searchset } from "./fixtures.mjs";

const BASE = "https://bench.example/fhir";
const TOTAL = 1000;

/** url → response text: TOTAL Observations in pages of `size`. */
function pages(size) {
  const map = new Map();
  const first = `${BASE}/Observation?patient=${PATIENT_ID}`;
  for (let start = 0, n = 0; start < TOTAL; start += size, n += 1) {
    const url = n === 0 ? first : `${first}&_cursor=${start}`;
    const next = start + size < TOTAL ? `${first}&_cursor=${start + size}` : null;
    map.set(url, JSON.stringify(searchset(BASE, url, start, Math.min(TOTAL, start + size), next)));
  }
  return map;
}

function installFetch(map) {
  window.__benchFetch = async (input) => {
    const url = typeof input === "string" ? input : input.url;
    const body = map.get(url);
    if (!body) return new Response("no " + url, { status: 404 });
    return new Response(body, { status: 200, headers: { "Content-Type": "application/fhir+json" } });
  };
}

/** Milliseconds, sorted; run.mjs summarises them (median, p90) like the launch timings. */
function summary(times) {
  return times.sort((a, b) => a - b);
}

/** Runs the cases alternately (so machine noise hits both alike), after 3 warm-up rounds. */
async function interleaved(cases, runs) {
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let round = -3; round < runs; round++) {
    for (const [name, fn] of Object.entries(cases)) {
      const t0 = performance.now();
      await fn();
      if (round >= 0) times[name].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, t]) => [k, summary(t)]));
}

window.runBench = async (runs) => {
  const out = {};
  await flare.load(); // client() is synchronous; the package instantiates its wasm lazily
  const sdk = flare.client({ serverUrl: BASE, accessToken: "t" });
  const fc = FHIR.client({ serverUrl: BASE, tokenResponse: { access_token: "t" } });
  for (const size of [TOTAL, 100]) {
    installFetch(pages(size));
    out[`pages of ${size}`] = await interleaved({
      "@flare/smart searchAll": async () => {
        const all = await sdk.searchAll("Observation", { patient: "p1" }, { limit: 100000 });
        if (all.length !== TOTAL) throw new Error(`sdk got ${all.length}`);
      },
      "fhirclient request(pageLimit 0, flat)": async () => {
        const all = await fc.request("Observation?patient=p1", { pageLimit: 0, flat: true });
        if (all.length !== TOTAL) throw new Error(`fhirclient got ${all.length}`);
      },
    }, runs);
  }
  return out;
};
window.benchReady = true;
