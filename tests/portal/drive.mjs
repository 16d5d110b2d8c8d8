// Drives headless Chromium (playwright-core, Debian's /usr/bin/chromium)
// through the developer portal and practice administration of a running
// edge, as people would: typing, clicking, reading what the page shows.
// Prints one JSON object on stdout; exits 1 (after a screenshot) when an
// expectation fails.
//
// Environment: EDGE (origin), MODE (journey | errors), SHOTS (screenshot
// directory), PRACTICE, OTHER_PRACTICE, PIN, PATIENT_USER, PATIENT_ID,
// ADMIN_USER, OTHER_ADMIN_USER, PASSWORD (of the practice users), RUN (a
// unique suffix for e-mail addresses).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { env, launchChromium } from "../src/chromium.mjs";

const EDGE = env("EDGE");
const SHOTS = env("SHOTS");
const MODE = env("MODE");
// The app's callback: a tiny server that only shows it was reached.
const callbackServer = createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end("<p>the app's callback</p>"));
await new Promise((ok) => callbackServer.listen(0, "127.0.0.1", ok));
const REDIRECT = `http://127.0.0.1:${callbackServer.address().port}/callback`;
const DEV_PASSWORD = "Portal-dev-2026!";
mkdirSync(SHOTS, { recursive: true });
// Screenshots of an earlier run of this mode would mislead: start clean.
for (const f of readdirSync(SHOTS)) if (f.startsWith(`${MODE}-`)) rmSync(`${SHOTS}/${f}`);
let shots = 0;

const browser = await launchChromium();
const steps = [];
const log = [];
const facts = {};
let current = null; // the page to photograph on failure

function expect(ok, message) {
  if (!ok) throw new Error(`expectation failed: ${message}`);
}

async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, ...options });
  const page = await context.newPage();
  page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
  current = page;
  return page;
}

async function shot(page, name) {
  shots += 1;
  await page.screenshot({ path: `${SHOTS}/${MODE}-${String(shots).padStart(2, "0")}-${name}.png`, fullPage: true });
  facts[`shot:${name}`] = true;
}

/** Clicks a submit control and waits for the page it leads to; returns the response status. */
async function submit(page, selector) {
  current = page;
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
  return response ? response.status() : 0;
}

async function bodyText(page) {
  return page.evaluate(() => document.body.innerText);
}

async function signUp(page, email, name) {
  await page.goto(`${EDGE}/developer/signup`);
  await page.fill("#email", email);
  await page.fill("#name", name);
  await page.fill("#password", DEV_PASSWORD);
  const status = await submit(page, "form[action='/developer/signup'] button[type=submit]");
  expect(status === 200 && page.url() === `${EDGE}/developer`, `sign-up leads to the dashboard (${status} ${page.url()})`);
}

async function fillRegistration(page, { name, practice, pin, auth = "none", redirects = REDIRECT, scope, jwks, offline = false }) {
  await page.fill("#client_name", name);
  await page.selectOption("#practice", practice);
  await page.fill("#practice_pin", pin);
  if (auth) await page.check(`input[name=token_endpoint_auth_method][value=${auth}]`);
  if (jwks !== undefined) await page.fill("#jwks", jwks);
  await page.fill("#redirect_uris", redirects);
  if (scope) await page.fill("#scope", scope);
  if (offline) await page.check("input[name=offline_access]");
}

async function practiceSignIn(page, username) {
  await page.goto(`${EDGE}/practice`);
  await page.fill("#username", username);
  await page.fill("#password", env("PASSWORD"));
  const status = await submit(page, "form[action='/practice/signin'] button[type=submit]");
  expect(status === 200 && (await bodyText(page)).includes("App registrations"), `practice admin ${username} signed in (${status})`);
}

const b64url = (buf) => buf.toString("base64url");

