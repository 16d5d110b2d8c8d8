//! `cargo xtask bench-app-paths`: the apps' side of the benchmark. For each
//! `QUERIES/app/<shape>.txt` of `xtask bench-queries` (lines `WHO<TAB>PATH`)
//! it writes `QUERIES/app-tokens/<shape>.txt` for `scripts/bench/paths.lua`:
//! a patient id's lines become `TOKEN PATH` with a patient-context token of
//! that patient; `WHO` = `system` lines stay a bare `PATH`, sent with the
//! backend service's `system/` token that `bench.sh` gives wrk (minted anew
//! for each shape: such tokens live five minutes). A patient's token is
//! minted here the way an app gets one: a user for the patient
//! (`POST /admin/users`), then a standalone launch of the demo patient app
//! through the real sign-in and consent pages (authorization code + PKCE).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use flare_tests::http::{encode_pairs, excerpt, Client};
use flare_tests::oauth::{query_param, the_form, Browser, Pkce};
use serde_json::json;

/// The password of the benchmark's patient users.
const PASSWORD: &str = "Flare-bench-2026!";
/// What the patient app asks for.
const SCOPE: &str = "launch/patient patient/*.rs";

/// Where the app's tokens come from.
pub struct AppSide<'a> {
    /// The edge, `http://127.0.0.1:PORT`.
    pub base: &'a str,
    /// `ADMIN_TOKEN`, to create the patient users.
    pub admin_token: &'a str,
    /// The practice of the patients.
    pub practice: &'a str,
    /// The approved public patient app that launches.
    pub client_id: &'a str,
    /// One of its registered redirect URIs.
    pub redirect_uri: &'a str,
}

/// Writes `QUERIES/app-tokens/<shape>.txt` for every `QUERIES/app/<shape>.txt`.
pub fn app_paths(side: &AppSide, queries: &Path) -> Result<()> {
    let app_dir = queries.join("app");
    let out_dir = queries.join("app-tokens");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut files: Vec<_> = fs::read_dir(&app_dir)
        .with_context(|| format!("reading {}", app_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut tokens: BTreeMap<String, String> = BTreeMap::new();
    for file in &files {
        let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let mut lines = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (who, path) = line
                .split_once('\t')
                .ok_or_else(|| anyhow!("{}: not WHO<TAB>PATH: {line:?}", file.display()))?;
            if who == "system" {
                lines.push(path.to_string());
                continue;
            }
            if !tokens.contains_key(who) {
                let token = patient_token(side, who, tokens.len())?;
                tokens.insert(who.to_string(), token);
            }
            lines.push(format!("{} {path}", tokens[who]));
        }
        let name = file.file_name().ok_or_else(|| anyhow!("no file name"))?;
        fs::write(out_dir.join(name), lines.join("\n") + "\n")?;
    }
    eprintln!(
        "app paths for {} shapes, with {} patient-context tokens",
        files.len(),
        tokens.len()
    );
    Ok(())
}

/// A patient-context access token for `patient`, from a standalone launch
/// by a user of that patient (created if missing). `n` varies the client
/// address (`CF-Connecting-IP`) so the per-address limit of the sign-in
/// pages is not what the set-up measures.
fn patient_token(side: &AppSide, patient: &str, n: usize) -> Result<String> {
    let admin = Client::new(side.base, side.admin_token);
    let username = format!("bench-{patient}");
    let user = json!({
        "username": username, "password": PASSWORD, "practice": side.practice,
        "fhirUser": format!("Patient/{patient}"), "name": format!("Bench patient {patient}"),
        "role": "test_patient",
    });
    let r = admin
        .post("/admin/users", "application/json", user.to_string())
        .send();
    if r.status != 201 && r.status != 409 {
        bail!("POST /admin/users {username}: {} {}", r.status, excerpt(&r.body));
    }
    let ip = format!("198.18.{}.{}", n / 250, 1 + n % 250);
    let mut b = Browser::new(&admin).with_header("CF-Connecting-IP", &ip);
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", side.client_id),
        ("redirect_uri", side.redirect_uri),
        ("scope", SCOPE),
        ("state", "bench"),
        ("aud", &format!("{}/fhir", side.base)),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    let signin = b.get(&format!("/authorize?{}", encode_pairs(&params)));
    let form = the_form(&signin);
    let mut creds = form.hidden_pairs();
    creds.push(("username".into(), username.clone()));
    creds.push(("password".into(), PASSWORD.into()));
    let signed_in = b.post(&form.action, &creds);
    if signed_in.status != 303 {
        bail!(
            "sign-in of {username}: {} {}",
            signed_in.status,
            excerpt(&signed_in.body)
        );
    }
    let consent = b.follow(signed_in).page();
    let form = the_form(&consent);
    let mut decision = form.submission();
    decision.push(("decision".into(), "allow".into()));
    let allowed = b.post(&form.action, &decision);
    let location = b.follow(allowed).away();
    let code = query_param(&location, "code").ok_or_else(|| anyhow!("no code in {location}"))?;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", side.redirect_uri),
        ("client_id", side.client_id),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let t = admin
        .post(
            "/token",
            "application/x-www-form-urlencoded",
            encode_pairs(&exchange),
        )
        .no_auth()
        .send();
    if t.status != 200 {
        bail!("token for {username}: {} {}", t.status, excerpt(&t.body));
    }
    let body = t.json();
    if body["patient"] != patient {
        bail!("the token of {username} is not in {patient}'s context: {body}");
    }
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no access_token: {body}"))
}
