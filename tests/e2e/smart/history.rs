//! The access history is never lost (issue 17): an app's read or search is
//! recorded in the same D1 batch as its query, so once the answer has left
//! the server its event is in the database. The exclusive trial here kills
//! `wrangler dev` and workerd outright (SIGKILL, no shutdown) the moment the
//! answers arrive, starts them again on the same local D1, and finds every
//! event, for the patient whose records each answer carried.

use serde_json::{json, Value};

use flare_tests::oauth::{assertion_claims, rsa_jwk, rsa_key, sign_rs384};
use flare_tests::{check, check_eq};

use super::backend::{backend_app, cc};
use super::{access_token, token_ok, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module that restart the edge.
pub const EXCLUSIVE: &[(&str, TrialFn)] = &[(
    "smart::history::accesses_survive_a_server_killed_right_after_the_answer",
    survives_a_kill,
)];

fn survives_a_kill(ctx: &Ctx) {
    let w = World::new(ctx, "hist-kill");
    let app = backend_app(
        &w,
        "history",
        json!({"keys": [rsa_jwk(rsa_key(0), "rs-1", "RS384")]}),
        "system/Patient.rs system/Observation.rs",
    );
    let assertion = sign_rs384(
        rsa_key(0),
        "rs-1",
        &assertion_claims(&app.client_id, &w.token_url(), 240),
    );
    let token = access_token(&token_ok(&cc(
        &w,
        "system/Patient.rs system/Observation.rs",
        assertion,
    )));
    let asked = [
        format!("Observation/{}", w.a.obs_lab),
        format!("Observation?_id={}", w.b.obs_lab),
        format!("Patient?_id={}", w.a.id),
    ];
    for what in &asked {
        w.fhir(&token, &format!("/fhir/{what}")).expect_status(200);
    }
    // The answers are in: kill the server before anything else can happen.
    if let Err(e) = ctx.kill_and_restart_edge() {
        panic!("the edge did not come back after the kill: {e}");
    }
    let events = |patient: &str| -> Vec<Value> {
        super::audit_of(&w, patient)["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let (of_a, of_b) = (events(&w.a.id), events(&w.b.id));
    let recorded = |events: &[Value], what: &str| {
        events
            .iter()
            .any(|e| e["what"] == what && e["client_id"] == app.client_id.as_str() && e["status"] == 200)
    };
    check!(
        recorded(&of_a, &asked[0]),
        "A's read is not in A's history: {of_a:?}"
    );
    check!(
        recorded(&of_b, &asked[1]),
        "the search of B's record is not in B's history: {of_b:?}"
    );
    check!(
        recorded(&of_a, &asked[2]),
        "the search of A's Patient is not in A's history: {of_a:?}"
    );
    check_eq!(
        of_a.iter()
            .filter(|e| e["client_id"] == app.client_id.as_str())
            .count(),
        2,
        "A's history names only the two accesses of A's records: {of_a:?}"
    );
}
