//! The EHR simulator (`/ehr`): a practitioner signs in, picks a patient
//! (and one of the patient's encounters), picks an approved app that has a
//! launch URL, and the app opens inside an iframe with `iss` and `launch`,
//! as an EHR launches apps "directly from the EHR user interface".
//!
//! The launch context is made by the same code as `POST /admin/launch`
//! ([`new_launch`]): patient, encounter, `need_patient_banner`,
//! `smart_style_url` and `fhirContext`. Forms double-submit the
//! `flare_csrf` cookie; the pages need no JavaScript.
//!
//! Framing: the launch page's `frame-src` allows this origin and the app's
//! (launch URL and redirect URIs), nothing else.
//! Inside the frame the app goes to `/authorize` on this origin, whose pages
//! allow `frame-ancestors 'self'`: the EHR page is their only ancestor, so
//! they render; on any other site they do not.

use maud::{html, Markup};
use serde_json::{json, Value as Json};
use url::Url;

use flare_core::reference::is_valid_id;
use flare_core::text::normalize;

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::authorize::patient_name;
use crate::oauth::manage::new_launch;
use crate::pages::portal::session_user;
use crate::platform::Platform;
use crate::store::auth::{self as store, Client, User};
use crate::store::{resources, Database};
use crate::web::components::{hidden, sign_in, Identity, Post, SignIn};
use crate::web::csrf::{check_csrf, csrf_token, with_csrf_cookie};
use crate::web::form::{field, form};
use crate::web::page::{html as page, with_frame_src};
use crate::web::signin::{anyone, posted_sign_in, sign_out, SignInPage};

/// What a launched app may do in the EHR's frame: run, keep its own origin
/// (storage, cookies), submit forms (the authorization pages) and open a
/// sign-in popup that is not itself sandboxed; it may not navigate the EHR
/// window away (no `allow-top-navigation`).
const APP_FRAME_SANDBOX: &str =
    "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox";

/// Most patients listed at once (a name search narrows the list).
const PATIENTS_SHOWN: i64 = 50;
/// Most encounters offered for a launch.
const ENCOUNTERS_SHOWN: i64 = 20;

fn signin_form(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Flare EHR" }
        p class="muted" { "A minimal EHR to launch SMART apps. Clinicians sign in here." }
        (sign_in(&SignIn {
            action: "/ehr/signin",
            csrf,
            request: None,
            identity: Identity::Username,
            error,
        }))
    }
}

/// The signed-in practitioner, or the page to show instead.
async fn practitioner<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    csrf: &str,
) -> Result<Result<User, HttpResponse>, ApiError> {
    Ok(match session_user(app, req).await? {
        None => Err(page(200, "EHR sign-in", signin_form(csrf, None))),
        Some(u) if !u.fhir_user.starts_with("Practitioner/") => Err(page(
            403,
            "Flare EHR",
            html! {
                h1 { "Flare EHR" }
                p class="error" role="alert" {
                    "The EHR is for clinicians; you are signed in as " (u.username) " (a patient). Patients use the "
                    a href="/portal" { "patient portal" } "."
                }
                (signout_form(csrf))
            },
        )),
        Some(u) => Ok(u),
    })
}

fn signout_form(csrf: &str) -> Markup {
    Post::to("/ehr/signout", csrf)
        .inline()
        .form(html! { button type="submit" class="secondary" { "Sign out" } })
}

fn identifier(json: &Json, type_code: &str) -> Option<String> {
    json.get("identifier")?
        .as_array()?
        .iter()
        .find(|i| {
            i.pointer("/type/coding")
                .and_then(Json::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.get("code").and_then(Json::as_str) == Some(type_code))
                })
        })
        .and_then(|i| i.get("value"))
        .and_then(Json::as_str)
        .map(str::to_string)
}

