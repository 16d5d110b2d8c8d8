// Times one Group-level Bulk Data export as a real client does it: token,
// kick-off, polls honoring Retry-After, manifest; checks the manifest's
// counts add up. Prints one JSON line of figures.
//
// Usage: node scripts/bench/export-bench.mjs BASE_URL GROUP_ID APPS_FILE
import { backendToken } from "../lib/smart-backend.mjs";

const [base, group, apps] = process.argv.slice(2);
const client = "flare-demo-backend-service";
let token = null;
let tokenAt = 0;
async function auth() {
  if (!token || Date.now() - tokenAt > 200_000) {
    token = (await backendToken(base, client, "system/*.rs", apps)).access_token;
    tokenAt = Date.now();
  }
  return { authorization: `Bearer ${token}` };
}
const started = Date.now();
const kick = await fetch(`${base}/fhir/Group/${group}/$export`, {
  headers: { ...(await auth()), prefer: "respond-async", accept: "application/fhir+json" },
});
if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}: ${await kick.text()}`);
const status = kick.headers.get("content-location");
let polls = 0;
let manifest;
for (;;) {
  const r = await fetch(status, { headers: await auth() });
  polls++;
  if (r.status === 200) { manifest = await r.json(); break; }
  if (r.status !== 202) throw new Error(`status answered ${r.status}: ${await r.text()}`);
  const wait = Number(r.headers.get("retry-after") ?? "2");
  await new Promise((ok) => setTimeout(ok, wait * 1000));
}
const seconds = (Date.now() - started) / 1000;
const resources = manifest.output.reduce((n, f) => n + f.count, 0);
// Download the first file to prove the files are served (and time it).
const t0 = Date.now();
const file = await fetch(manifest.output[0].url, { headers: { ...(await auth()), accept: "application/fhir+ndjson" } });
const lines = (await file.text()).split("\n").filter(Boolean).length;
if (lines !== manifest.output[0].count) throw new Error(`file has ${lines} lines, manifest says ${manifest.output[0].count}`);
console.log(JSON.stringify({
  group, seconds, resources, files: manifest.output.length, polls,
  resources_per_s: Math.round(resources / seconds), first_file_lines: lines, first_file_ms: Date.now() - t0,
}));
