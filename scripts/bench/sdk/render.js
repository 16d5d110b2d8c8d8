// Shared by both benchmark apps: the first search's results as a list in the
// DOM (appended, then laid out), and the timings the driver (run.mjs) reads.
// Times are performance.now(): milliseconds since this document's navigation started.

/** Renders Observations into <ul id="results">; returns how many rows were rendered. */
export function render(resources) {
  const ul = document.createElement("ul");
  ul.id = "results";
  for (const r of resources) {
    const li = document.createElement("li");
    const q = r.valueQuantity ?? {};
    li.textContent = `${r.effectiveDateTime ?? ""} ${r.code?.text ?? ""} ${q.value ?? ""} ${q.unit ?? ""}`;
    ul.append(li);
  }
  document.body.append(ul);
  void document.body.offsetHeight; // layout: the rows are rendered, not only created
  return ul.childElementCount;
}

/** True on the redirect (the URL carries the authorization response). */
export const isRedirect = () => new URLSearchParams(location.search).has("code");

/** Runs the timed path `run(mark)` on the redirect; the launch page only exposes `window.startLaunch`. */
export function app(startLaunch, run) {
  const script = performance.now();
  if (!isRedirect()) {
    window.startLaunch = startLaunch;
    window.appReady = true;
    return;
  }
  const marks = { script };
  run((name) => (marks[name] = performance.now()))
    .then((rows) => (window.__timing = { ...marks, rows }))
    .catch((e) => (window.__timing = { error: String(e?.message ?? e), kind: e?.kind }));
}
