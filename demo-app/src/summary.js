// The health summary of the demo app: the connect screen, the summary's
// sections (each read with the granted scopes), and what happens when access
// ends or the server throttles. Used by index.html (the redirect URI) and
// launch.html (EHR launches).
import { authorize, storageAvailable } from "@flare/smart";
import { SCOPE, redirectUri } from "./config.js";
import { h, fill } from "./dom.js";
import { covers } from "./scopes.js";
import { lineChart } from "./charts.js";
import {
  codeOf, conceptText, day, decodeBase64Text, effective, flag, humanName, rangeText, valueText,
} from "./fhir.js";

const root = document.getElementById("app");
const alerts = document.getElementById("alerts");
const LOINC = "http://loinc.org";

/** Shows a message in the page's live region (screen readers announce it). */
function notify(kind, ...content) {
  const box = h("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" }, ...content);
  alerts.append(box);
  return box;
}

/**
 * Starts a standalone launch against the configured server: in this window,
 * or, where this document has no storage (an EHR frame on another site that
 * blocks third-party storage), in a popup that hands the result back here.
 */
export async function connect(config) {
  const options = { iss: config.iss, clientId: config.clientId, scope: SCOPE, redirectUri: redirectUri() };
  if (storageAvailable()) {
    await authorize(options);
    return;
  }
  const client = await authorize({ ...options, target: "popup", storage: "memory" });
  await show(client, config);
}

/** Shows the summary for an authorized client (styled as the EHR asks). */
export async function show(client, config) {
  if (client.smartStyleUrl) await applyStyle(client.smartStyleUrl);
  await summary(client, { ...config, iss: client.serverUrl || config.iss });
}

export function connectScreen(config, message) {
  document.title = "Connect · Flare health summary";
  fill(
    root,
    h("section", { class: "card connect", "aria-labelledby": "connect-title" },
      h("h1", { id: "connect-title" }, "Your health summary"),
      h("p", {}, "See your allergies, problems, medicines, results, vital signs and notes from your health record in one place."),
      message ? h("p", { class: "alert error", role: "alert" }, message) : null,
      h("p", { class: "muted" }, "Server: ", h("code", {}, config.iss)),
      h("button", { type: "button", id: "connect", onclick: () => connect(config).catch((e) => notify("error", `Could not start: ${e.message}`)) },
        "Connect to your health record"),
      h("p", { class: "muted small" }, "You sign in at your provider and choose what to share. Clinicians signing in pick a patient."),
    ),
  );
}

/** Global state of the session: set when access has ended, so every section stops and one reconnect prompt shows. */
let ended = false;

function accessEnded(config, client) {
  if (ended) return;
  ended = true;
  document.body.classList.add("access-ended");
  notify(
    "error",
    h("strong", {}, "Your access has ended. "),
    "The connection to your health record was revoked or has expired, so this summary can no longer be updated. ",
    h("button", {
      type: "button", id: "reconnect",
      onclick: async () => {
        await client.forget().catch(() => {});
        await connect(config);
      },
    }, "Reconnect"),
  );
}

/** Whether an error means the token no longer works (revoked, expired, refresh refused). */
function isAccessEnded(e) {
  return (e?.kind === "fhir" && e.status === 401) || (e?.kind === "oauth" && (e.status === 400 || e.status === 401));
}

