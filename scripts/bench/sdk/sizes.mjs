// The size part of scripts/bench-sdk.sh: raw, gzip and brotli bytes of what an
// app loads with each SDK, and the size target of @flare/smart (JS + wasm, gzip).
//   node scripts/bench/sdk/sizes.mjs OUT.json SDK_JS SDK_WASM FHIRCLIENT_JS [FHIRCLIENT_BROWSER_BUILD]
// gzip: GNU `gzip -9n` (as build-sdk.sh and the earlier figures in BENCHMARKS.md; zlib level 9,
// about 1 % larger on the wasm, when there is no gzip binary); brotli: quality 11, window 22
// (the `brotli` tool's defaults; what static pre-compression uses), from Node's zlib.
// Each file is compressed on its own: the JS and the wasm are two responses.
// Exit status 0 even when the target is missed (it is a benchmark); the verdict is printed.
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { execFileSync } from "node:child_process";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const TARGET_GZIP = 64 * 1024; // "at most 64 KB gzip for wasm + JS" (KB = 1,024 bytes)

const [outJson, sdkJs, sdkWasm, fcJs, fcBuild] = process.argv.slice(2);
if (!fcJs) {
  console.error("usage: node sizes.mjs OUT.json SDK_JS SDK_WASM FHIRCLIENT_JS [FHIRCLIENT_BROWSER_BUILD]");
  process.exit(2);
}

let gzipTool = "gzip -9n";
function gzipped(bytes) {
  if (gzipTool === "gzip -9n") {
    try {
      return execFileSync("gzip", ["-9n", "-c"], { input: bytes, maxBuffer: 1 << 30 }).length;
    } catch {
      gzipTool = "zlib level 9";
    }
  }
  return gzipSync(bytes, { level: 9 }).length;
}

function measure(path) {
  const bytes = readFileSync(path);
  return {
    file: path,
    raw: bytes.length,
    gzip: gzipped(bytes),
    brotli: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_LGWIN]: 22,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
        [constants.BROTLI_PARAM_MODE]: path.endsWith(".wasm") ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
      },
    }).length,
  };
}

const rows = [
  ["@flare/smart JS (index.js + glue, bundled, minified)", measure(sdkJs)],
  ["@flare/smart wasm", measure(sdkWasm)],
];
const sum = (a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli });
const total = sum(rows[0][1], rows[1][1]);
rows.push(["@flare/smart total (JS + wasm)", total]);
const fc = measure(fcJs);
rows.push(["fhirclient 2.6.3 (npm import, bundled, minified)", fc]);
if (fcBuild) rows.push([`fhirclient 2.6.3 shipped ${basename(fcBuild)}`, measure(fcBuild)]);

const pass = total.gzip <= TARGET_GZIP;
const result = {
  what: `bytes of what an app loads; gzip = ${gzipTool}, brotli = quality 11 window 22; each file compressed on its own`,
  gzipTool,
  rows: Object.fromEntries(rows),
  target: { gzipMax: TARGET_GZIP, gzip: total.gzip, pass, margin: TARGET_GZIP - total.gzip },
  vsFhirclient: { gzip: +(total.gzip / fc.gzip).toFixed(2), brotli: +(total.brotli / fc.brotli).toFixed(2) },
};
writeFileSync(outJson, JSON.stringify(result, null, 2) + "\n");

const n = (x) => x.toLocaleString("en-US");
console.log("\n== Size: what an app loads (bytes)");
console.log(`${"".padEnd(52)} ${"raw".padStart(9)} ${(gzipTool === "gzip -9n" ? "gzip -9" : "zlib 9").padStart(9)} ${"brotli 11".padStart(9)}`);
for (const [label, m] of rows) {
  console.log(`${label.padEnd(52)} ${n(m.raw).padStart(9)} ${n(m.gzip).padStart(9)} ${n(m.brotli).padStart(9)}`);
}
console.log(
  `target: @flare/smart JS + wasm <= ${n(TARGET_GZIP)} B gzip: ${n(total.gzip)} B -> ${pass ? "PASS" : "FAIL"} ` +
    `(${pass ? "under by" : "over by"} ${n(Math.abs(TARGET_GZIP - total.gzip))} B); ` +
    `${result.vsFhirclient.gzip}x fhirclient's gzip, ${result.vsFhirclient.brotli}x its brotli`,
);
