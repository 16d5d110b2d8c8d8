// The app's launch URL (`launch.html`): an EHR opens it with `?iss=…&launch=…`;
// authorize() reads both, adds the `launch` scope and goes to the server.
// In an EHR frame on another site whose storage is blocked, the launch runs
// in a popup (after a click: browsers only open popups for one) and the
// summary shows here.
import { authorize, storageAvailable } from "@flare/smart";
import { SCOPE, loadConfig, redirectUri } from "./config.js";
import { h, fill } from "./dom.js";
import { show } from "./summary.js";

const root = document.getElementById("app");

function failed(e) {
  fill(root, h("p", { class: "alert error", role: "alert" }, `The app could not start: ${e?.message ?? e}`));
}

try {
  const config = await loadConfig();
  const q = new URLSearchParams(location.search);
  if (!q.has("iss") || !q.has("launch")) throw new Error("this page is opened by an EHR with iss and launch");
  // Only the configured server's launches are accepted.
  const options = { iss: config.iss, clientId: config.clientId, scope: SCOPE, redirectUri: redirectUri() };
  if (storageAvailable()) {
    await authorize(options);
  } else {
    const button = h("button", { type: "button", id: "connect" }, "Connect to the health record");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const client = await authorize({ ...options, target: "popup", storage: "memory" });
        history.replaceState(null, "", location.pathname);
        await show(client, config);
      } catch (e) {
        button.disabled = false;
        failed(e);
      }
    });
    fill(root, h("section", { class: "card connect" },
      h("h1", {}, "Your health summary"),
      h("p", {}, "This EHR keeps apps in its frame from storing anything, so signing in opens in a small window."),
      button));
  }
} catch (e) {
  failed(e);
}
