// Drives headless Chromium (playwright-core, Debian's /usr/bin/chromium)
// through the demo app and the edge's pages as a person would: the edge's
// sign-in, patient picker and consent forms, the EHR simulator, the patient
// portal. Prints one JSON object (what the pages showed) on stdout.
//
// Environment: SCENARIO (patient | provider | ehr | rust-ehr | limited | revoke | expiry),
// EDGE (edge origin), APP_URL (the app's origin + "/"), CLIENT_ID, CLIENT_NAME,
// USERNAME, PASSWORD, PATIENT (the patient to pick, provider/ehr),
// ENCOUNTER (ehr, rust-ehr), CLIENT_ID_2 (ehr, rust-ehr: the same-site app), UNTICK (space-separated scopes to untick, limited),
// WAIT_SECONDS (expiry), SHOTS (screenshot directory).
import { env, launchChromium } from "../src/chromium.mjs";
import { mkdirSync } from "node:fs";

const SCENARIO = env("SCENARIO");
const EDGE = env("EDGE");
const APP_URL = env("APP_URL");
const SHOTS = env("SHOTS");
mkdirSync(SHOTS, { recursive: true });

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const log = [];
const steps = [];
const tokenRequests = [];
const bearers = new Set();
const fhirStatuses = [];
page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
context.on("request", (r) => {
  const auth = r.headers()["authorization"];
  if (auth?.startsWith("Bearer ") && r.url().startsWith(`${EDGE}/fhir/`)) bearers.add(auth.slice(7));
  if (r.method() === "POST" && r.url() === `${EDGE}/token`) {
    tokenRequests.push(new URLSearchParams(r.postData() ?? "").get("grant_type"));
  }
});
context.on("response", (r) => {
  if (r.url().startsWith(`${EDGE}/fhir/`) && r.request().method() !== "OPTIONS") {
    fhirStatuses.push({ status: r.status(), path: new URL(r.url()).pathname });
  }
});

async function shot(name, target = page) {
  await target.screenshot({ path: `${SHOTS}/${SCENARIO}-${name}.png`, fullPage: true });
}

/** The edge's sign-in form, in the page or in a frame. */
async function signIn(where, username = env("USERNAME")) {
  await where.waitForSelector("input[name=username]", { timeout: 20000 });
  await where.fill("input[name=username]", username);
  await where.fill("input[name=password]", env("PASSWORD"));
  await where.click("form button[type=submit]");
}

/** The consent page: untick `untick`, screenshot, allow. */
async function consent(where, untick = [], shotTarget = page) {
  await where.waitForSelector("button[name=decision][value=allow]", { timeout: 20000 });
  const offered = await where.$$eval("input[name=scope]", (xs) => xs.map((x) => ({ value: x.value, checked: x.checked })));
  for (const s of untick) await where.uncheck(`input[name=scope][value="${s}"]`);
  await shot("consent", shotTarget);
  await where.click("button[name=decision][value=allow]");
  return offered;
}

/** Waits until every section of the summary has settled. */
async function summaryLoaded(where) {
  await where.waitForSelector("#app[data-loaded=true]", { timeout: 60000 });
}