/** A SMART standalone launch of `clientId` by the test patient in a fresh browser; returns the token response. */
async function launch(clientId, secret, scope, label) {
  const page = await newPage();
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const url = new URL(`${EDGE}/authorize`);
  for (const [k, v] of Object.entries({ response_type: "code", client_id: clientId, redirect_uri: REDIRECT, scope, state: "st-portal",
    aud: `${EDGE}/fhir`, code_challenge: challenge, code_challenge_method: "S256" })) url.searchParams.set(k, v);
  await page.goto(url.href);
  await page.fill("input[name=username]", env("PATIENT_USER"));
  await page.fill("input[name=password]", env("PASSWORD"));
  await submit(page, "form button[type=submit]");
  await page.waitForSelector("button[name=decision][value=allow]", { timeout: 20000 });
  await shot(page, `${label}-consent`);
  await Promise.all([page.waitForURL((u) => u.href.startsWith(REDIRECT), { timeout: 20000 }),
    page.click("button[name=decision][value=allow]")]);
  const back = new URL(page.url());
  expect(back.searchParams.get("state") === "st-portal", "state comes back");
  const code = back.searchParams.get("code");
  expect(code, `a code in ${page.url()}`);
  await page.context().close();
  const res = await fetch(`${EDGE}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier }),
  });
  const json = await res.json();
  expect(res.status === 200 && json.access_token, `token exchange: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function fhirStatus(token, path) {
  const res = await fetch(`${EDGE}/fhir/${path}`, { headers: { authorization: `Bearer ${token}`, accept: "application/fhir+json" } });
  await res.arrayBuffer();
  return res.status;
}

async function refresh(clientId, secret, refreshToken) {
  const res = await fetch(`${EDGE}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }),
  });
  const json = await res.json();
  return { status: res.status, json };
}

async function journey() {
  const run = env("RUN");
  const dev = await newPage();
  // Sign-up: the rule is shown live as the password is typed.
  await dev.goto(`${EDGE}/developer/signup`);
  await dev.fill("#email", `journey-${run}@example.com`);
  await dev.fill("#name", "Jo Developer");
  await dev.type("#password", "abcdefg");
  const weak = await dev.$$eval("#password-rule li", (lis) => lis.map((l) => `${l.dataset.check}:${l.className}`));
  expect(weak.includes("lower:ok") && weak.includes("upper:missing") && weak.includes("symbol:missing") && weak.includes("length:missing"),
    `the rule ticks as the password is typed: ${weak}`);
  await shot(dev, "signup-weak-password-live");
  await dev.fill("#password", DEV_PASSWORD);
  const strong = await dev.$$eval("#password-rule li", (lis) => lis.map((l) => l.className));
  expect(strong.every((c) => c === "ok"), `a strong password meets every part: ${strong}`);
  await shot(dev, "signup-strong-password-live");
  expect((await submit(dev, "form[action='/developer/signup'] button[type=submit]")) === 200, "signed up");
  await shot(dev, "dashboard-empty");
  steps.push("signed up");

  // Register a confidential patient app with the practice's PIN.
  await dev.click("text=Register a patient app");
  await dev.waitForSelector("#client_name");
  await fillRegistration(dev, { name: "Journey app", practice: env("PRACTICE"), pin: env("PIN"), auth: "client_secret_basic",
    scope: "launch/patient patient/Patient.rs" });
  await shot(dev, "registration-form");
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 200, "registered");
  const appUrl = dev.url();
  const clientId = appUrl.split("/").pop();
  expect((await bodyText(dev)).includes("Pending Review"), "the app is pending review");
  await shot(dev, "app-pending");
  steps.push(`registered ${clientId}`);

  // The practice administrator approves it.
  const admin = await newPage();
  await practiceSignIn(admin, env("ADMIN_USER"));
  const adminText = await bodyText(admin);
  expect(adminText.includes("Journey app") && adminText.includes(`journey-${run}@example.com`) && adminText.includes("launch/patient patient/Patient.rs"),
    "the practice sees what the registration asks for");
  await shot(admin, "practice-pending");
  expect((await submit(admin, "button[aria-label='Approve Journey app']")) === 200, "approved");
  await shot(admin, "practice-approved");
  steps.push("approved");

  // Credentials: the client id and the secret, shown once.
  current = dev;
  await dev.goto(appUrl);
  expect((await bodyText(dev)).includes("Approved"), "the developer sees Approved");
  const patients = await dev.$$eval("#test-patients tbody tr", (rows) => rows.map((r) => r.innerText));
  expect(patients.some((r) => r.includes(env("PATIENT_USER"))), `test patients listed: ${patients}`);
  await shot(dev, "app-approved");
  expect((await submit(dev, "text=Show the client secret")) === 200, "secret page");
  const secret = await dev.textContent("#client-secret");
  expect((await dev.textContent("#client-id")) === clientId && secret.length > 20, "client id and secret shown");
  await shot(dev, "secret-shown-once");
  await dev.goto(appUrl);
  expect(!(await dev.content()).includes(secret) && (await dev.$("text=Rotate the client secret")), "the secret is not shown again; rotation is offered");
  steps.push("secret shown once");

  // A SMART launch with these credentials, then a FHIR read.
  const first = await launch(clientId, secret, "launch/patient patient/Patient.rs", "first-launch");
  expect(first.patient === env("PATIENT_ID"), `patient context ${first.patient}`);
  facts.firstRead = await fhirStatus(first.access_token, `Patient/${first.patient}`);
  expect(facts.firstRead === 200, `the token reads the patient (${facts.firstRead})`);
  expect((await fhirStatus(first.access_token, `Observation?patient=${first.patient}`)) === 403, "no Observation scope yet");
  expect(!first.refresh_token, "no refresh token without offline_access");
  steps.push("launched and read");

  // Scope change: more scopes and offline access; pending until approved.
  await dev.fill("#new_scope", "launch/patient patient/Patient.rs patient/Observation.rs");
  await dev.check("input[name=offline_access]");
  expect((await submit(dev, "text=Request scope change")) === 200, "scope change requested");
  expect((await dev.textContent("#pending-scope")).includes("offline_access"), "the requested change is shown as pending");
  await shot(dev, "scope-change-pending");
  expect((await fhirStatus(first.access_token, `Patient/${first.patient}`)) === 200, "the old grant works while the change is pending");
  await admin.goto(`${EDGE}/practice`);
  expect((await bodyText(admin)).includes("patient/Observation.rs"), "the practice sees the requested scopes");
  await shot(admin, "practice-scope-change");
  expect((await submit(admin, "form[action$='/scope'] button[value=approve]")) === 200, "scope change approved");
  await dev.goto(appUrl);
  expect((await dev.textContent("#scope")).includes("patient/Observation.rs") && !(await dev.$("#pending-scope")), "the new scope is in force");
  const second = await launch(clientId, secret, "launch/patient offline_access patient/Patient.rs patient/Observation.rs", "second-launch");
  expect(second.refresh_token, "offline access gives a refresh token now");
  expect((await fhirStatus(second.access_token, `Observation?patient=${second.patient}`)) === 200, "Observation readable with the new grant");
  expect((await fhirStatus(first.access_token, `Patient/${first.patient}`)) === 200, "the first token keeps its own grant");
  steps.push("scope change approved");

  // Rotation: a new secret (shown once); the old one stops.
  expect((await submit(dev, "text=Rotate the client secret")) === 200, "rotated");
  const rotated = await dev.textContent("#client-secret");
  expect(rotated !== secret, "a new secret");
  await shot(dev, "secret-rotated");
  expect((await refresh(clientId, secret, second.refresh_token)).status === 401, "the old secret is refused");
  const refreshed = await refresh(clientId, rotated, second.refresh_token);
  expect(refreshed.status === 200, `the new secret refreshes: ${JSON.stringify(refreshed.json)}`);
  steps.push("secret rotated");

  // The practice disables the app: its tokens stop at once.
  await admin.goto(`${EDGE}/practice`);
  await admin.fill(`#reason-decide-${clientId}`, "Paused for review");
  expect((await submit(admin, "button[aria-label='Disable Journey app']")) === 200, "disabled");
  await shot(admin, "practice-disabled");
  facts.afterDisable = await fhirStatus(refreshed.json.access_token, `Patient/${first.patient}`);
  expect(facts.afterDisable === 401, `a disabled app's token is refused (${facts.afterDisable})`);
  expect((await fhirStatus(first.access_token, `Patient/${first.patient}`)) === 401, "every token of it");
  await dev.goto(appUrl);
  const disabledText = await bodyText(dev);
  expect(disabledText.includes("Disabled") && disabledText.includes("Paused for review"), "the developer sees why");
  await shot(dev, "app-disabled");
  steps.push("disabled");
  facts.clientId = clientId;
}

async function errors() {
  const run = env("RUN");
  // Without JavaScript the page still works, and the server enforces the rule.
  const nojs = await newPage({ javaScriptEnabled: false });
  await nojs.goto(`${EDGE}/developer/signup`);
  await nojs.fill("#email", `errors-${run}@example.com`);
  await nojs.fill("#name", "Err <Developer>");
  await nojs.fill("#password", "password1");
  expect((await submit(nojs, "form[action='/developer/signup'] button[type=submit]")) === 400, "weak password refused by the server");
  const weakText = await bodyText(nojs);
  expect(weakText.includes("an upper-case letter") && weakText.includes("a symbol"), `the page says what is missing: ${weakText}`);
  expect((await nojs.inputValue("#email")) === `errors-${run}@example.com` && (await nojs.inputValue("#name")) === "Err <Developer>",
    "input kept (and escaped)");
  expect((await nojs.inputValue("#password")) === "", "the password is not sent back");
  await shot(nojs, "weak-password-server");

  const dev = await newPage();
  await signUp(dev, `errors-${run}@example.com`, "Err Developer");
  await dev.goto(`${EDGE}/developer/apps/new?use=patient`);
  // A wrong PIN.
  await fillRegistration(dev, { name: "Wrong PIN app", practice: env("PRACTICE"), pin: "000000", scope: "launch/patient patient/*.rs" });
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 400, "wrong PIN refused");
  expect((await dev.textContent("[role=alert]")).includes(`The PIN is not right for practice ${env("PRACTICE")}`), "clear PIN error");
  expect((await dev.inputValue("#client_name")) === "Wrong PIN app" && (await dev.inputValue("#redirect_uris")) === REDIRECT, "input kept");
  await shot(dev, "wrong-pin");
  // A bad JWKS (a symmetric key).
  await fillRegistration(dev, { name: "Bad keys app", practice: env("PRACTICE"), pin: env("PIN"), auth: "private_key_jwt",
    jwks: JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0", kid: "k1" }] }) });
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 400, "bad JWKS refused");
  expect((await dev.textContent("[role=alert]")).includes("jwks.keys[0] is not an RSA or P-384 EC public key"), "clear JWKS error");
  expect((await dev.inputValue("#jwks")).includes("\"oct\""), "the pasted JWKS is kept");
  await shot(dev, "bad-jwks");
  // Not JSON at all.
  await dev.fill("#jwks", "{ not json");
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 400, "JWKS that is not JSON refused");
  expect((await dev.textContent("[role=alert]")).includes("The pasted JWKS is not JSON"), "clear JSON error");
  // A duplicate redirect URI.
  await fillRegistration(dev, { name: "Dup app", practice: env("PRACTICE"), pin: env("PIN"), auth: "none", jwks: "",
    redirects: `${REDIRECT}\n${REDIRECT}` });
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 400, "duplicate redirect URI refused");
  expect((await dev.textContent("[role=alert]")).includes("is listed twice"), "clear duplicate error");
  await shot(dev, "duplicate-redirect");
  // CSRF: a wrong token, then none.
  await fillRegistration(dev, { name: "CSRF app", practice: env("PRACTICE"), pin: env("PIN"), auth: "none", redirects: REDIRECT });
  await dev.evaluate(() => { document.querySelector("form[action='/developer/apps'] input[name=csrf]").value = "A".repeat(32); });
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 403, "wrong CSRF token refused");
  expect((await bodyText(dev)).includes("CSRF check failed"), "the page says why");
  await shot(dev, "csrf-wrong");
  await dev.goto(`${EDGE}/developer/apps/new?use=patient`);
  await fillRegistration(dev, { name: "CSRF app", practice: env("PRACTICE"), pin: env("PIN"), auth: "none", redirects: REDIRECT });
  await dev.evaluate(() => document.querySelector("form[action='/developer/apps'] input[name=csrf]").remove());
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 403, "missing CSRF token refused");
  await dev.goto(`${EDGE}/developer`);
  expect(!(await bodyText(dev)).includes("CSRF app"), "nothing was registered by the refused forms");

  // A pending app of PRACTICE; the other practice's administrator cannot see or decide it.
  await dev.goto(`${EDGE}/developer/apps/new?use=provider`);
  await fillRegistration(dev, { name: "Practice-scoped app", practice: env("PRACTICE"), pin: env("PIN"), auth: "none" });
  expect((await submit(dev, "form[action='/developer/apps'] button[type=submit]")) === 200, "registered");
  const clientId = dev.url().split("/").pop();
  const other = await newPage();
  await practiceSignIn(other, env("OTHER_ADMIN_USER"));
  expect(!(await bodyText(other)).includes("Practice-scoped app"), "another practice's registration is not listed");
  await shot(other, "other-practice-admin");
  // Forge the decision with this administrator's own valid session and CSRF token.
  await other.evaluate((id) => {
    const f = document.createElement("form");
    f.method = "post";
    f.action = `/practice/clients/${id}/decide`;
    const csrf = document.querySelector("input[name=csrf]").value;
    f.innerHTML = `<input name="csrf" value="${csrf}"><input name="decision" value="approve">`;
    document.body.append(f);
    f.submit();
  }, clientId);
  await other.waitForLoadState("load");
  await other.waitForFunction(() => !document.querySelector("nav"), null, { timeout: 10000 });
  expect((await bodyText(other)).includes("no such app in your practice"), `another practice's app cannot be approved: ${await bodyText(other)}`);
  await shot(other, "other-practice-refused");
  await dev.goto(`${EDGE}/developer/apps/${clientId}`);
  expect((await bodyText(dev)).includes("Pending Review"), "the app is still pending");
  // A practice user who is not an administrator cannot sign in to /practice.
  const member = await newPage();
  await member.goto(`${EDGE}/practice`);
  await member.fill("#username", env("PATIENT_USER"));
  await member.fill("#password", env("PASSWORD"));
  expect((await submit(member, "form[action='/practice/signin'] button[type=submit]")) === 403, "a patient is no practice administrator");
  await shot(member, "member-refused");
  facts.clientId = clientId;
}

try {
  if (MODE === "journey") await journey();
  else if (MODE === "errors") await errors();
  else throw new Error(`unknown MODE ${MODE}`);
  console.log(JSON.stringify({ ok: true, steps, facts }));
} catch (e) {
  if (current) await current.screenshot({ path: `${SHOTS}/${MODE}-FAILURE.png`, fullPage: true }).catch(() => {});
  console.log(JSON.stringify({ ok: false, error: String(e), steps, facts, url: current?.url(), log }));
  process.exitCode = 1;
} finally {
  await browser.close();
  callbackServer.close();
}
