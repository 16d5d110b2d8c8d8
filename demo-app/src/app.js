// The Flare demo patient app: a health summary of the patient in context,
// built only on the npm package @flare/smart. This page is the redirect
// URI: it completes a launch (or restores the tab's session), then shows
// the summary (summary.js).
import { ready } from "@flare/smart";
import { loadConfig } from "./config.js";
import { h, fill } from "./dom.js";
import { connectScreen, show } from "./summary.js";

const root = document.getElementById("app");

async function main() {
  let config;
  try {
    config = await loadConfig();
  } catch (e) {
    fill(root, h("p", { class: "alert error", role: "alert" }, `The app is not configured: ${e.message}`));
    return;
  }
  const q = new URLSearchParams(location.search);
  let client;
  try {
    client = await ready();
  } catch (e) {
    // In the sign-in popup of an EHR launch: the SDK handed the redirect to
    // the app in the EHR's frame and closes this window.
    if (e.kind === "popup") return;
    if (e.kind === "oauth") {
      const why = e.oauthError === "access_denied" ? "You chose not to share your record with this app." : `The server refused the connection: ${e.message}.`;
      connectScreen(config, why);
      return;
    }
    connectScreen(config, q.has("code") ? `The connection could not be completed: ${e.message}` : null);
    return;
  }
  await show(client, config);
}

main();