/** What the summary shows, as text. */
async function readSummary(where) {
  return where.evaluate(() => {
    const text = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim());
    const state = (id) => document.getElementById(id)?.dataset.state ?? null;
    const ids = ["allergies", "problems", "medications", "immunizations", "procedures", "careteam", "goals", "coverage", "labs", "vitals", "notes"];
    const charts = {};
    for (const fig of document.querySelectorAll("[data-chart]")) {
      charts[fig.dataset.chart] = {
        points: fig.querySelectorAll("svg circle").length,
        series: fig.querySelectorAll("svg g.series").length,
        hasLine: fig.querySelectorAll("svg polyline").length > 0,
        label: fig.querySelector("svg")?.getAttribute("aria-labelledby") ?? null,
        desc: fig.querySelector("svg desc")?.textContent ?? null,
      };
    }
    return {
      title: document.title,
      banner: document.getElementById("patient-name")?.textContent ?? null,
      bannerShown: Boolean(document.getElementById("patient-banner")),
      mrn: document.getElementById("patient-mrn")?.textContent ?? null,
      states: Object.fromEntries(ids.map((id) => [id, state(id)])),
      allergies: text("#allergies .item-title"),
      problems: text("#problems .item-title"),
      medications: text("#medications .item-title"),
      immunizations: text("#immunizations .item-title"),
      procedures: text("#procedures .item-title"),
      careteam: text("#careteam .item-title"),
      goals: text("#goals .item-title"),
      coverage: text("#coverage .item-title"),
      labs: [...document.querySelectorAll("#labs tbody tr")].map((tr) => [...tr.children].map((c) => c.textContent.trim())),
      charts,
      notes: [...document.querySelectorAll("#notes .view-note")].map((b) => ({ id: b.dataset.note, source: b.dataset.source })),
      notShared: text("section[data-state=not-shared] h2"),
      reconnect: Boolean(document.getElementById("reconnect")),
      styled: document.documentElement.dataset.style ?? null,
      background: getComputedStyle(document.body).backgroundColor,
      errors: text("section[data-state=error] .section-body"),
      injected: typeof window.__xss !== "undefined",
      elementsFromData: document.querySelectorAll("#app img, #app script, #app iframe, #app [onerror]").length,
    };
  });
}

/** Opens a note (the first of `source`) and returns its text. */
async function openNote(where, source) {
  const button = where.locator(`#notes .view-note[data-source=${source}]`).first();
  await button.click();
  await where.waitForSelector("#note-viewer pre.note-text, #note-viewer .alert", { timeout: 20000 });
  return where.evaluate(() => document.querySelector("#note-viewer")?.textContent ?? "");
}

/** A standalone launch from the app's connect screen, as `username`. */
async function standalone(username, { untick = [], pick } = {}) {
  await page.goto(APP_URL);
  await page.waitForSelector("#connect", { timeout: 30000 });
  await shot("connect");
  steps.push("connect screen");
  await page.click("#connect");
  await signIn(page, username);
  steps.push("signed in");
  let picker = null;
  if (pick) {
    await page.waitForSelector("input[name=patient]", { timeout: 20000 });
    picker = await page.$$eval("input[name=patient]", (xs) => xs.map((x) => x.value));
    await page.fill("input[name=name]", pick.name);
    await page.click("form[role=search] button");
    await page.waitForSelector(`input[name=patient][value="${pick.id}"]`, { timeout: 20000 });
    await shot("picker");
    await page.check(`input[name=patient][value="${pick.id}"]`);
    await page.click("form[action='/authorize/patient'] button[type=submit]");
    steps.push("patient picked");
  }
  const offered = await consent(page, untick);
  steps.push("consented");
  await page.waitForURL((u) => u.href.startsWith(APP_URL), { timeout: 20000 });
  await summaryLoaded(page);
  steps.push("summary loaded");
  return { offered, picker };
}

/**
 * Completes the EHR launch running in the page's iframe: in the frame itself
 * (the edge's sign-in if needed, then consent), or, when the app's frame
 * has no storage (another site), through the app's `#connect` popup. Returns
 * how it went and the frame's getter; the caller waits for its app's result.
 */