/** A section: a heading, then its content once loaded (or "not shared", or an error with a retry). */
function section(id, title, { wide = false } = {}) {
  const body = h("div", { class: "section-body", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", { class: `card${wide ? " wide" : ""}`, id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), body);
  return { el, body };
}

function notShared(body, what) {
  body.removeAttribute("aria-busy");
  body.closest("section").dataset.state = "not-shared";
  fill(body, h("p", { class: "not-shared" }, h("span", { class: "badge" }, "Not shared"), ` You did not share ${what} with this app. To show it, reconnect and tick it on the consent page.`));
}

function empty(text) {
  return h("p", { class: "muted empty" }, text);
}

/**
 * Loads one section: checks the scopes, runs `load`, renders with `render`;
 * 403 → not shared, 401 → access ended, 429 → throttled with a retry.
 */
async function load(ctx, sec, { what, type, category, run, render }) {
  const { client, config } = ctx;
  const types = Array.isArray(type) ? type : [type];
  if (!types.every((t) => covers(client.scopes, t, category))) {
    notShared(sec.body, what);
    return;
  }
  sec.body.setAttribute("aria-busy", "true");
  try {
    const data = await run();
    fill(sec.body, render(data));
    sec.el.dataset.state = "loaded";
  } catch (e) {
    if (e?.kind === "fhir" && e.status === 403) notShared(sec.body, what);
    else if (isAccessEnded(e)) {
      sec.el.dataset.state = "ended";
      fill(sec.body, h("p", { class: "muted" }, "Not available: access has ended."));
      accessEnded(config, client);
    } else if (e?.status === 429) {
      sec.el.dataset.state = "throttled";
      const wait = e.retryAfter ? ` Try again in ${e.retryAfter} seconds.` : " Try again in a moment.";
      fill(sec.body, h("p", { class: "alert warning", role: "status" }, h("strong", {}, "The server is busy. "),
        `Too many requests were made, so the server asked us to slow down.${wait} `,
        h("button", { type: "button", class: "secondary retry", onclick: () => load(ctx, sec, { what, type, category, run, render }) }, "Try again")));
    } else {
      sec.el.dataset.state = "error";
      fill(sec.body, h("p", { class: "alert error" }, `Could not load ${what}: ${e?.message ?? e}`));
    }
  } finally {
    sec.body.removeAttribute("aria-busy");
  }
}

function table(caption, headers, rows, cls = "") {
  return h("div", { class: "table-wrap" },
    h("table", { class: cls },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)));
}

function list(items) {
  return h("ul", { class: "items" }, items);
}

function item(title, ...details) {
  return h("li", {}, h("span", { class: "item-title" }, title), details.filter(Boolean).length ? h("span", { class: "item-detail" }, details.filter(Boolean).join(" · ")) : null);
}

const all = (client, type, params) => client.searchAll(type, params, { limit: 500 });

// ---------------------------------------------------------------- sections

function banner(patient) {
  const mrn = (patient.identifier ?? []).find((i) => codeOf(i.type) === "MR")?.value;
  const age = patient.birthDate ? Math.floor((Date.now() - Date.parse(patient.birthDate)) / (365.25 * 86400000)) : null;
  return h("section", { class: "banner", id: "patient-banner", "aria-label": "Patient" },
    h("h1", { id: "patient-name" }, humanName(patient.name) || patient.id),
    h("dl", {},
      h("div", {}, h("dt", {}, "Born"), h("dd", { id: "patient-birth" }, patient.birthDate ? `${day(patient.birthDate)}${age !== null ? ` (${age} years)` : ""}` : "unknown")),
      h("div", {}, h("dt", {}, "Sex"), h("dd", {}, patient.gender ?? "unknown")),
      mrn ? h("div", {}, h("dt", {}, "MRN"), h("dd", { id: "patient-mrn" }, mrn)) : null));
}

function renderAllergies(allergies) {
  if (!allergies.length) return empty("No allergies recorded.");
  return list(allergies.map((a) => item(conceptText(a.code),
    (a.reaction ?? []).flatMap((r) => (r.manifestation ?? []).map(conceptText)).join(", "),
    a.criticality ? `${a.criticality} criticality` : "",
    conceptText(a.clinicalStatus))));
}

function conditionCategory(c) {
  const codes = (c.category ?? []).map((x) => codeOf(x));
  if (codes.includes("health-concern")) return "Health concern";
  if (codes.includes("problem-list-item")) return "Problem";
  return "Diagnosis";
}

function renderConditions(conditions) {
  // Problems and concerns, plus active visit diagnoses not already on the problem list.
  const listed = new Set(conditions.filter((c) => conditionCategory(c) !== "Diagnosis").map((c) => conceptText(c.code)));
  const shown = conditions.filter((c) => {
    if (conditionCategory(c) !== "Diagnosis") return true;
    const text = conceptText(c.code);
    if (codeOf(c.clinicalStatus) !== "active" || listed.has(text)) return false;
    listed.add(text);
    return true;
  });
  if (!shown.length) return empty("No problems or health concerns recorded.");
  shown.sort((a, b) => (codeOf(a.clinicalStatus) === "active" ? 0 : 1) - (codeOf(b.clinicalStatus) === "active" ? 0 : 1));
  return list(shown.map((c) => item(conceptText(c.code), conditionCategory(c), conceptText(c.clinicalStatus),
    c.onsetDateTime ? `since ${day(c.onsetDateTime)}` : "")));
}

function renderMedications(requests) {
  if (!requests.length) return empty("No medicines recorded.");
  const rank = { active: 0, "on-hold": 1 };
  requests.sort((a, b) => (rank[a.status] ?? 2) - (rank[b.status] ?? 2) || String(b.authoredOn).localeCompare(String(a.authoredOn)));
  return list(requests.map((m) => item(
    conceptText(m.medicationCodeableConcept) || m.medicationReference?.display || m.$refs?.[m.medicationReference?.reference] && conceptText(m.$refs[m.medicationReference.reference].code) || "Medicine",
    m.status, m.dosageInstruction?.[0]?.text ?? "", m.authoredOn ? `ordered ${day(m.authoredOn)}` : "")));
}

function renderImmunizations(imms) {
  if (!imms.length) return empty("No immunizations recorded.");
  imms.sort((a, b) => String(effective(b) || b.occurrenceString).localeCompare(String(effective(a) || a.occurrenceString)));
  return list(imms.map((i) => item(conceptText(i.vaccineCode), day(i.occurrenceDateTime) || i.occurrenceString || "", i.status !== "completed" ? i.status : "")));
}

function renderProcedures(procs) {
  if (!procs.length) return empty("No procedures recorded.");
  procs.sort((a, b) => effective(b).localeCompare(effective(a)));
  return list(procs.map((p) => item(conceptText(p.code), day(effective(p)), p.status)));
}

function renderCareTeam(teams) {
  const members = teams.filter((t) => t.status !== "inactive").flatMap((t) => (t.participant ?? []).map((p) => ({ p, team: t })))
    .filter(({ p }) => !p.member?.reference?.startsWith("Patient/"));
  if (!members.length) return empty("No care team recorded.");
  return list(members.map(({ p }) => item(p.member?.display ?? p.member?.reference ?? "Member", (p.role ?? []).map(conceptText).join(", "), p.onBehalfOf?.display ?? "")));
}

function renderGoals(goals) {
  if (!goals.length) return empty("No goals recorded.");
  return list(goals.map((g) => item(conceptText(g.description), g.lifecycleStatus, conceptText(g.achievementStatus),
    g.target?.[0]?.dueDate ? `due ${day(g.target[0].dueDate)}` : "")));
}

function renderCoverage(cov) {
  if (!cov.length) return empty("No insurance recorded.");
  return list(cov.map((c) => item(c.payor?.[0]?.display ?? conceptText(c.type) ?? "Coverage",
    conceptText(c.type), (c.class ?? []).find((k) => codeOf(k.type) === "plan")?.name ?? "",
    c.subscriberId ? `member ${c.subscriberId}` : "", c.status)));
}

function renderLabs(labs) {
  if (!labs.length) return empty("No lab results recorded.");
  labs.sort((a, b) => effective(b).localeCompare(effective(a)));
  const rows = labs.map((o) => {
    const f = flag(o);
    return h("tr", { class: f?.abnormal ? "abnormal" : "" },
      h("th", { scope: "row" }, conceptText(o.code)),
      h("td", { class: "num", "data-label": "Result" }, valueText(o)),
      h("td", { "data-label": "Range" }, rangeText(o) || "—"),
      h("td", { "data-label": "Flag" }, f ? h("span", { class: `flag flag-${f.code}`, title: f.word }, f.code === "N" ? "Normal" : `${f.code} · ${f.word}`) : "—"),
      h("td", { "data-label": "Date" }, day(effective(o))));
  });
  return table("Lab results with reference ranges and flags", ["Test", "Result", "Reference range", "Flag", "Date"], rows, "labs");
}

const VITALS = [
  { id: "chart-bp", title: "Blood pressure", unit: "mmHg", code: "85354-9", components: [["8480-6", "Systolic", "s1"], ["8462-4", "Diastolic", "s2"]] },
  { id: "chart-weight", title: "Weight", unit: "kg", code: "29463-7" },
  { id: "chart-bmi", title: "Body mass index", unit: "kg/m²", code: "39156-5" },
  { id: "chart-hr", title: "Heart rate", unit: "beats/min", code: "8867-4" },
];

function renderVitals(obs) {
  const charts = [];
  for (const v of VITALS) {
    const mine = obs.filter((o) => (o.code?.coding ?? []).some((c) => c.system === LOINC && c.code === v.code) && effective(o))
      .sort((a, b) => Date.parse(effective(a)) - Date.parse(effective(b)));
    const series = v.components
      ? v.components.map(([code, name, cls]) => ({
        name, cls, points: mine.flatMap((o) => {
          const c = (o.component ?? []).find((x) => codeOf(x.code, LOINC) === code);
          return typeof c?.valueQuantity?.value === "number" ? [{ t: Date.parse(effective(o)), v: c.valueQuantity.value, label: effective(o) }] : [];
        }),
      }))
      : [{ name: v.title, cls: "s1", points: mine.filter((o) => typeof o.valueQuantity?.value === "number").map((o) => ({ t: Date.parse(effective(o)), v: o.valueQuantity.value, label: effective(o) })) }];
    if (series.every((x) => !x.points.length)) {
      charts.push(h("figure", { class: "chart-card", "data-chart": v.id }, h("figcaption", {}, h("strong", {}, v.title)), empty("No readings recorded.")));
    } else {
      charts.push(lineChart({ id: v.id, title: v.title, unit: v.unit, series }));
    }
  }
  return h("div", { class: "charts" }, charts);
}

/** A note: a DocumentReference or a DiagnosticReport with its attachments. */
function notesFrom(docs, reports) {
  const notes = [];
  for (const d of docs) {
    for (const c of d.content ?? []) {
      notes.push({ id: `${d.resourceType}/${d.id}`, title: c.attachment?.title || conceptText(d.type) || "Document", kind: conceptText(d.type), date: d.date ?? c.attachment?.creation ?? "", attachment: c.attachment ?? {} });
    }
  }
  for (const r of reports) {
    for (const a of r.presentedForm ?? []) {
      notes.push({ id: `${r.resourceType}/${r.id}`, title: a.title || conceptText(r.code) || "Report", kind: conceptText(r.category?.[0]) || "Report", date: effective(r), attachment: a });
    }
  }
  notes.sort((a, b) => String(b.date).localeCompare(String(a.date)));
  return notes;
}

/** The text of an attachment: inline data, or its URL fetched with the token (a FHIR Binary under the server's base). */
async function attachmentText(client, a) {
  if (a.data) return decodeBase64Text(a.data);
  if (a.url) {
    const base = client.serverUrl.replace(/\/$/, "");
    const path = a.url.startsWith(base + "/") ? a.url.slice(base.length + 1) : a.url;
    const binary = await client.request(path);
    if (binary?.resourceType === "Binary" && binary.data) return decodeBase64Text(binary.data);
    if (typeof binary === "string") return binary;
    return JSON.stringify(binary, null, 2);
  }
  return "(this attachment has no content)";
}

function renderNotes(ctx, notes) {
  if (!notes.length) return empty("No notes recorded.");
  const viewer = h("div", { class: "note-viewer", id: "note-viewer", tabindex: "-1", hidden: true });
  const rows = notes.map((n, i) => {
    const type = (n.attachment.contentType ?? "").split(";")[0];
    const source = n.attachment.data ? "inline" : n.attachment.url ? "linked" : "empty";
    const button = h("button", {
      type: "button", class: "secondary view-note", "data-note": n.id, "data-source": source, "aria-controls": "note-viewer",
      onclick: async () => {
        viewer.hidden = false;
        fill(viewer, h("p", { class: "muted" }, "Opening…"));
        try {
          const text = await attachmentText(ctx.client, n.attachment);
          fill(viewer,
            h("div", { class: "note-head" }, h("h3", { id: "note-title" }, n.title), h("button", { type: "button", class: "secondary", onclick: () => { viewer.hidden = true; button.focus(); } }, "Close")),
            h("p", { class: "muted" }, `${n.kind} · ${day(n.date)}${type && type !== "text/plain" ? ` · ${type}` : ""}`),
            h("pre", { class: "note-text" }, text));
          viewer.focus();
        } catch (e) {
          if (isAccessEnded(e)) accessEnded(ctx.config, ctx.client);
          fill(viewer, h("p", { class: "alert error" }, e?.status === 403 ? "This note's file was not shared with this app." : `Could not open the note: ${e?.message ?? e}`));
        }
      },
    }, "View", h("span", { class: "visually-hidden" }, ` ${n.title}, ${day(n.date)}`));
    return h("tr", { "data-index": i },
      h("th", { scope: "row" }, n.title),
      h("td", {}, n.kind),
      h("td", {}, day(n.date)),
      h("td", {}, button));
  });
  return h("div", {}, table("Clinical notes and reports", ["Note", "Kind", "Date", ""], rows, "notes"), viewer);
}

// ------------------------------------------------------------------ styling

/** Applies the EHR's style (SMART `smart_style_url`): colours, fonts, radius; text keeps enough contrast. */
async function applyStyle(url) {
  try {
    const r = await fetch(url);
    if (!r.ok) return;
    const style = await r.json();
    const root_ = document.documentElement.style;
    const set = (name, value) => { if (typeof value === "string" && /^[#(),.%\w\s'"-]+$/.test(value)) root_.setProperty(name, value); };
    set("--bg", style.color_background);
    set("--text", style.color_text);
    set("--accent", style.color_highlight);
    set("--error", style.color_error);
    set("--success", style.color_success);
    set("--radius", style.dim_border_radius);
    set("--font", style.font_family_body);
    set("--font-heading", style.font_family_heading);
    set("--font-size", style.dim_font_size);
    document.documentElement.dataset.style = "ehr";
  } catch {
    // The app's own style stays.
  }
}

// -------------------------------------------------------------------- page

function summary(client, config) {
  const ctx = { client, config };
  delete root.dataset.loaded;
  ended = false;
  document.body.classList.remove("access-ended");
  alerts.replaceChildren();
  const p = client.patient;
  const head = h("div", { id: "banner-slot" });
  const secs = {
    allergies: section("allergies", "Allergies"),
    problems: section("problems", "Problems and health concerns"),
    medications: section("medications", "Medicines"),
    immunizations: section("immunizations", "Immunizations"),
    procedures: section("procedures", "Procedures"),
    careteam: section("careteam", "Care team"),
    goals: section("goals", "Goals"),
    coverage: section("coverage", "Insurance"),
    labs: section("labs", "Lab results", { wide: true }),
    vitals: section("vitals", "Vital signs", { wide: true }),
    notes: section("notes", "Notes and reports", { wide: true }),
  };
  const toolbar = h("div", { class: "toolbar" },
    h("span", { class: "muted", id: "who" }, client.fhirUser ? `Signed in as ${client.fhirUser.split("/").slice(-2).join("/")}` : ""),
    h("button", { type: "button", class: "secondary", id: "refresh-data", onclick: () => summary(client, config) }, "Refresh"));
  fill(root, head, toolbar,
    h("div", { class: "grid" }, Object.values(secs).filter((x) => !x.el.classList.contains("wide")).map((x) => x.el)),
    Object.values(secs).filter((x) => x.el.classList.contains("wide")).map((x) => x.el));

  const jobs = [];
  if (client.needPatientBanner !== false) {
    jobs.push((async () => {
      if (!covers(client.scopes, "Patient")) {
        fill(head, h("section", { class: "banner", id: "patient-banner" }, h("h1", {}, "Health summary"), h("p", { class: "muted" }, "Patient details were not shared.")));
        return;
      }
      try {
        const patient = await client.read("Patient", p);
        fill(head, banner(patient));
        document.title = `${humanName(patient.name)} · Flare health summary`;
      } catch (e) {
        if (isAccessEnded(e)) accessEnded(config, client);
        fill(head, h("section", { class: "banner", id: "patient-banner" }, h("h1", {}, "Health summary"), h("p", { class: "muted" }, `Patient details could not be loaded (${e?.message ?? e}).`)));
      }
    })());
  } else {
    document.title = "Flare health summary";
    document.body.dataset.banner = "hidden";
  }
  jobs.push(load(ctx, secs.allergies, { what: "allergies", type: "AllergyIntolerance", run: () => all(client, "AllergyIntolerance", { patient: p }), render: renderAllergies }));
  jobs.push(load(ctx, secs.problems, { what: "problems and health concerns", type: "Condition", run: () => all(client, "Condition", { patient: p }), render: renderConditions }));
  jobs.push(load(ctx, secs.medications, { what: "medicines", type: "MedicationRequest", run: () => all(client, "MedicationRequest", { patient: p }), render: renderMedications }));
  jobs.push(load(ctx, secs.immunizations, { what: "immunizations", type: "Immunization", run: () => all(client, "Immunization", { patient: p }), render: renderImmunizations }));
  jobs.push(load(ctx, secs.procedures, { what: "procedures", type: "Procedure", run: () => all(client, "Procedure", { patient: p }), render: renderProcedures }));
  jobs.push(load(ctx, secs.careteam, { what: "your care team", type: "CareTeam", run: () => all(client, "CareTeam", { patient: p }), render: renderCareTeam }));
  jobs.push(load(ctx, secs.goals, { what: "goals", type: "Goal", run: () => all(client, "Goal", { patient: p }), render: renderGoals }));
  jobs.push(load(ctx, secs.coverage, { what: "insurance", type: "Coverage", run: () => all(client, "Coverage", { patient: p }), render: renderCoverage }));
  jobs.push(load(ctx, secs.labs, { what: "lab results", type: "Observation", category: "laboratory", run: () => all(client, "Observation", { patient: p, category: "laboratory", _sort: "-date" }), render: renderLabs }));
  jobs.push(load(ctx, secs.vitals, { what: "vital signs", type: "Observation", category: "vital-signs", run: () => all(client, "Observation", { patient: p, category: "vital-signs", _sort: "date" }), render: renderVitals }));
  jobs.push(load(ctx, secs.notes, {
    what: "notes and reports", type: ["DocumentReference", "DiagnosticReport"],
    run: async () => {
      const [docs, reports] = await Promise.all([all(client, "DocumentReference", { patient: p }), all(client, "DiagnosticReport", { patient: p })]);
      return notesFrom(docs, reports);
    },
    render: (notes) => renderNotes(ctx, notes),
  }));
  return Promise.all(jobs).then(() => {
    root.dataset.loaded = "true";
  });
}
