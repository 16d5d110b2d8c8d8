// The Flare demo patient app: a health summary of the patient in context,
// built only on the npm package @flare/smart. This page is the redirect
// URI: it completes a launch (or restores the tab's session), then shows
// the summary (summary.js).
import { ready } from "@flare/smart";
import { loadConfig } from "./config.js";
import { h, fill } from "./dom.js";
import { connectScreen, show } from "./summary.js";

const root = document.getElementById("app");

/**
 * In the sign-in popup of a launch that started in an EHR frame: hands the
 * redirect to the frame that opened the popup, and closes.
 *
 * Workaround for @flare/smart 0.1.0, whose ready() is meant to do this but
 * checks `window.opener` with `instanceof Window`, which is false for a
 * window of another document (another JavaScript realm); ready() then tries
 * to complete the launch here and fails ("no pending launch"). The message
 * is the one the package's authorize({ target: "popup" }) waits for.
 */
function handOverFromPopup(q) {
  const inPopup = window.name.startsWith("flare-smart-popup:") && window.opener && !window.opener.closed;
  if (!inPopup || !(q.has("code") || q.has("error"))) return false;
  window.opener.postMessage({ type: "flare-smart:redirect", url: location.href }, location.origin);
  window.close();
  return true;
}

async function main() {
  let config;
  try {
    config = await loadConfig();
  } catch (e) {
    fill(root, h("p", { class: "alert error", role: "alert" }, `The app is not configured: ${e.message}`));
    return;
  }
  const q = new URLSearchParams(location.search);
  if (q.has("error")) {
    const why = q.get("error") === "access_denied" ? "You chose not to share your record with this app." : `The server refused the connection: ${q.get("error_description") ?? q.get("error")}.`;
    history.replaceState(null, "", location.pathname);
    connectScreen(config, why);
    return;
  }
  if (handOverFromPopup(q)) return;
  let client;
  try {
    client = await ready();
  } catch (e) {
    connectScreen(config, q.has("code") ? `The connection could not be completed: ${e.message}` : null);
    return;
  }
  await show(client, config);
}

main();
