// Runs the JS-layer tests (tests/sdk/unit/) in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium) and prints their results as
// one JSON line. Environment: APP_URL (the static server's origin),
// SCREENSHOT (a PNG of the results page, saved always).
import { chromium } from "playwright-core";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-popup-blocking"];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS });
const page = await browser.newPage();
const log = [];
page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
try {
  // A secure context (WebCrypto): 127.0.0.1 is one.
  await page.goto(process.env.APP_URL + "/unit/index.html");
  await page.waitForFunction(() => window.__unit !== undefined, null, { timeout: 60000 });
  const results = await page.evaluate(() => window.__unit);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ ok: results.every((r) => r.ok), results, log }));
} catch (e) {
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }).catch(() => {});
  console.log(JSON.stringify({ ok: false, driverError: String(e), log }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