/// The EHR's own patient banner.
fn patient_banner(id: &str, patient: &Json) -> Markup {
    let s = |k: &str| patient.get(k).and_then(Json::as_str).unwrap_or("unknown");
    html! {
        div class="ehr-banner" role="region" aria-label="Patient" {
            strong class="big" { (patient_name(patient)) } " "
            span {
                "born " strong { (s("birthDate")) } " · " (s("gender"))
                @if let Some(m) = identifier(patient, "MR") { " · MRN " strong { (m) } }
                " · " code { "Patient/" (id) }
            }
        }
    }
}

/// A patient's id as a query value (`/ehr?patient=…`).
fn patient_query(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

fn encounter_label(json: &Json) -> String {
    let kind = json
        .pointer("/type/0/text")
        .or_else(|| json.pointer("/type/0/coding/0/display"))
        .or_else(|| json.pointer("/class/display"))
        .or_else(|| json.pointer("/class/code"))
        .and_then(Json::as_str)
        .unwrap_or("Encounter");
    let start = json
        .pointer("/period/start")
        .and_then(Json::as_str)
        .map(|s| s.get(..10).unwrap_or(s))
        .unwrap_or("undated");
    let status = json.get("status").and_then(Json::as_str).unwrap_or("unknown");
    format!("{start} · {kind} ({status})")
}

/// Approved apps of the practice that have a launch URL.
async fn launchable_apps<D: Database, P: Platform>(
    app: &App<D, P>,
    practice: &str,
) -> Result<Vec<Client>, ApiError> {
    let mut apps: Vec<Client> =
        store::list_clients(app.auth_db(), Some(practice), Some(store::ClientStatus::Approved))
            .await?
            .into_iter()
            .filter(|c| c.launch_uri.as_deref().is_some_and(|u| Url::parse(u).is_ok()))
            .filter(|c| c.grant_types.contains(&store::GrantType::AuthorizationCode))
            .collect();
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

async fn read_patient<D: Database, P: Platform>(
    app: &App<D, P>,
    practice: &str,
    id: &str,
) -> Result<Option<Json>, ApiError> {
    if !is_valid_id(id) {
        return Ok(None);
    }
    let db = app.shards.for_practice(practice);
    Ok(resources::read(db, practice, "Patient", id)
        .await?
        .map(|s| serde_json::from_str(&s.json).unwrap_or(Json::Null)))
}

/// `GET /ehr[?name=…][&patient=…]`: sign-in, or the patient list and, for a
/// chosen patient, the launch form.
pub async fn home<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let (csrf, fresh) = csrf_token(&app.platform, req);
    let user = match practitioner(app, req, &csrf).await? {
        Ok(u) => u,
        Err(page) => return Ok(with_csrf_cookie(page, req, &csrf, fresh)),
    };
    let q = req.query_pairs();
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let name = get("name");
    let chosen = get("patient");
    let practice = user.practice.clone();
    let db = app.shards.for_practice(&practice);
    let norm = name.map(normalize);
    let patients = store::patients_for_picker(db, &practice, norm.as_deref(), PATIENTS_SHOWN).await?;
    let chart = match chosen {
        None => html! { p class="muted" { "Choose a patient to open their chart and launch an app." } },
        Some(id) => match read_patient(app, &practice, id).await? {
            None => html! { p class="error" role="alert" { "That patient is not in this practice." } },
            Some(patient) => launch_form(app, &user, &csrf, id, &patient).await?,
        },
    };
    let page = page(
        200,
        "EHR",
        html! {
            div class="ehr-top" {
                h1 { "Flare EHR" }
                span class="muted" {
                    "Signed in as " (user.display_name.as_deref().unwrap_or(&user.username)) " (" (user.fhir_user) ") "
                    (signout_form(&csrf))
                }
            }
            form method="get" action="/ehr" role="search" {
                label for="name" { "Find a patient by name" }
                input type="search" id="name" name="name" value=(name.unwrap_or_default());
                button type="submit" class="secondary" { "Search" }
            }
            nav aria-label="Patients" {
                h2 { "Patients" }
                ul class="patients" {
                    @for (id, json) in &patients {
                        @let v: Json = serde_json::from_str(json).unwrap_or(Json::Null);
                        li {
                            a href={ "/ehr?patient=" (patient_query(id)) } aria-current=[(chosen == Some(id.as_str())).then_some("page")] {
                                (patient_name(&v))
                            }
                            " "
                            span class="muted" {
                                "· born " (v.get("birthDate").and_then(Json::as_str).unwrap_or("unknown"))
                                " · " (v.get("gender").and_then(Json::as_str).unwrap_or("unknown"))
                            }
                        }
                    }
                    @if patients.is_empty() { li { "No patients match." } }
                }
            }
            section aria-labelledby="chart-h" { h2 id="chart-h" { "Chart" } (chart) }
        },
    );
    Ok(with_csrf_cookie(page, req, &csrf, fresh))
}

async fn launch_form<D: Database, P: Platform>(
    app: &App<D, P>,
    user: &User,
    csrf: &str,
    id: &str,
    patient: &Json,
) -> Result<Markup, ApiError> {
    let db = app.shards.for_practice(&user.practice);
    let encounters = resources::in_compartment(db, &user.practice, id, "Encounter", ENCOUNTERS_SHOWN).await?;
    let apps = launchable_apps(app, &user.practice).await?;
    Ok(html! {
        (patient_banner(id, patient))
        @if apps.is_empty() {
            p { "No approved app with a launch URL is registered in this practice." }
        } @else {
            (Post::to("/ehr/launch", csrf).form(html! {
                (hidden("patient", id))
                fieldset {
                    legend { "Encounter" }
                    label class="scope" for="enc-none" {
                        input type="radio" id="enc-none" name="encounter" value="" checked;
                        " " span { "No encounter" }
                    }
                    @for (i, (eid, json)) in encounters.iter().enumerate() {
                        @let v: Json = serde_json::from_str(json).unwrap_or(Json::Null);
                        @let field_id = format!("enc-{i}");
                        label class="scope" for=(field_id) {
                            input type="radio" id=(field_id) name="encounter" value=(eid);
                            " " span { (encounter_label(&v)) " " code { "Encounter/" (eid) } }
                        }
                    }
                }
                fieldset {
                    legend { "App" }
                    @for (i, c) in apps.iter().enumerate() {
                        @let field_id = format!("app-{i}");
                        label class="scope" for=(field_id) {
                            input type="radio" id=(field_id) name="client_id" value=(c.client_id) checked[i == 0] required[i == 0];
                            " " span { (c.name) " " code { (c.launch_uri.as_deref().unwrap_or_default()) } }
                        }
                    }
                }
                fieldset {
                    legend { "Launch options" }
                    label class="scope" for="banner" {
                        input type="checkbox" id="banner" name="need_patient_banner" value="true";
                        " " span { "The app shows its own patient banner (" code { "need_patient_banner" } "; this EHR already shows one)" }
                    }
                    label class="scope" for="style" {
                        input type="checkbox" id="style" name="smart_style_url" value="true" checked;
                        " " span { "Send the EHR's style (" code { "smart_style_url" } ")" }
                    }
                }
                button type="submit" { "Launch app" }
            }))
        }
    })
}

/// `POST /ehr/signin`.
pub async fn signin<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let page = SignInPage {
        home: "/ehr",
        title: "EHR sign-in",
        form: signin_form,
        allowed: anyone,
    };
    posted_sign_in(app, req, &page).await
}

