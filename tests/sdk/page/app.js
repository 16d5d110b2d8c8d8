// The page the SDK end-to-end test drives: it starts a launch when the
// driver calls window.startLaunch(options), and on the redirect back it
// completes the launch with ready() and runs typed searches, leaving a
// summary in window.__result (and in #out for the failure screenshot).
import { authorize, ready } from "/pkg/index.js";

const out = document.getElementById("out");
window.startLaunch = (options) => {
  authorize(options).catch((e) => (out.textContent = "authorize failed: " + e.message));
};

async function run() {
  const client = await ready();
  const r = { addressBar: location.href, patient: client.patient, encounter: client.encounter ?? null,
              fhirUser: client.fhirUser, user: client.user, scopes: client.scopes,
              needPatientBanner: client.needPatientBanner, smartStyleUrl: client.smartStyleUrl ?? null,
              fhirContext: client.fhirContext, canRefresh: client.canRefresh };
  const patient = await client.read("Patient", client.patient);
  r.patientFamily = patient.name?.[0]?.family;

  const labs = await client.search("Observation", { patient: client.patient, category: "laboratory", _sort: "-date", _count: 2 });
  r.firstLabPage = labs.resources.map((o) => o.id);
  r.labsHasNext = labs.next !== null;
  r.allLabs = (await client.searchAll("Observation", { patient: client.patient, category: "laboratory", _count: 2 })).map((o) => o.id);
  r.labPageSizes = [];
  for await (const page of client.pages("Observation", { patient: client.patient, category: "laboratory", _count: 2 })) {
    r.labPageSizes.push(page.resources.length);
  }

  const meds = await client.search("MedicationRequest", { patient: client.patient, _include: "MedicationRequest:medication" });
  const rx = meds.resources[0];
  r.includedMedication = rx?.$refs?.[rx.medicationReference.reference]?.id ?? null;
  r.includeHiddenFromJson = !JSON.stringify(rx).includes("$refs");

  const withProvenance = await client.search("Observation", { patient: client.patient, _revinclude: "Provenance:target", category: "laboratory" });
  r.revincluded = withProvenance.resources.flatMap((o) => (o.$revincluded ?? []).map((p) => `${o.id}<-${p.id}`));

  const bare = await client.search("MedicationRequest", { patient: client.patient });
  r.resolved = await client.resolveReferences(bare.resources, { paths: ["medicationReference", "subject"] });
  r.resolvedMedication = bare.resources[0].$refs?.[bare.resources[0].medicationReference.reference]?.id ?? null;

  try {
    await client.search("Observation", { patient: client.patient, colour: "red" });
    r.unknownParam = "accepted";
  } catch (e) {
    r.unknownParam = { kind: e.kind, status: e.status, diagnostics: e.issues[0]?.diagnostics };
  }
  try {
    await client.read("Patient", "someone-else");
    r.otherPatient = "readable";
  } catch (e) {
    r.otherPatient = { kind: e.kind, status: e.status };
  }
  if (client.canRefresh) {
    const before = client.accessToken;
    await client.refresh();
    r.refreshedToken = client.accessToken !== before;
    r.afterRefresh = (await client.read("Patient", client.patient)).id;
  } else {
    // No offline_access asked: refresh() would reject with kind "oauth".
    r.refreshedToken = await client.refresh().then(() => "refreshed", (e) => e.kind);
  }
  return r;
}

if (new URLSearchParams(location.search).has("code") || new URLSearchParams(location.search).has("error")) {
  window.__result = run().then(
    (r) => ({ ok: true, ...r }),
    (e) => ({ ok: false, kind: e.kind, message: e.message, status: e.status }),
  );
  window.__result.then((r) => (out.textContent = JSON.stringify(r, null, 2)));
} else {
  out.textContent = "ready to launch";
  window.__restore = async () => {
    const client = await ready();
    return { patient: client.patient, token: client.accessToken.length > 0 };
  };
}
