// The app's configuration: which server and client id a standalone launch
// uses, and the scopes it asks for. The static server (serve.mjs) writes
// /config.json from its environment; nothing here is secret.

/** The record types the summary reads, one scope each, so the consent page lets the user untick any. */
export const TYPES = [
  "Patient", "AllergyIntolerance", "Condition", "MedicationRequest", "Medication", "Immunization",
  "Procedure", "CareTeam", "Goal", "Coverage", "Observation", "DiagnosticReport", "DocumentReference", "Binary",
];

/** The scopes of a launch: identity, the patient in context, a refresh token, and read access per type. */
export const SCOPE = ["openid", "fhirUser", "launch/patient", "offline_access", ...TYPES.map((t) => `patient/${t}.rs`)].join(" ");

/** Loads /config.json: `{ iss, clientId }`. */
export async function loadConfig() {
  const r = await fetch(new URL("config.json", location.href), { cache: "no-store" });
  if (!r.ok) throw new Error(`config.json: HTTP ${r.status}`);
  return r.json();
}

/** The redirect URI: the app's index page on this origin. */
export function redirectUri() {
  return new URL("./", location.href).href;
}
