// Serves target/sdk-bench/ over HTTP and runs the paging benchmark in
// headless Chromium; prints the timings as JSON.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, extname } from "node:path";
import { chromium } from "playwright-core";

const dir = process.argv[2];
const runs = Number(process.argv[3] || 30);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = createServer(async (req, res) => {
  const path = join(dir, new URL(req.url, "http://x").pathname.replace(/^\/+/, "") || "index.html");
  try {
    const body = await readFile(path);
    res.writeHead(200, { "Content-Type": types[extname(path)] || "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS });
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("[pageerror]", e.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 });
  const result = await page.evaluate((n) => window.runBench(n), runs);
  result.browser = browser.version();
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  server.close();
}
