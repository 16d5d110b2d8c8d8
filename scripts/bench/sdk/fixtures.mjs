// The FHIR data of the SDK benchmark, shared by the paging page (bench.js, in
// the browser) and the SMART server (smart-server.mjs, in Node): US Core-shaped
// laboratory Observations of patient p1, 634 bytes of JSON each.

export const PATIENT_ID = "p1";

export function observation(i) {
  return {
    resourceType: "Observation", id: `obs-${i}`, meta: { lastUpdated: "2024-05-01T10:00:00Z" }, status: "final",
    category: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "laboratory", display: "Laboratory" }] }],
    code: { coding: [{ system: "http://loinc.org", code: "4548-4", display: "Hemoglobin A1c/Hemoglobin.total in Blood" }], text: "HbA1c" },
    subject: { reference: `Patient/${PATIENT_ID}` }, effectiveDateTime: `2024-05-01T10:${String(i % 60).padStart(2, "0")}:00Z`,
    valueQuantity: { value: 5 + (i % 30) / 10, unit: "%", system: "http://unitsofmeasure.org", code: "%" },
    referenceRange: [{ low: { value: 4, unit: "%" }, high: { value: 5.6, unit: "%" } }],
  };
}

export function patient() {
  return {
    resourceType: "Patient", id: PATIENT_ID, meta: { lastUpdated: "2024-05-01T10:00:00Z" },
    identifier: [{ system: "http://hospital.example.org/mrn", value: "1032702" }],
    name: [{ family: "Shaw", given: ["Amy", "V."] }], gender: "female", birthDate: "1987-02-20",
  };
}

/** A searchset Bundle of Observations `start` … `end - 1` under `base`, with a `next` link when `next` is given. */
export function searchset(base, selfUrl, start, end, next, total) {
  const entry = [];
  for (let i = start; i < end; i++) {
    entry.push({ fullUrl: `${base}/Observation/obs-${i}`, resource: observation(i), search: { mode: "match" } });
  }
  const link = [{ relation: "self", url: selfUrl }];
  if (next) link.push({ relation: "next", url: next });
  const bundle = { resourceType: "Bundle", type: "searchset", link, entry };
  if (total !== undefined) bundle.total = total;
  return bundle;
}