/// `POST /ehr/signout`.
pub async fn signout<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    check_csrf(req, &form(req))?;
    sign_out(app, req, "/ehr").await
}

/// The app's launch URL with `iss` and `launch` added to its query.
pub fn launch_url(launch_uri: &str, iss: &str, launch: &str) -> Option<Url> {
    let mut url = Url::parse(launch_uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.query_pairs_mut()
        .append_pair("iss", iss)
        .append_pair("launch", launch);
    Some(url)
}

/// `POST /ehr/launch`: creates the launch context and shows the app in an iframe.
pub async fn launch<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = form(req);
    check_csrf(req, &pairs)?;
    let (csrf, _) = csrf_token(&app.platform, req);
    let user = match practitioner(app, req, &csrf).await? {
        Ok(u) => u,
        Err(_) => return Err(ApiError::page(401, "sign in to the EHR first")),
    };
    let get = |k: &str| field(&pairs, k).map_err(|e| ApiError::page(400, e.message));
    let patient_id = get("patient")?.ok_or_else(|| ApiError::page(400, "choose a patient"))?;
    let patient = read_patient(app, &user.practice, patient_id)
        .await?
        .ok_or_else(|| ApiError::page(400, "that patient is not in this practice"))?;
    let client_id = get("client_id")?.ok_or_else(|| ApiError::page(400, "choose an app"))?;
    let client = launchable_apps(app, &user.practice)
        .await?
        .into_iter()
        .find(|c| c.client_id == client_id)
        .ok_or_else(|| {
            ApiError::page(
                400,
                "that app cannot be launched here (not approved, no launch URL, or another practice)",
            )
        })?;
    let encounter = get("encounter")?;
    if let Some(e) = encounter {
        let db = app.shards.for_practice(&user.practice);
        let subject = format!("Patient/{patient_id}");
        let theirs = is_valid_id(e)
            && resources::read(db, &user.practice, "Encounter", e)
                .await?
                .and_then(|r| serde_json::from_str::<Json>(&r.json).ok())
                .is_some_and(|v| {
                    v.pointer("/subject/reference").and_then(Json::as_str) == Some(subject.as_str())
                });
        if !theirs {
            return Err(ApiError::page(400, "that encounter is not one of this patient's"));
        }
    }
    let banner = get("need_patient_banner")? == Some("true");
    let style = get("smart_style_url")? == Some("true");
    let mut body = json!({
        "patient": patient_id,
        "need_patient_banner": banner,
        "smart_style_url": style,
    });
    if let Some(e) = encounter {
        body["encounter"] = json!(e);
        body["fhirContext"] = json!([format!("Encounter/{e}")]);
    }
    let (launch, _) = new_launch(app, req, &user, &client, &body).await?;
    let launch_uri = client.launch_uri.as_deref().unwrap_or_default();
    let src = launch_url(launch_uri, &req.fhir_base(), &launch)
        .ok_or_else(|| ApiError::page(400, "the app's launch URL is not an http(s) URL"))?;
    let mut origins = vec![src.origin().ascii_serialization()];
    origins.extend(
        client
            .redirect_uris
            .iter()
            .filter_map(|u| Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization()),
    );
    origins.sort();
    origins.dedup();
    let page = page(
        200,
        &format!("{} · EHR", client.name),
        html! {
            div class="ehr-top" {
                h1 { "Flare EHR" }
                span class="muted" {
                    "Signed in as " (user.display_name.as_deref().unwrap_or(&user.username)) " · "
                    a href={ "/ehr?patient=" (patient_query(patient_id)) } { "Back to the chart" }
                }
            }
            (patient_banner(patient_id, &patient))
            p class="muted" {
                "Running " strong { (client.name) }
                @if let Some(e) = encounter { " · encounter " code { (e) } }
            }
            iframe id="app-frame" name="app" title=(client.name) src=(src.as_str()) sandbox=(APP_FRAME_SANDBOX) {}
        },
    );
    Ok(with_frame_src(page, &origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_urls_keep_the_query_and_refuse_other_schemes() {
        let u = launch_url("http://app.example/launch.html?x=1", "http://ehr/fhir", "a&b").unwrap();
        assert_eq!(
            u.as_str(),
            "http://app.example/launch.html?x=1&iss=http%3A%2F%2Fehr%2Ffhir&launch=a%26b"
        );
        assert!(launch_url("javascript:alert(1)", "i", "l").is_none());
        assert!(launch_url("not a url", "i", "l").is_none());
    }
}
