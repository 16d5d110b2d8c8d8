// The @flare/smart benchmark app (public API only): the launch page calls
// authorize({ …, noRedirect: true }) and hands the authorization URL to the
// driver; on the redirect, ready() and the first search are timed.
import { authorize, ready } from "@flare/smart";
import { app, render } from "./render.js";

app(
  ({ iss, clientId, scope, redirectUri }) => authorize({ iss, clientId, scope, redirectUri, noRedirect: true }),
  async (mark) => {
    const client = await ready();
    mark("ready");
    const page = await client.search("Observation", { patient: client.patient, category: "laboratory" });
    mark("searched");
    const rows = render(page.resources);
    mark("rendered");
    return rows;
  },
);
