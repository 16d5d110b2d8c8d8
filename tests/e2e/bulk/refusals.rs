//! Kick-offs that must be refused: 400 (parameters, Prefer), 401 (no or a
//! bad token), 403 (a type not granted; user- and patient-level tokens),
//! 404 (unknown Group, a Group of another practice, an unknown job).

use serde_json::json;

use flare_tests::fhir::expect_outcome;
use flare_tests::http::encode_pairs;

use super::{export, kick_off, only_types, transaction, Backend, World, MEMBERS};
use crate::context::Ctx;

const GROUP: &str = "/fhir/Group/grp/$export";

/// An error OperationOutcome with `status` (counted).
fn refused(r: &flare_tests::http::Resp, status: u16) {
    super::tally();
    expect_outcome(r, status);
}

/// 400 / 401 / 403 / 404 kick-offs, and a narrower client exporting only
/// the types it was granted.
pub fn kick_off_errors(ctx: &Ctx) {
    super::run(ctx, "refusals::kick_off_errors", |ctx| {
        let w = World::new(ctx, "bulk-err");
        let c = &w.c;
        let b = Backend::register(c, &w.key, "bulkerr", false, "system/*.rs");
        let token = b.token(c);

        // Missing Prefer: respond-async.
        let r = c.get(GROUP).token(&token).send();
        refused(&r, 400);
        let r = c
            .get(GROUP)
            .token(&token)
            .header("Prefer", "return=representation")
            .send();
        refused(&r, 400);

        // Unsupported parameters and bad values.
        for (k, v) in [
            ("patient", "Patient/m1"),
            ("includeAssociatedData", "LatestProvenanceResources"),
            ("_until", "2030-01-01T00:00:00Z"),
            ("foo", "bar"),
            ("_outputFormat", "text/csv"),
            ("_outputFormat", "application/fhir+json"),
            ("_since", "yesterday"),
            ("_type", "Bogus"),
            ("_typeFilter", "Observation"),
            ("_typeFilter", "Bogus?x=1"),
        ] {
            let r = kick_off(c, &token, &format!("{GROUP}?{}", encode_pairs(&[(k, v)])));
            refused(&r, 400);
        }

        // No token, a bad token.
        let r = c.get(GROUP).no_auth().header("Prefer", "respond-async").send();
        super::tally();
        crate::smart::expect_401(&r);
        let r = kick_off(c, "not-a-token-at-all-0123456789", GROUP);
        super::tally();
        crate::smart::expect_401(&r);

        // Unknown Group; a Group only the sibling practice has; unknown job.
        refused(&kick_off(c, &token, "/fhir/Group/nope/$export"), 404);
        let r = c.import(
            &format!("{}-x", w.key),
            &transaction(&[json!({"resourceType": "Group", "id": "xonly", "type": "person",
                                  "actual": true, "member": [{"entity": {"reference": "Patient/m1"}}]})]),
        );
        ck_eq!(r.status, 200, "import into the sibling practice: {}", r.body);
        refused(&kick_off(c, &token, "/fhir/Group/xonly/$export"), 404);
        let r = c
            .get(&format!("{}/$export-status/nosuchjob", c.fhir_base()))
            .token(&token)
            .send();
        refused(&r, 404);

        // A narrower client: a type it lacks is 403; otherwise only its types.
        let narrow = Backend::register(
            c,
            &w.key,
            "bulknarrow",
            true,
            "system/Patient.rs system/Observation.rs",
        );
        let nt = narrow.token_for(c, "system/Patient.rs system/Observation.rs");
        let r = kick_off(c, &nt, &format!("{GROUP}?_type=Condition"));
        refused(&r, 403);
        let r = kick_off(c, &nt, &format!("{GROUP}?_type=Patient,Practitioner"));
        refused(&r, 403);
        let got = export(c, &nt, GROUP, &[]);
        super::assert_exact(
            "a system/Patient.rs system/Observation.rs client",
            &got,
            &only_types(&w.expected_group(&MEMBERS), &["Patient", "Observation"]),
        );
    });
}

/// User-level and patient-level tokens (authorization code) cannot export.
pub fn user_tokens(ctx: &Ctx) {
    super::run(ctx, "refusals::user_and_patient_tokens", |ctx| {
        let w = crate::smart::World::new(ctx, "bulk-usr");
        let r = w.client.import(
            &w.key,
            &transaction(&[json!({"resourceType": "Group", "id": "grp", "type": "person",
                                  "actual": true, "member": [{"entity": {"reference": format!("Patient/{}", w.a.id)}}]})]),
        );
        ck_eq!(r.status, 200, "import the Group: {}", r.body);
        let app = w.app(
            "bulkusr",
            "client_secret_basic",
            "openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs \
             user/Patient.rs user/Observation.rs",
        );
        let user = w.login(
            &app,
            "openid fhirUser user/Patient.rs user/Observation.rs",
            &w.doctor,
            None,
        );
        let patient = w.login(
            &app,
            "launch/patient patient/Patient.rs patient/Observation.rs",
            &w.alice,
            None,
        );
        for (who, t) in [("user", &user), ("patient", &patient)] {
            let token = t["access_token"].as_str().unwrap_or_default();
            // The token works for reading, so the refusal is about bulk.
            let r = w.fhir(token, &format!("/fhir/Patient/{}", w.a.id));
            ck_eq!(r.status, 200, "{who} token reads its patient: {}", r.body);
            for path in [GROUP, "/fhir/Patient/$export", "/fhir/$export"] {
                let r = kick_off(&w.client, token, path);
                ck_eq!(r.status, 403, "{who} token kicks off {path}: {}", r.body);
                refused(&r, 403);
            }
        }
    });
}
