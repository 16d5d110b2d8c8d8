// What the granted scopes let the app read. The token response's `scope`
// says what the user shared; a section whose type (or category) is not
// covered is shown as "not shared" without asking the server.

/** Parses one SMART resource scope (v1 `patient/Type.read`, v2 `patient/Type.rs?category=…`). */
export function parseScope(s) {
  const m = /^(patient|user|system)\/([A-Za-z*]+)\.([a-z*]+)(?:\?(.*))?$/.exec(s);
  if (!m) return null;
  const [, context, type, perms, query] = m;
  const read = perms === "read" || perms === "*" || (/^c?r?u?d?s?$/.test(perms) && perms.includes("r"));
  const search = perms === "read" || perms === "*" || (/^c?r?u?d?s?$/.test(perms) && perms.includes("s"));
  const restrictions = new URLSearchParams(query ?? "");
  return { context, type, read, search, category: restrictions.get("category") };
}

/**
 * Whether `scopes` allow searching `type` (restricted to `category`, a code,
 * when given). A category-restricted scope covers only searches for that category.
 */
export function covers(scopes, type, category) {
  return scopes.map(parseScope).some((s) => {
    if (!s || !(s.type === type || s.type === "*") || !(s.read || s.search)) return false;
    if (!s.category) return true;
    const code = s.category.split("|").pop();
    return category !== undefined && code === category;
  });
}
