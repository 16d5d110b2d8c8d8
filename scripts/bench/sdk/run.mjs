// The browser part of scripts/bench-sdk.sh: one headless Chromium (playwright-core,
// Debian's /usr/bin/chromium, the flags of tests/sdk/drive.mjs) runs
//   1. launch: a real SMART launch of each SDK's app against smart-server.mjs, timed
//      on the redirect page from navigation start to ready() resolved and to the
//      first search's results rendered in the DOM;
//   2. paging: the in-page 1,000-entry searchset benchmark (bench.js).
// Prints tables on stdout, writes launch.json and paging.json into OUT.
//   node scripts/bench/sdk/run.mjs WWW OUT [RUNS]
// WWW holds flare/, fhirclient/ and paging/ (built by bench-sdk.sh).
// BENCH_SDK_ONLY=launch|paging runs one part; BENCH_SDK_WARMUP (default 2) warm-up rounds.
import { createServer } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { join, extname, normalize } from "node:path";
import { chromium } from "playwright-core";
import { startSmartServer, CLIENT_ID, OBSERVATIONS } from "./smart-server.mjs";

const [www, out] = process.argv.slice(2, 4);
const runs = Number(process.argv[4] || 30);
if (!www || !out || !(runs > 0)) {
  console.error("usage: node run.mjs WWW OUT [RUNS]");
  process.exit(2);
}
const only = process.env.BENCH_SDK_ONLY || "";
const warmup = Number(process.env.BENCH_SDK_WARMUP ?? 2);
const log = (s) => process.stderr.write(`[bench-sdk] ${s}\n`);

// ------------------------------------------------------------ statistics

/** Nearest-rank percentile of sorted `xs` (p in 0..100). */
const percentile = (xs, p) => xs[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)];
const median = (xs) => (xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2);
const round1 = (x) => Math.round(x * 10) / 10;
function stats(values) {
  const xs = [...values].sort((a, b) => a - b);
  return { n: xs.length, median: round1(median(xs)), p90: round1(percentile(xs, 90)), min: round1(xs[0]), max: round1(xs[xs.length - 1]) };
}
const cell = (s) => `${s.median.toFixed(1)} / ${s.p90.toFixed(1)}`;

// ------------------------------------------------------------ the app origin (static files)

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const app = createServer(async (req, res) => {
  const rel = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "").replace(/^\/+/, "");
  const path = join(www, rel.endsWith("/") || rel === "" ? rel + "index.html" : rel);
  try {
    const body = await readFile(path);
    const ext = extname(path);
    // The app's scripts and wasm are cacheable (as a deployed app's hashed assets); its HTML is not.
    res.writeHead(200, {
      "Content-Type": types[ext] || "application/octet-stream",
      "Cache-Control": ext === ".html" ? "no-store" : "public, max-age=3600",
    });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => app.listen(0, "127.0.0.1", r));
const appBase = `http://127.0.0.1:${app.address().port}`;

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS });
const smart = await startSmartServer();
const results = { browser: browser.version(), runs, warmup };
let failed = false;

try {
  if (only === "" || only === "launch") results.launch = await launchBench();
  if (only === "" || only === "paging") results.paging = await pagingBench();
} catch (e) {
  failed = true;
  console.error(`[bench-sdk] failed: ${e?.stack ?? e}`);
} finally {
  await browser.close();
  await smart.close();
  app.close();
}
process.exitCode = failed ? 1 : 0;

// ------------------------------------------------------------ 1. launch

