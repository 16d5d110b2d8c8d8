// Runs the package API tests (tests/sdk/unit/) in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium) and prints their results as
// one JSON line. Environment: APP_URL (the static server's origin),
// SCREENSHOT (a PNG of the results page, saved always).
import { FLAGS, launchChromium } from "../src/chromium.mjs";

const browser = await launchChromium({ args: [...FLAGS, "--disable-popup-blocking"] });
const page = await browser.newPage();
const log = [];
page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
/**
 * A popup launch from a real click in a Chromium whose popup blocker is on (unit/popup.html): discovery takes
 * 5.5 s, longer than the click's user activation (5 s), so only a popup opened inside the click survives.
 */
async function popupFromClick() {
  const name = "the popup opens inside a real click in Chromium with its popup blocker on (discovery 5.5 s)";
  // Playwright passes --disable-popup-blocking by default: turned off here.
  const strict = await launchChromium({ ignoreDefaultArgs: ["--disable-popup-blocking"] });
  try {
    const context = await strict.newContext();
    const p = await context.newPage();
    await p.goto(process.env.APP_URL + "/unit/popup.html");
    await p.waitForFunction(() => window.__armed === true);
    const popups = [];
    context.on("page", (w) => popups.push(w));
    await p.click("#go");
    // The popup is sent to the stand-in authorization page (frame.html) once discovery answers. The opener is
    // not touched meanwhile: Playwright's evaluate() would count as a user gesture and lift the blocker.
    const deadline = Date.now() + 15000;
    const sent = () => popups.some((w) => w.url().includes("/unit/frame.html?") && w.url().includes("code_challenge="));
    while (!sent() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (sent()) return { name, ok: true };
    const result = await p.evaluate(() => window.__result ?? null);
    return { name, ok: false, error: "no popup reached the authorization page (" + popups.map((w) => w.url()).join(", ") + "); authorize(): " + JSON.stringify(result) };
  } catch (e) {
    return { name, ok: false, error: String(e) };
  } finally {
    await strict.close();
  }
}

try {
  // A secure context (WebCrypto): 127.0.0.1 is one.
  await page.goto(process.env.APP_URL + "/unit/index.html");
  await page.waitForFunction(() => window.__unit !== undefined, null, { timeout: 60000 });
  const results = await page.evaluate(() => window.__unit);
  results.push(await popupFromClick());
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ ok: results.every((r) => r.ok), results, log }));
} catch (e) {
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }).catch(() => {});
  console.log(JSON.stringify({ ok: false, driverError: String(e), log }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