async function completeInFrame(name) {
  const frameOf = async () => (await page.$("iframe#app-frame")).contentFrame();
  const frame = await frameOf();
  await frame.waitForSelector("input[name=username], button[name=decision], #connect", { timeout: 30000 });
  const out = { via: "frame", frameSignIn: false };
  if (await frame.$("#connect")) {
    out.via = "popup";
    await shot(`${name}-connect`);
    const [popup] = await Promise.all([context.waitForEvent("page"), frame.click("#connect")]);
    out.popupErrors = [];
    popup.on("console", (m) => {
      log.push(`[popup console.${m.type()}] ${m.text()}`);
      // Not the browser's own request for /favicon.ico (the apps have none).
      if (m.type() === "error" && !m.location()?.url?.endsWith("/favicon.ico")) out.popupErrors.push(m.text());
    });
    popup.on("pageerror", (e) => out.popupErrors.push(e.message));
    await popup.waitForSelector("input[name=username], button[name=decision]", { timeout: 30000 });
    out.popupSignIn = Boolean(await popup.$("input[name=username]"));
    if (out.popupSignIn) await signIn(popup);
    await shot(`${name}-popup-consent`, popup);
    await consent(popup, [], popup);
    try {
      await popup.waitForEvent("close", { timeout: 20000 });
    } catch (e) {
      log.push(`popup still open at ${popup.url()}: ${await popup.textContent("body").catch(() => "?")} name=${await popup.evaluate(() => window.name + " opener=" + (window.opener === null ? "null" : typeof window.opener)).catch(() => "?")}`);
      throw e;
    }
  } else {
    out.frameSignIn = Boolean(await frame.$("input[name=username]"));
    if (out.frameSignIn) {
      await shot(`${name}-frame-signin`);
      await signIn(frame);
    }
    await consent(frame);
  }
  return { out, frameOf };
}

/** The demo app's EHR launch in the frame, up to its summary. */
async function launchInFrame(name) {
  const { out, frameOf } = await completeInFrame(name);
  await (await frameOf()).waitForSelector("#app[data-loaded=true]", { timeout: 60000 });
  const frame = await frameOf();
  out.frameUrl = frame.url();
  out.summary = await readSummary(frame);
  await shot(name);
  return out;
}

/**
 * The same for the example Rust web app (sdk/examples/rust_app.rs), up to
 * `window.__result` in the frame and the lab list it rendered.
 */
async function rustAppInFrame(name) {
  const { out, frameOf } = await completeInFrame(name);
  await (await frameOf()).waitForFunction(() => window.__result !== undefined, null, { timeout: 60000 });
  const frame = await frameOf();
  out.frameUrl = frame.url();
  out.result = await frame.evaluate(() => window.__result);
  out.status = await frame.textContent("#status");
  out.domLabs = await frame.$$eval("#labs li", (xs) => xs.map((x) => x.dataset.id));
  await shot(name);
  return out;
}

/** Signs in at the EHR simulator (unless signed in) and launches `clientId` for the patient. */
async function ehrLaunch(clientId, { encounter, banner = false, style = true } = {}) {
  await page.goto(`${EDGE}/ehr`);
  if (await page.$("input[name=username]")) {
    await shot("signin");
    await signIn(page);
  }
  await page.waitForSelector("nav[aria-label=Patients]", { timeout: 20000 });
  await page.click(`a[href="/ehr?patient=${env("PATIENT")}"]`);
  await page.waitForSelector("form[action='/ehr/launch']", { timeout: 20000 });
  if (encounter) await page.check(`input[name=encounter][value="${encounter}"]`);
  await page.check(`input[name=client_id][value="${clientId}"]`);
  if (banner) await page.check("input[name=need_patient_banner]");
  if (!style) await page.uncheck("input[name=smart_style_url]");
  await page.click("form[action='/ehr/launch'] button[type=submit]");
  await page.waitForSelector("iframe#app-frame", { timeout: 20000 });
  return page.getAttribute("iframe#app-frame", "src");
}

