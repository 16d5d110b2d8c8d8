// Compiled with `tsc --noEmit` against the packed @flare/smart: the calls
// below must type-check, and each @ts-expect-error line must be an error
// (tsc fails if an expected error does not occur).
import { authorize, byCode, client, load, ready, type Client, type FlareError, type Observation, type SearchPage, type SessionState } from "@flare/smart";

export async function standalone(): Promise<void> {
  await authorize({ iss: "https://ehr.example/fhir", clientId: "app", scope: "openid fhirUser patient/*.rs" });
  await authorize([{ iss: "https://a.example/fhir", clientId: "a", scope: "patient/*.rs" }]);
  // @ts-expect-error clientId is required
  await authorize({ iss: "https://ehr.example/fhir", scope: "patient/*.rs" });
  // One Promise, not a Promise of a Promise: `then` gets the URL or the Client.
  await authorize({ clientId: "app", scope: "patient/*.rs", target: "popup" }).then((r: string | Client) => r);
}

export async function queries(c: Client): Promise<void> {
  // The launch context is `string | undefined`; read() takes it as it is (and rejects without one).
  const patient = await c.read("Patient", c.patient);
  void patient.id;
  const page: SearchPage<Observation> = await c.search("Observation", {
    patient: c.patient ?? "",
    category: ["laboratory"],
    date: ["ge2024-01-01", "lt2025"],
    "code:text": "glucose",
    _sort: "-date",
    _count: 50,
    _revinclude: "Provenance:target",
  });
  const first: Observation | undefined = page.resources[0];
  const status: string | undefined = first?.status;
  void status;
  await c.search("PractitionerRole", { "practitioner.name": "smith" });
  await c.search("MedicationRequest", { patient: "p1", _include: "MedicationRequest:medication" });
  const all = await c.searchAll("Condition", { patient: "p1" }, { limit: 100 });
  void all.length;
  for await (const p of c.pages("Encounter", { patient: "p1" })) void p.next;
  // @ts-expect-error colour is not an Observation search parameter
  await c.search("Observation", { patient: "p1", colour: "red" });
  // @ts-expect-error Observation has no such _include
  await c.search("Observation", { patient: "p1", _include: "Observation:nope" });
  // @ts-expect-error Spaceship is not a searchable type
  await c.search("Spaceship", {});
  // @ts-expect-error _sort only takes the type's date and string parameters
  await c.search("Observation", { patient: "p1", _sort: "status" });
}

export async function context(): Promise<string | undefined> {
  const c = await ready();
  await load();
  await load(new URL("https://cdn.example/flare_sdk_bg.wasm"));
  const other = client({ serverUrl: "https://x/fhir", accessToken: "t" });
  void other.scopes;
  try {
    await c.read("Patient", "1");
  } catch (e) {
    const err = e as FlareError;
    if (err.kind === "fhir") return err.issues[0]?.diagnostics;
  }
  return c.fhirUser;
}

export async function beyondFhirclient(): Promise<void> {
  await authorize({ clientId: "app", scope: "patient/*.rs", target: "popup", width: 600, height: 800 });
  const open = await authorize({ clientId: "none", scope: "", fhirServiceUrl: "https://open.example/fhir" });
  void open;
  const c = await ready();
  const intent: unknown = c.tokenResponse["intent"];
  const name: unknown = c.idTokenClaims?.["name"];
  const state: SessionState = c.getState();
  const key: string | undefined = state.key ?? c.state;
  void [intent, name, key];
  const obs = await c.searchAll("Observation", { patient: "p1" }, { onPage: (p) => void p.resources.length });
  const byLoinc: Record<string, Observation[]> = byCode(obs, "code");
  void byLoinc;
  await c.request("Patient/1", { headers: { "If-None-Match": 'W/"1"' } });
  // @ts-expect-error headers are strings
  await c.request("Patient/1", { headers: { "If-None-Match": 1 } });
}