async function launchBench() {
  const sdks = { "@flare/smart": "flare", "fhirclient 2.6.3": "fhirclient" };
  const modes = {
    "HTTP cache warm": false, // the launch page loaded the app's JS and wasm; the redirect page reuses them
    "HTTP cache disabled": true, // every byte fetched again on the redirect (loopback: parse/compile, not transfer)
  };
  const scope = "launch/patient patient/*.rs";
  const raw = {};
  for (const m of Object.keys(modes)) for (const s of Object.keys(sdks)) raw[`${m}|${s}`] = [];
  log(`launch: ${runs} timed runs per SDK and cache mode (+${warmup} warm-up), alternating, one browser context per run`);
  smart.resetStats();
  for (let round = -warmup; round < runs; round++) {
    for (const [mode, noCache] of Object.entries(modes)) {
      // Alternate which SDK goes first, so a slow moment does not always fall on the same one.
      const order = Object.keys(sdks);
      if (round % 2 !== 0) order.reverse();
      for (const name of order) {
        const t = await launchOnce(sdks[name], noCache, scope);
        if (round >= 0) raw[`${mode}|${name}`].push(t);
      }
    }
  }
  const requests = smart.stats();
  const table = {};
  for (const [key, list] of Object.entries(raw)) {
    const [mode, name] = key.split("|");
    table[mode] ??= {};
    table[mode][name] = {
      script: stats(list.map((t) => t.script)),
      ready: stats(list.map((t) => t.ready)),
      searched: stats(list.map((t) => t.searched)),
      rendered: stats(list.map((t) => t.rendered)),
      appBytesTransferred: stats(list.map((t) => t.transferred)),
      arrived: Object.fromEntries(
        Object.keys(list[0].arrived).filter((f) => f !== "index.html").map((f) => [f, stats(list.map((t) => t.arrived[f] ?? NaN))]),
      ),
    };
  }
  const result = {
    what:
      "ms from the redirect page's navigation start (performance.now()) to: the app module running (script), " +
      "ready() resolved (ready), the first search's Bundle in hand (searched), its rows in the DOM and laid out (rendered); " +
      "arrived: responseEnd of the app's JS and wasm on the redirect page",
    iss: smart.iss, app: appBase, scope, observations: OBSERVATIONS, requests, cases: table, raw,
  };
  await writeFile(join(out, "launch.json"), JSON.stringify(result, null, 2) + "\n");

  console.log(`\n== Launch: redirect page → ready() → first search rendered (${OBSERVATIONS} Observations)`);
  console.log(`   ms from navigation start, median / p90 of ${runs} runs each, both SDKs alternating in one Chromium ${results.browser}`);
  const pad = (s, n) => String(s).padEnd(n);
  console.log(`${pad("case", 20)} ${pad("SDK", 18)} ${pad("script", 14)} ${pad("ready()", 14)} ${pad("search", 14)} ${pad("rendered", 14)}`);
  for (const [mode, bySdk] of Object.entries(table)) {
    for (const [name, s] of Object.entries(bySdk)) {
      console.log(`${pad(mode, 20)} ${pad(name, 18)} ${pad(cell(s.script), 14)} ${pad(cell(s.ready), 14)} ${pad(cell(s.searched), 14)} ${pad(cell(s.rendered), 14)}`);
    }
  }
  const per = (route) => requests[route] ?? 0;
  const launches = 2 * (runs + warmup) * Object.keys(modes).length;
  console.log(`   requests to the SMART server: ${launches} launches, ${per("GET /authorize")} authorize, ${per("POST /token")} token, ` +
    `${per("GET /fhir/Observation")} searches, ${per("OPTIONS (CORS preflight)")} CORS preflights, ${per("GET /fhir/.well-known/smart-configuration")} discovery`);
  const bytes = Object.entries(table).map(([mode, bySdk]) =>
    `${mode}: ${Object.entries(bySdk).map(([name, s]) => `${name} ${s.appBytesTransferred.median.toLocaleString("en-US")}`).join(", ")}`);
  const arrivals = Object.entries(table).map(([mode, bySdk]) =>
    `${mode}: ${Object.entries(bySdk).map(([name, s]) => `${name} ${Object.entries(s.arrived).map(([f, x]) => `${f} ${x.median.toFixed(1)}`).join(", ")}`).join("; ")}`);
  console.log(`   app files in hand (responseEnd, median ms): ${arrivals.join(" | ")}`);
  console.log(`   app bytes fetched by the redirect page (HTML, JS, wasm; served uncompressed over loopback): ${bytes.join("; ")}`);
  return result;
}

/** One launch in a fresh browser context: authorize (untimed), the server's redirect, then the timed redirect page. */
async function launchOnce(dir, noCache, scope) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e.message)));
    const redirectUri = `${appBase}/${dir}/index.html`;
    await page.goto(redirectUri);
    await page.waitForFunction(() => window.appReady === true, null, { timeout: 30000 });
    const authorizeUrl = await page.evaluate((o) => window.startLaunch(o), { iss: smart.iss, clientId: CLIENT_ID, scope, redirectUri });
    if (typeof authorizeUrl !== "string") throw new Error(`${dir}: authorize() returned ${authorizeUrl}`);
    // The authorization server answers the browser's GET with a 302 to the redirect URI carrying code and state;
    // it is taken here so that the timed navigation starts at the redirect URL itself.
    const answer = await fetch(authorizeUrl, { redirect: "manual" });
    const location = answer.headers.get("location");
    if (answer.status !== 302 || !location) throw new Error(`${dir}: /authorize answered ${answer.status}: ${await answer.text()}`);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: noCache });
    await page.goto(location);
    await page.waitForFunction(() => window.__timing !== undefined, null, { timeout: 30000 });
    const t = await page.evaluate(() => {
      const own = performance
        .getEntriesByType("resource")
        .concat(performance.getEntriesByType("navigation"))
        .filter((e) => e.name.startsWith(location.origin));
      return {
        ...window.__timing,
        transferred: own.reduce((n, e) => n + (e.transferSize || 0), 0),
        // When each of the app's files (page, JS, wasm) had arrived, ms from navigation start.
        arrived: Object.fromEntries(own.map((e) => [new URL(e.name).pathname.split("/").pop() || "index.html", e.responseEnd])),
      };
    });
    if (t.error) throw new Error(`${dir}: ${t.kind ?? ""} ${t.error} ${errors.join("; ")}`);
    if (t.rows !== OBSERVATIONS) throw new Error(`${dir}: rendered ${t.rows} rows, expected ${OBSERVATIONS}`);
    return t;
  } finally {
    await context.close();
  }
}

// ------------------------------------------------------------ 2. paging

async function pagingBench() {
  log(`paging: ${runs} timed runs per case (+3 warm-up), in one page`);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("[pageerror]", e.message));
    await page.goto(`${appBase}/paging/index.html`);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 });
    const raw = await page.evaluate((n) => window.runBench(n), runs);
    const cases = {};
    for (const [c, byLib] of Object.entries(raw)) {
      cases[c] = Object.fromEntries(Object.entries(byLib).map(([lib, times]) => [lib, stats(times)]));
    }
    const result = {
      what: "ms to fetch (in-memory responses), parse and page 1,000 Observations, per call",
      cases,
      raw,
    };
    await writeFile(join(out, "paging.json"), JSON.stringify(result, null, 2) + "\n");
    console.log(`\n== Paging: fetch (in memory) → parse → page 1,000 Observations`);
    console.log(`   ms per call, median / p90 of ${runs} runs each, alternating, same page`);
    for (const [c, byLib] of Object.entries(cases)) {
      for (const [lib, s] of Object.entries(byLib)) console.log(`${c.padEnd(16)} ${lib.padEnd(40)} ${cell(s)}`);
    }
    return result;
  } finally {
    await context.close();
  }
}
