// The app's launch URL (`launch.html`): an EHR opens it with `?iss=…&launch=…`;
// authorize() reads both, adds the `launch` scope and goes to the server.
import { authorize } from "@flare/smart";
import { SCOPE, loadConfig, redirectUri } from "./config.js";

const status = document.getElementById("status");
try {
  const config = await loadConfig();
  const q = new URLSearchParams(location.search);
  if (!q.has("iss") || !q.has("launch")) throw new Error("this page is opened by an EHR with iss and launch");
  // Only the configured server's launches are accepted.
  await authorize({ iss: config.iss, clientId: config.clientId, scope: SCOPE, redirectUri: redirectUri() });
} catch (e) {
  status.textContent = `The app could not start: ${e.message}`;
  status.className = "alert error";
  status.setAttribute("role", "alert");
}
