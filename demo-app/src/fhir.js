// Reading FHIR data for display: every function returns plain strings,
// which the page only ever puts into the DOM as text.

/** A CodeableConcept's text, else its first coding's display or code. */
export function conceptText(c) {
  if (!c) return "";
  if (c.text) return c.text;
  const coding = (c.coding ?? []).find((x) => x.display) ?? c.coding?.[0];
  // SNOMED displays end with a semantic tag ("Registered nurse (occupation)"): not for patients.
  return coding?.display?.replace(/ \((occupation|person|disorder|finding|substance|procedure|qualifier value|product)\)$/, "") ?? coding?.code ?? "";
}

/** The code of a concept's coding in `system` (or of any coding). */
export function codeOf(c, system) {
  return (c?.coding ?? []).find((x) => !system || x.system === system)?.code;
}

/** A person's name. */
export function humanName(names) {
  const n = (names ?? []).find((x) => x.use === "official") ?? names?.[0];
  if (!n) return "";
  if (n.text) return n.text;
  return [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(" ");
}

/** A date or dateTime as a readable date (the date part as written, no time-zone shifts). */
export function day(value) {
  if (!value || typeof value !== "string") return "";
  const [y, m, d] = value.slice(0, 10).split("-");
  if (!d) return value.slice(0, 7);
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return `${Number(d)} ${months[Number(m) - 1] ?? m} ${y}`;
}

/** The effective time of an Observation or report. */
export function effective(r) {
  return r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued ?? r.date ?? r.performedDateTime ??
    r.performedPeriod?.start ?? r.occurrenceDateTime ?? r.authoredOn ?? r.recordedDate ?? r.onsetDateTime ?? "";
}

/** A Quantity as "value unit". */
export function quantityText(q) {
  if (!q || q.value === undefined) return "";
  return `${q.comparator ?? ""}${q.value}${q.unit ? " " + q.unit : q.code ? " " + q.code : ""}`;
}

/** An Observation's value as text. */
export function valueText(o) {
  if (o.valueQuantity) return quantityText(o.valueQuantity);
  if (o.valueCodeableConcept) return conceptText(o.valueCodeableConcept);
  if (o.valueString !== undefined) return String(o.valueString);
  if (o.valueBoolean !== undefined) return o.valueBoolean ? "yes" : "no";
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  if (o.component) {
    return o.component.map((c) => `${conceptText(c.code)} ${valueText(c)}`).join(", ");
  }
  return o.dataAbsentReason ? `(${conceptText(o.dataAbsentReason)})` : "";
}

/** The reference range of an Observation as text ("4.0–11.0 10*3/uL"). */
export function rangeText(o) {
  const r = o.referenceRange?.[0];
  if (!r) return "";
  if (r.text) return r.text;
  const low = r.low?.value;
  const high = r.high?.value;
  const unit = r.low?.unit ?? r.high?.unit ?? o.valueQuantity?.unit ?? "";
  if (low !== undefined && high !== undefined) return `${low}–${high} ${unit}`.trim();
  if (low !== undefined) return `≥ ${low} ${unit}`.trim();
  if (high !== undefined) return `≤ ${high} ${unit}`.trim();
  return "";
}

const FLAG_WORDS = { H: "High", HH: "Critically high", L: "Low", LL: "Critically low", A: "Abnormal", AA: "Critically abnormal", N: "Normal" };

/**
 * The flag of a lab result: the server's interpretation (H, L, N …) when
 * given, else computed from the value and the reference range.
 */
export function flag(o) {
  const coded = codeOf(o.interpretation?.[0], "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation") ??
    codeOf(o.interpretation?.[0]);
  const v = o.valueQuantity?.value;
  const r = o.referenceRange?.[0];
  let code = coded;
  if (!code && typeof v === "number" && r) {
    if (r.high?.value !== undefined && v > r.high.value) code = "H";
    else if (r.low?.value !== undefined && v < r.low.value) code = "L";
    else code = "N";
  }
  if (!code) return null;
  return { code, word: FLAG_WORDS[code] ?? conceptText(o.interpretation?.[0]) ?? code, abnormal: code !== "N" };
}

/** Decodes base64 data as UTF-8 text. */
export function decodeBase64Text(data) {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
