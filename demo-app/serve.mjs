// Serves the built demo app (demo-app/dist) from its own origin, plus
// /config.json telling it which server and client id to use.
//   node demo-app/serve.mjs [--port 8788] [--host 127.0.0.1]
// Environment: FLARE_ISS (default http://127.0.0.1:8787/fhir), FLARE_CLIENT_ID
// (default flare-demo-patient-app). With --port 0 a free port is chosen; the
// first line on stdout is the app's origin.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const port = Number(opt("port", process.env.FLARE_DEMO_PORT ?? "8788"));
const host = opt("host", "127.0.0.1");
const root = join(dirname(fileURLToPath(import.meta.url)), "dist");
const config = JSON.stringify({
  iss: process.env.FLARE_ISS ?? "http://127.0.0.1:8787/fhir",
  clientId: process.env.FLARE_CLIENT_ID ?? "flare-demo-patient-app",
});
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json" };
// The app talks to the FHIR server only (connect-src any http(s): the server is configurable);
// it may be framed by an EHR on any origin, as SMART EHR launches are.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; object-src 'none'";

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
  const headers = { "cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "content-security-policy": CSP };
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { ...headers, allow: "GET, HEAD" }).end();
    return;
  }
  if (path === "/config.json") {
    res.writeHead(200, { ...headers, "content-type": "application/json" }).end(config);
    return;
  }
  const rel = normalize(path === "/" ? "/index.html" : path);
  const file = join(root, rel);
  if (!file.startsWith(root + sep)) {
    res.writeHead(404, headers).end("not found");
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch {
    res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found");
  }
});
server.listen(port, host, () => {
  const a = server.address();
  console.log(`http://${host}:${a.port}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
