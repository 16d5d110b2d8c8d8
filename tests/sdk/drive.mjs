// Drives headless Chromium (playwright-core, Debian's /usr/bin/chromium) through
// a standalone launch of the test page against the edge: sign-in and consent
// are the edge's server-rendered forms. Prints one JSON object on stdout.
// Environment: APP_URL, LAUNCH_QUERY (`?iss=…&launch=…` for an EHR launch, else
// empty: a standalone launch against ISS), ISS, CLIENT_ID, SCOPE, USERNAME,
// PASSWORD, SCREENSHOT (failure), SHOTS (a directory for the key screens on success).
// MODE=rust-app drives the example Rust web app (sdk/examples/rust_app.rs) instead:
// its page carries its own configuration, so the launch starts with a click on
// its #sign-in button, and after the reload it sets window.__restored itself
// (ISS, CLIENT_ID and SCOPE are then not needed). With LAUNCH_QUERY too it is an
// EHR launch of the Rust app: no click (the app authorizes on load); after the
// launch the driver clicks its #burst button (window.__burst: a burst of
// concurrent reads; the driver counts the reads it sees on the wire, so retries
// would show), revokes the app in the edge's patient portal
// (CLIENT_NAME: the revoke button of that app) and clicks #read-again
// (window.__readAgain: the typed error of the revoked grant).
import { env, launchChromium } from "../src/chromium.mjs";


const browser = await launchChromium();
const context = await browser.newContext();
const page = await context.newPage();
const log = [];
page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
const steps = [];
try {
  const ehr = Boolean(process.env.LAUNCH_QUERY);
  const rustApp = process.env.MODE === "rust-app";
  const shot = async (name) => process.env.SHOTS && page.screenshot({ path: `${process.env.SHOTS}/${name}.png`, fullPage: true });
  await page.goto(env("APP_URL") + (process.env.LAUNCH_QUERY || ""));
  if (rustApp && ehr) {
    steps.push("EHR launch of the Rust app: it authorizes on load");
  } else if (rustApp) {
    await page.waitForSelector("#sign-in", { timeout: 20000 });
    steps.push("page loaded: sign-in button");
    await shot("0-app-signed-out");
    await page.click("#sign-in");
  } else {
    await page.waitForFunction(() => typeof window.startLaunch === "function", null, { timeout: 20000 });
    steps.push("page loaded");
    // An EHR launch passes no iss: the SDK reads iss and launch from the page URL.
    const options = { clientId: env("CLIENT_ID"), scope: env("SCOPE"), redirectUri: env("APP_URL") };
    if (!ehr) options.iss = env("ISS");
    await page.evaluate((o) => window.startLaunch(o), options);
  }
  await page.waitForSelector("input[name=username]", { timeout: 20000 });
  steps.push(`sign-in page ${page.url().split("?")[0]}`);
  const authorizeUrl = new URL(page.url());
  await shot("1-sign-in");
  await page.fill("input[name=username]", env("USERNAME"));
  await page.fill("input[name=password]", env("PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click("form button[type=submit]")]);
  await page.waitForSelector("button[name=decision][value=allow]", { timeout: 20000 });
  steps.push("consent page");
  await shot("2-consent");
  await Promise.all([page.waitForURL((u) => u.href.startsWith(env("APP_URL")), { timeout: 20000 }),
    page.click("button[name=decision][value=allow]")]);
  steps.push("redirected back");
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 20000 });
  const result = await page.evaluate(() => window.__result);
  steps.push("ready() done");
  await page.waitForFunction(() => document.getElementById("out")?.textContent.startsWith("{"), null, { timeout: 5000 }).catch(() => {});
  await shot("3-app-after-launch");
  // What the Rust app rendered: its list of lab results.
  if (rustApp) result.domLabs = await page.evaluate(() => [...document.querySelectorAll("#labs li")].map((li) => li.dataset.id));
  if (rustApp && ehr) {
    // A burst of reads up to the throttle; every read of the patient on the wire is counted.
    const patientRead = /\/fhir\/Patient\/[^/?]+$/;
    let onTheWire = 0;
    const count = (req) => { if (req.method() === "GET" && patientRead.test(req.url())) onTheWire += 1; };
    page.on("request", count);
    await page.click("#burst");
    await page.waitForFunction(() => window.__burst !== undefined, null, { timeout: 60000, polling: 500 })
      .catch(async (e) => { throw new Error(`${e}: ${JSON.stringify(await page.evaluate(() => window.__burstProgress))}`); });
    page.off("request", count);
    result.burst = await page.evaluate(() => window.__burst);
    result.burst.onTheWire = onTheWire;
    steps.push(`burst: ${result.burst.ok} read, ${result.burst.throttled} throttled`);
    // The patient revokes the app in the edge's portal (signed in there by the launch).
    const portal = await context.newPage();
    await portal.goto(`${new URL(authorizeUrl).origin}/portal`);
    await portal.waitForSelector("h1", { timeout: 20000 });
    if (await portal.$("input[name=username]")) {
      await portal.fill("input[name=username]", env("USERNAME"));
      await portal.fill("input[name=password]", env("PASSWORD"));
      await Promise.all([portal.waitForNavigation(), portal.click("form button[type=submit]")]);
    }
    const revoke = `button[aria-label="Revoke ${env("CLIENT_NAME")}"]`;
    await portal.waitForSelector(revoke, { timeout: 20000 });
    result.portalBefore = await portal.$$eval(revoke, (xs) => xs.length);
    await shot("5-portal");
    await Promise.all([portal.waitForNavigation(), portal.click(revoke)]);
    result.portalAfter = await portal.$$eval(revoke, (xs) => xs.length);
    await portal.close();
    steps.push("revoked in the portal");
    await page.click("#read-again");
    await page.waitForFunction(() => window.__readAgain !== undefined, null, { timeout: 20000 });
    result.readAgain = await page.evaluate(() => window.__readAgain);
    await shot("6-app-after-revocation");
  }
  await page.reload();
  if (rustApp) {
    // The app restores the session on load; without one it shows #sign-in again.
    await page.waitForFunction(() => window.__restored !== undefined || document.getElementById("sign-in"), null,
      { timeout: 20000 });
    result.restored = await page.evaluate(() => window.__restored ?? null);
    steps.push(result.restored ? "reload: session restored" : "reload: signed out");
    await shot("4-app-after-reload");
  } else {
    await page.waitForFunction(() => typeof window.__restore === "function", null, { timeout: 20000 });
    result.restored = await page.evaluate(() => window.__restore());
  }
  result.authorizeParams = Object.fromEntries(authorizeUrl.searchParams);
  result.steps = steps;
  console.log(JSON.stringify(result));
} catch (e) {
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }).catch(() => {});
  console.log(JSON.stringify({ ok: false, driverError: String(e), steps, url: page.url(), log }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
