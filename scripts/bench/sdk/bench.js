// The benchmark page's script (bundled by esbuild with both SDKs): time to
// fetch, parse and page a 1,000-entry searchset with @flare/smart and with
// fhirclient, over the same in-memory responses (window.fetch is replaced, so
// the network is out of the measurement), in the same headless Chromium.
import "./mock-fetch.js";
import * as flare from "@flare/smart";
import FHIR from "fhirclient";

const BASE = "https://bench.example/fhir";
const TOTAL = 1000;

function observation(i) {
  return {
    resourceType: "Observation", id: `obs-${i}`, meta: { lastUpdated: "2024-05-01T10:00:00Z" }, status: "final",
    category: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "laboratory", display: "Laboratory" }] }],
    code: { coding: [{ system: "http://loinc.org", code: "4548-4", display: "Hemoglobin A1c/Hemoglobin.total in Blood" }], text: "HbA1c" },
    subject: { reference: "Patient/p1" }, effectiveDateTime: `2024-05-01T10:${String(i % 60).padStart(2, "0")}:00Z`,
    valueQuantity: { value: 5 + (i % 30) / 10, unit: "%", system: "http://unitsofmeasure.org", code: "%" },
    referenceRange: [{ low: { value: 4, unit: "%" }, high: { value: 5.6, unit: "%" } }],
  };
}

/** url → response text: TOTAL Observations in pages of `size`. */
function pages(size) {
  const map = new Map();
  const first = `${BASE}/Observation?patient=p1`;
  for (let start = 0, n = 0; start < TOTAL; start += size, n += 1) {
    const url = n === 0 ? first : `${first}&_cursor=${start}`;
    const next = start + size < TOTAL ? `${first}&_cursor=${start + size}` : null;
    const entry = [];
    for (let i = start; i < Math.min(TOTAL, start + size); i++) {
      entry.push({ fullUrl: `${BASE}/Observation/obs-${i}`, resource: observation(i), search: { mode: "match" } });
    }
    const link = [{ relation: "self", url }];
    if (next) link.push({ relation: "next", url: next });
    map.set(url, JSON.stringify({ resourceType: "Bundle", type: "searchset", link, entry }));
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

function summary(times) {
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] };
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