const result = { ok: true, scenario: SCENARIO };
try {
  if (SCENARIO === "patient") {
    const { offered } = await standalone(env("USERNAME"));
    result.offered = offered;
    result.addressBar = page.url();
    await shot("summary");
    result.summary = await readSummary(page);
    // Keyboard: the first Tab reaches the skip link, the next ones the app's controls.
    await page.keyboard.press("Tab");
    result.firstTab = await page.evaluate(() => document.activeElement?.textContent?.trim());
    await page.keyboard.press("Tab");
    result.secondTab = await page.evaluate(() => document.activeElement?.id);
    result.inlineNote = await openNote(page, "inline");
    await shot("note-inline");
    result.linkedNote = await openNote(page, "linked");
    await shot("note-linked");
    // Throttling: the server answers 429 with a long Retry-After for the labs.
    const labSearch = (u) => u.pathname === "/fhir/Observation" && u.searchParams.get("category") === "laboratory";
    await page.route(labSearch, (route) =>
      route.fulfill({ status: 429, headers: { "retry-after": "120", "content-type": "application/fhir+json", "access-control-allow-origin": new URL(APP_URL).origin,
        "access-control-expose-headers": "Retry-After" },
        body: JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "throttled", diagnostics: "too many requests" }] }) }));
    await page.click("#refresh-data");
    await summaryLoaded(page);
    result.throttled = await readSummary(page);
    result.throttledText = await page.locator("#labs").textContent();
    await page.locator("#labs").scrollIntoViewIfNeeded();
    await shot("throttled");
    await page.unroute(labSearch);
    await page.click("#labs button.retry");
    await page.waitForSelector("#labs[data-state=loaded]", { timeout: 20000 });
    result.afterRetry = (await readSummary(page)).states.labs;
    // A narrow screen (phone): the same summary in one column.
    await page.setViewportSize({ width: 390, height: 844 });
    await shot("phone");
    await page.locator("#labs").screenshot({ path: `${SHOTS}/${SCENARIO}-phone-labs.png` });
    await page.locator("#vitals").screenshot({ path: `${SHOTS}/${SCENARIO}-phone-vitals.png` });
    result.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  } else if (SCENARIO === "hostile") {
    await standalone(env("USERNAME"), { pick: { id: env("PATIENT"), name: env("PATIENT_NAME") } });
    result.summary = await readSummary(page);
    result.note = await openNote(page, "inline");
    result.after = await readSummary(page);
    await shot("summary");
  } else if (SCENARIO === "provider") {
    const { picker } = await standalone(env("USERNAME"), { pick: { id: env("PATIENT"), name: env("PATIENT_NAME") } });
    result.picker = picker;
    await shot("summary");
    result.summary = await readSummary(page);
  } else if (SCENARIO === "ehr") {
    await page.goto(`${EDGE}/ehr`);
    await shot("signin");
    await signIn(page);
    await page.waitForSelector("nav[aria-label=Patients]", { timeout: 20000 });
    steps.push("EHR signed in");
    await page.click(`a[href="/ehr?patient=${env("PATIENT")}"]`);
    await page.waitForSelector("form[action='/ehr/launch']", { timeout: 20000 });
    result.encounters = await page.$$eval("input[name=encounter]", (xs) => xs.map((x) => x.value));
    await page.check(`input[name=encounter][value="${env("ENCOUNTER")}"]`);
    await page.check(`input[name=client_id][value="${env("CLIENT_ID")}"]`);
    await shot("chart");
    await page.click("form[action='/ehr/launch'] button[type=submit]");
    await page.waitForSelector("iframe#app-frame", { timeout: 20000 });
    result.frameSrc = await page.getAttribute("iframe#app-frame", "src");
    result.frameTitle = await page.getAttribute("iframe#app-frame", "title");
    result.first = await launchInFrame("launched");
    // A second launch: the app shows its own banner, without the EHR's style.
    if (process.env.CLIENT_ID_2) {
      await page.click(`a[href="/ehr?patient=${env("PATIENT")}"]`);
      await page.waitForSelector("form[action='/ehr/launch']", { timeout: 20000 });
      await page.check(`input[name=client_id][value="${env("CLIENT_ID_2")}"]`);
      await page.check("input[name=need_patient_banner]");
      await page.uncheck("input[name=smart_style_url]");
      await page.click("form[action='/ehr/launch'] button[type=submit]");
      await page.waitForSelector("iframe#app-frame", { timeout: 20000 });
      result.second = await launchInFrame("launched-with-banner");
    }
  } else if (SCENARIO === "rust-ehr") {
    // The example Rust web app: from another site (popup), then the same site (in the frame).
    result.appUrl = APP_URL;
    result.frameSrc = await ehrLaunch(env("CLIENT_ID"), { encounter: env("ENCOUNTER") });
    result.first = await rustAppInFrame("rust-app-other-site");
    await ehrLaunch(env("CLIENT_ID_2"), { encounter: env("ENCOUNTER") });
    result.second = await rustAppInFrame("rust-app-same-site");
  } else if (SCENARIO === "limited") {
    const untick = (process.env.UNTICK ?? "").split(" ").filter(Boolean);
    const { offered } = await standalone(env("USERNAME"), { untick });
    result.offered = offered;
    result.summary = await readSummary(page);
    await shot("summary");
    await page.locator("#immunizations").scrollIntoViewIfNeeded();
    await shot("not-shared");
  } else if (SCENARIO === "revoke") {
    await standalone(env("USERNAME"));
    result.before = await readSummary(page);
    result.firstToken = [...bearers].pop();
    const portal = await context.newPage();
    await portal.goto(`${EDGE}/portal`);
    await portal.waitForSelector("h1", { timeout: 20000 });
    if (await portal.$("input[name=username]")) await signIn(portal);
    await portal.waitForSelector(`button[aria-label="Revoke ${env("CLIENT_NAME")}"]`, { timeout: 20000 });
    result.portalApps = await portal.$$eval("table:first-of-type tbody tr td:first-child", (xs) => xs.map((x) => x.textContent.trim()));
    result.portalAccess = await portal.$$eval("table:first-of-type tbody tr", (rows) => rows.map((r) => r.children[1]?.firstChild?.textContent?.trim()));
    result.portalHistory = await portal.$$eval("h2 + table tbody tr", (rows) => rows.map((r) => [...r.children].map((c) => c.textContent.trim())));
    await shot("portal", portal);
    await portal.click(`button[aria-label="Revoke ${env("CLIENT_NAME")}"]`);
    await portal.waitForLoadState();
    result.portalAfter = await portal.$$eval(`button[aria-label="Revoke ${env("CLIENT_NAME")}"]`, (xs) => xs.length);
    await shot("portal-revoked", portal);
    await page.bringToFront();
    const before401 = fhirStatuses.length;
    await page.click("#refresh-data");
    await page.waitForSelector("#reconnect", { timeout: 30000 });
    await summaryLoaded(page);
    result.after = await readSummary(page);
    result.statusesAfterRevoke = fhirStatuses.slice(before401).map((s) => s.status);
    await shot("access-ended");
    await page.click("#reconnect");
    // Still signed in at the edge: straight to consent.
    await consent(page);
    await page.waitForURL((u) => u.href.startsWith(APP_URL), { timeout: 20000 });
    await summaryLoaded(page);
    result.reconnected = await readSummary(page);
    result.lastToken = [...bearers].pop();
    await shot("reconnected");
  } else if (SCENARIO === "expiry") {
    await standalone(env("USERNAME"));
    result.before = await readSummary(page);
    result.firstToken = [...bearers].pop();
    await page.waitForTimeout(Number(env("WAIT_SECONDS")) * 1000);
    const n = fhirStatuses.length;
    await page.click("#refresh-data");
    await summaryLoaded(page);
    result.after = await readSummary(page);
    result.statusesAfterWait = fhirStatuses.slice(n).map((s) => s.status);
    result.lastToken = [...bearers].pop();
    await shot("after-expiry");
  } else {
    throw new Error(`unknown SCENARIO ${SCENARIO}`);
  }
  result.tokenRequests = tokenRequests;
  result.tokens = [...bearers];
  result.steps = steps;
  result.log = log.slice(-20);
  console.log(JSON.stringify(result));
} catch (e) {
  await page.screenshot({ path: `${SHOTS}/${SCENARIO}-failure.png`, fullPage: true }).catch(() => {});
  console.log(JSON.stringify({ ok: false, scenario: SCENARIO, driverError: String(e?.stack ?? e), steps, url: page.url(), log }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
