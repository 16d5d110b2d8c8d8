// The fhirclient 2.6.3 benchmark app: FHIR.oauth2.authorize({ …, noRedirect: true })
// on the launch page; on the redirect, FHIR.oauth2.ready() and the first search
// (client.request) are timed.
import FHIR from "fhirclient";
import { app, render } from "./render.js";

app(
  ({ iss, clientId, scope, redirectUri }) => FHIR.oauth2.authorize({ iss, clientId, scope, redirectUri, noRedirect: true }),
  async (mark) => {
    const client = await FHIR.oauth2.ready();
    mark("ready");
    const bundle = await client.request(
      `Observation?patient=${encodeURIComponent(client.patient.id)}&category=laboratory`,
    );
    mark("searched");
    const rows = render((bundle.entry ?? []).map((e) => e.resource));
    mark("rendered");
    return rows;
  },
);
