//! The full round trip of a Group export by RS384 and ES384 clients.

use std::time::Duration;

use super::{accepted, assert_exact, download, kick_off, now_ms, wait_done, Backend, World, MEMBERS};
use crate::context::Ctx;

/// RS384 and ES384 clients each export `Group/grp` (both at once): 202 +
/// Content-Location, polls honoring Retry-After, the manifest, every file,
/// and exactly the members' data plus what it references.
pub fn exact(ctx: &Ctx) {
    super::run(ctx, "group::rs384_and_es384_exact_member_data", |ctx| {
        let w = World::new(ctx, "bulk-grp");
        let c = &w.c;
        let expected = w.expected_group(&MEMBERS);
        // The data set makes every kind of exclusion matter.
        for k in [
            "Patient/m1",
            "Group/grp",
            "Group/grp-mixed",
            "Practitioner/pr",
            "PractitionerRole/role",
            "Location/loc",
            "Organization/org",
            "Medication/med",
            "Provenance/prov-m1-lab",
            "Provenance/prov-m2",
        ] {
            ck!(expected.contains_key(k), "expected set lacks {k}");
        }
        for k in [
            "Patient/m4",
            "Patient/n1",
            "Observation/n2-lab",
            "Group/grp-out",
            "Practitioner/pr-out",
            "Practitioner/pr-unref",
            "PractitionerRole/role-unref",
            "Location/loc-out",
            "Organization/org-out",
            "Medication/med-out",
            "Provenance/prov-n1-lab",
        ] {
            ck!(!expected.contains_key(k), "expected set holds {k}");
        }

        let scope = "system/*.rs";
        let rs = Backend::register(c, &w.key, "bulkrs", false, scope);
        let es = Backend::register(c, &w.key, "bulkes", true, scope);
        let path = "/fhir/Group/grp/$export";
        // Kick off both, then poll both: two clients' exports run at once.
        let started: Vec<(String, String, i64, String)> = [("RS384", &rs), ("ES384", &es)]
            .into_iter()
            .map(|(alg, b)| {
                let token = b.token(c);
                let t0 = now_ms();
                let r = kick_off(c, &token, path);
                let status = accepted(c, &r);
                (alg.to_string(), token, t0, status)
            })
            .collect();
        for (alg, token, t0, status) in started {
            let polled = wait_done(c, &token, &status, Duration::from_secs(120));
            let got = download(c, &token, &format!("{}{path}", c.origin), t0, polled);
            assert_exact(&format!("{alg} Group/grp export"), &got, &expected);
            // The status URL stays readable once done (same manifest).
            let again = c.get(&status).token(&token).send();
            ck_eq!(again.status, 200, "{alg}: status after completion");
            ck_eq!(again.json(), got.manifest, "{alg}: the manifest changed");
            // Files need the token.
            for url in &got.urls {
                let r = c.get(url).no_auth().send();
                ck_eq!(r.status, 401, "{alg}: {url} without a token: {}", r.body);
            }
        }
    });
}
