//! A Rust web app with no JavaScript of its own: plain wasm-bindgen and
//! web-sys (no framework) over `flare-sdk` used as a crate, without the
//! `npm` feature. Its page is `examples/rust_app/index.html`: markup and the
//! wasm-bindgen loader line only.
//!
//! # Rust web apps
//!
//! Depend on `flare-sdk` (no features) and drive the launch from Rust:
//!
//! - on load with `iss` and `launch` in the address (an EHR launch), the app
//!   calls [`flare_sdk::web::authorize`] at once with its client and scopes
//!   and no `iss` of its own: the SDK takes the address's `iss` (also sent as
//!   `aud`) and `launch`, and adds the `launch` scope;
//! - the same in an EHR's iframe on another site, where the browser gives the
//!   frame no storage ([`flare_sdk::web::storage_available`] is false): the
//!   app shows a "Connect" button (`#connect`) whose click handler calls
//!   `authorize` synchronously (a browser opens a popup only within the
//!   click) with `Target::popup()` and `Storage::Memory`; the popup signs in
//!   (first party: the EHR's session carries), its `ready()` hands the
//!   redirect to the frame and fails with kind `popup` (the popup shows
//!   nothing alarming and closes), and `authorize` gives
//!   `Launched::Client` in the frame, which then runs the same result flow
//!   as after a redirect;
//! - on load without `code` in the address, [`flare_sdk::web::ready`]
//!   restores the session of an earlier launch in this tab (after a reload);
//!   when there is none it fails with kind `launch` and the app offers a
//!   "Sign in" button whose click calls [`flare_sdk::web::authorize`]
//!   (a standalone launch: `iss` is the FHIR base; the authorization page
//!   opens in this window);
//! - on the redirect back, `ready()` exchanges the code (and removes `code`
//!   and `state` from the address bar); the [`flare_sdk::web::WebClient`] it
//!   gives then reads and searches with the typed builders of
//!   [`flare_sdk::params`], pages as a `Stream` (`pages_of`), everything
//!   within limits (`search_all`), `_include`s attached to their matches
//!   (`SearchPage::referenced`), references resolved (`resolve`), typed
//!   errors (`SdkError { kind, status, .. }`) and `refresh()`. Then two
//!   buttons: "Read again" (`#read-again`) reads the patient once more (after
//!   the patient revoked the app in the portal: an error of kind `fhir`,
//!   status 401), "Burst of reads" (`#burst`) reads the patient in waves of
//!   concurrent reads (`futures_util::future::join_all`) and counts
//!   successes and typed 429s with their `retry_after`.
//!
//! The page carries its configuration as data attributes of `<body>`:
//! `data-client-id` (the client registered with the server, its redirect URI
//! being this page's address without query), `data-iss` (the FHIR base) and
//! `data-scope`. The app keeps its own `#[global_allocator]` (the SDK brings
//! none without `npm`).
//!
//! Build (scripts/build-sdk.sh does this into `target/sdk-rust-app/`):
//!
//! ```text
//! cargo build -p flare-sdk --example rust_app --target wasm32-unknown-unknown --profile sdk
//! wasm-bindgen --target web --out-dir target/sdk-rust-app \
//!     target/wasm32-unknown-unknown/sdk/examples/rust_app.wasm
//! cp sdk/examples/rust_app/index.html target/sdk-rust-app/
//! ```
//!
//! For the end-to-end tests (`sdk::rust_app_standalone_launch_against_the_edge`
//! and `sdk::rust_app_ehr_launch_against_the_edge` in tests/sdk/main.rs, and
//! `demo::rust_app_ehr_launch_in_an_iframe` in tests/demo/main.rs) the
//! app leaves a JSON summary of the launch in `window.__result` (with the
//! launch context: `encounter`, `needPatientBanner`, `smartStyleUrl`,
//! `fhirContext`), the buttons' outcomes in `window.__readAgain` and
//! `window.__burst`, and after a reload `{ patient }` in `window.__restored`.
//! `tests/no_npm_feature.rs` builds it too: it links only if the SDK brings no
//! global allocator of its own, and its exports are the app's.

#[cfg(target_arch = "wasm32")]
mod app {
    use futures_util::StreamExt;
    use serde_json::{json, Map, Value};
    use wasm_bindgen::prelude::*;
    use web_sys::{Document, Element, HtmlElement};

    use flare_sdk::params::{
        MedicationRequestInclude, MedicationRequestSearch, ObservationRevinclude, ObservationSearch,
        ObservationSort, Raw, SearchParams,
    };
    use flare_sdk::runtime::{FhirRequest, Limits};
    use flare_sdk::web::{
        authorize, ready, storage_available, AuthorizeOptions, Launched, ReadyOptions, Server, Storage,
        Target, WebClient,
    };
    use flare_sdk::{ErrorKind, SdkError};

    /// The app's own allocator: the SDK brings none (with or without `npm`),
    /// so this links only if that stays true.
    #[global_allocator]
    static ALLOCATOR: std::alloc::System = std::alloc::System;

    /// The app's own export: the URL of a patient's vital signs, checked
    /// against the search-parameter registry by the SDK.
    #[wasm_bindgen]
    pub fn vital_signs_url(base: &str, patient: &str) -> Result<String, JsError> {
        let params = [
            ("patient".to_string(), patient.to_string()),
            ("category".to_string(), "vital-signs".to_string()),
        ];
        flare_sdk::search::search_url(base, "Observation", &params).map_err(|e| JsError::new(&e.message))
    }

    /// What the page says about the server (`<body data-…>`).
    struct Config {
        client_id: String,
        iss: String,
        scope: String,
    }

    impl Config {
        fn read(body: &Element) -> Result<Config, String> {
            let attribute = |name: &str| {
                body.get_attribute(name)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| format!("the page has no <body {name}>"))
            };
            Ok(Config {
                client_id: attribute("data-client-id")?,
                iss: attribute("data-iss")?,
                scope: attribute("data-scope")?,
            })
        }
    }

    /// The page's parts.
    struct Page {
        document: Document,
        window: web_sys::Window,
        body: HtmlElement,
        status: Element,
        content: Element,
    }

    impl Page {
        fn get() -> Result<Page, JsValue> {
            let window = web_sys::window().ok_or("no window")?;
            let document = window.document().ok_or("no document")?;
            let body = document.body().ok_or("no <body>")?;
            let by_id = |id: &str| -> Result<Element, JsValue> {
                match document.get_element_by_id(id) {
                    Some(e) => Ok(e),
                    None => {
                        let e = document.create_element("div")?;
                        e.set_id(id);
                        body.append_child(&e)?;
                        Ok(e)
                    }
                }
            };
            let status = by_id("status")?;
            let content = by_id("content")?;
            Ok(Page {
                document,
                window,
                body,
                status,
                content,
            })
        }

        fn say(&self, text: &str) {
            self.status.set_text_content(Some(text));
        }

        /// Appends `<tag>text</tag>` to `parent`.
        fn add(&self, parent: &Element, tag: &str, text: &str) -> Result<Element, JsValue> {
            let e = self.document.create_element(tag)?;
            e.set_text_content(Some(text));
            parent.append_child(&e)?;
            Ok(e)
        }

        /// Sets `window[name]` to the JSON value `value` (a JS object).
        fn set_global(&self, name: &str, value: &Value) -> Result<(), JsValue> {
            set_global(&self.window, name, value)
        }

        /// The address, `location.href`.
        fn address(&self) -> String {
            self.window.location().href().unwrap_or_default()
        }

        /// The query parameters of the address.
        fn query(&self) -> Vec<(String, String)> {
            let search = self.window.location().search().unwrap_or_default();
            form_urlencoded::parse(search.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect()
        }

        /// Whether the address carries an authorization response (`code` or `error`).
        fn is_redirect(&self) -> bool {
            self.query().iter().any(|(k, _)| k == "code" || k == "error")
        }

        /// The `iss` of an EHR launch: the address carries `iss` and `launch`.
        fn ehr_launch(&self) -> Option<String> {
            let query = self.query();
            let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            get("launch").and(get("iss"))
        }
    }

    /// Sets `window[name]` to the JSON value `value` (a JS object).
    fn set_global(window: &web_sys::Window, name: &str, value: &Value) -> Result<(), JsValue> {
        let object = js_sys::JSON::parse(&value.to_string())?;
        js_sys::Reflect::set(window, &JsValue::from_str(name), &object)?;
        Ok(())
    }

    #[wasm_bindgen(start)]
    pub fn app_main() {
        wasm_bindgen_futures::spawn_local(async {
            if let Err(e) = run().await {
                web_sys::console::error_1(&e);
                if let Ok(page) = Page::get() {
                    page.say(&format!(
                        "error: {}",
                        e.as_string().unwrap_or_else(|| format!("{e:?}"))
                    ));
                }
            }
        });
    }

    async fn run() -> Result<(), JsValue> {
        let page = Page::get()?;
        let config = Config::read(&page.body)?;
        if page.is_redirect() {
            return after_redirect(&page).await;
        }
        if let Some(iss) = page.ehr_launch() {
            // An EHR launch. The server entry names no `iss`, so the SDK
            // takes the address's `iss` (and `launch`).
            let server = Server {
                client_id: config.client_id,
                scope: config.scope,
                ..Server::default()
            };
            if !storage_available() {
                // A frame of another site than the EHR's: no storage, so the
                // launch runs in a popup, which a browser opens only in a click.
                page.say(&format!(
                    "launched from {iss}: this EHR keeps apps in its frame from storing anything, \
                     so signing in opens in a small window"
                ));
                return connect_button(&page, server);
            }
            // Authorize at once, in this window (or frame).
            page.say(&format!("launched from {iss}: going to the sign-in page …"));
            let options = AuthorizeOptions {
                servers: vec![server],
                target: Target::SameWindow,
                ..AuthorizeOptions::default()
            };
            if let Err(e) = authorize(options).await {
                page.say(&format!("authorize failed: {e}"));
                page.set_global("__result", &failure(&e))?;
            }
            return Ok(());
        }
        page.say("restoring the session …");
        match ready(ReadyOptions::default()).await {
            Ok(client) => {
                let patient = client.patient().unwrap_or_default();
                page.say(&format!("session restored: Patient/{patient}"));
                page.set_global("__restored", &json!({ "patient": patient }))?;
                page.add(
                    &page.content,
                    "p",
                    &format!("Signed in as {}", client.user().unwrap_or_default()),
                )?;
                let name = match client.read("Patient", &patient).await {
                    Ok(p) => format!(
                        "Patient: {} {}",
                        p["name"][0]["given"][0].as_str().unwrap_or_default(),
                        p["name"][0]["family"].as_str().unwrap_or_default()
                    ),
                    Err(e) => format!("cannot read the patient: {e}"),
                };
                page.add(&page.content, "p", &name)?;
                Ok(())
            }
            Err(e) => {
                // Kind `launch`: no session in this tab yet.
                page.say(&match e.kind {
                    ErrorKind::Launch => "not signed in".to_string(),
                    _ => format!("cannot restore the session ({}): {}", e.kind.as_str(), e.message),
                });
                sign_in_button(&page, config)
            }
        }
    }

    /// The "Sign in" button: its click starts a standalone launch in this window.
    fn sign_in_button(page: &Page, config: Config) -> Result<(), JsValue> {
        let button = page.add(&page.content, "button", "Sign in")?;
        button.set_id("sign-in");
        let status = page.status.clone();
        let on_click = Closure::<dyn FnMut()>::new(move || {
            let options = AuthorizeOptions {
                servers: vec![Server {
                    client_id: config.client_id.clone(),
                    scope: config.scope.clone(),
                    iss: Some(config.iss.clone()),
                    ..Server::default()
                }],
                target: Target::SameWindow,
                ..AuthorizeOptions::default()
            };
            status.set_text_content(Some("going to the sign-in page …"));
            let status = status.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = authorize(options).await {
                    status.set_text_content(Some(&format!("authorize failed: {e}")));
                }
            });
        });
        button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())?;
        // The button lives as long as the page.
        on_click.forget();
        Ok(())
    }

    /// The "Connect" button of an EHR launch in a frame without storage: its
    /// click calls [`authorize`] at once (so the popup opens within the
    /// click's user activation) with a popup target and the page's memory as
    /// storage; the launch completes here, in the frame, and the result flow
    /// runs as after a redirect.
    fn connect_button(page: &Page, server: Server) -> Result<(), JsValue> {
        let button = page.add(&page.content, "button", "Connect to the health record")?;
        button.set_id("connect");
        let on_click = Closure::<dyn FnMut()>::new({
            let button = button.clone();
            move || {
                let _ = button.set_attribute("disabled", "");
                let launching = authorize(AuthorizeOptions {
                    servers: vec![server.clone()],
                    target: Target::popup(),
                    storage: Storage::Memory,
                    ..AuthorizeOptions::default()
                });
                let button = button.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let Ok(page) = Page::get() else { return };
                    page.say("signing in in the popup …");
                    let outcome = match launching.await {
                        Ok(Launched::Client(client)) => {
                            button.remove();
                            Ok(client)
                        }
                        Ok(_) => Err(SdkError::launch("the popup launch ended without a client")),
                        Err(e) => {
                            let _ = button.remove_attribute("disabled");
                            Err(e)
                        }
                    };
                    if let Err(e) = show_result(&page, outcome).await {
                        web_sys::console::error_1(&e);
                    }
                });
            }
        });
        button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())?;
        // The button lives as long as the page.
        on_click.forget();
        Ok(())
    }

    /// The redirect back: complete the launch, query, render, summarise. In
    /// the sign-in popup of a frame's launch, `ready()` hands the redirect to
    /// the frame and fails with kind `popup`: nothing to show here, the popup
    /// is about to close.
    async fn after_redirect(page: &Page) -> Result<(), JsValue> {
        page.say("completing the launch …");
        match ready(ReadyOptions::default()).await {
            Err(e) if e.kind == ErrorKind::Popup => {
                page.say("signed in: back to the app …");
                Ok(())
            }
            launched => show_result(page, launched).await,
        }
    }

    /// The result flow once a launch completed (or failed): query, render,
    /// summarise in `window.__result`.
    async fn show_result(page: &Page, launched: Result<WebClient, SdkError>) -> Result<(), JsValue> {
        let mut signed_in = None;
        let summary = match launched {
            Ok(client) => match queries(page, &client).await {
                Ok(mut r) => {
                    r.insert("ok".into(), true.into());
                    page.say("signed in");
                    signed_in = Some(client);
                    Value::Object(r)
                }
                Err(e) => failure(&e),
            },
            Err(e) => failure(&e),
        };
        if let Some(client) = signed_in {
            more_buttons(page, client)?;
        }
        if summary["ok"] != true {
            page.say(&format!(
                "failed: {}",
                summary["message"].as_str().unwrap_or_default()
            ));
        }
        page.add(
            &page.content,
            "pre",
            &serde_json::to_string_pretty(&summary).unwrap_or_default(),
        )?
        .set_id("out");
        page.set_global("__result", &summary)
    }

    fn failure(e: &SdkError) -> Value {
        json!({ "ok": false, "kind": e.kind.as_str(), "message": e.message, "status": e.status })
    }

    fn ids<'a>(resources: impl Iterator<Item = &'a Value>) -> Vec<String> {
        resources
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect()
    }

    /// One line of the lab list: id, code text and LOINC code, value, date.
    fn lab_line(o: &Value) -> String {
        let code = &o["code"];
        format!(
            "{}: {} ({}) {} {} on {}",
            o["id"].as_str().unwrap_or("?"),
            code["text"].as_str().unwrap_or("?"),
            code["coding"][0]["code"].as_str().unwrap_or("?"),
            o["valueQuantity"]["value"],
            o["valueQuantity"]["unit"].as_str().unwrap_or(""),
            o["effectiveDateTime"].as_str().unwrap_or("?"),
        )
    }

    /// What the app does once signed in; the summary for `window.__result`.
    async fn queries(page: &Page, client: &WebClient) -> Result<Map<String, Value>, SdkError> {
        let mut r = Map::new();
        let patient = client
            .patient()
            .ok_or_else(|| SdkError::launch("the launch gave no patient"))?;
        r.insert("addressBar".into(), page.address().into());
        r.insert("patient".into(), patient.clone().into());
        r.insert("user".into(), client.user().into());
        r.insert("fhirUser".into(), client.fhir_user().into());
        r.insert("scopes".into(), client.scopes().into());
        r.insert("canRefresh".into(), client.can_refresh().into());
        // The launch context (an EHR launch gives more than the patient).
        r.insert("encounter".into(), client.encounter().into());
        r.insert("needPatientBanner".into(), client.need_patient_banner().into());
        r.insert("smartStyleUrl".into(), client.smart_style_url().into());
        r.insert("fhirContext".into(), client.fhir_context());

        let me = client.read("Patient", &patient).await?;
        let family = me["name"][0]["family"].as_str().unwrap_or_default().to_string();
        let given = me["name"][0]["given"][0].as_str().unwrap_or_default();
        page.add(
            &page.content,
            "h2",
            &format!("{given} {family} (Patient/{patient})"),
        )
        .map_err(dom)?;
        r.insert("patientFamily".into(), family.into());

        // Any other request: the server's CapabilityStatement.
        let metadata = client.request(FhirRequest::get("metadata")).await?;
        r.insert(
            "fhirVersion".into(),
            metadata
                .body
                .as_ref()
                .map_or(Value::Null, |b| b["fhirVersion"].clone()),
        );

        // The patient's lab results, newest first, two per page.
        let labs = || {
            ObservationSearch::new()
                .patient(patient.as_str())
                .category("laboratory")
                .sort_desc(ObservationSort::Date)
                .count(2)
        };
        let first = client.search(labs()).await?;
        r.insert("firstLabPage".into(), ids(first.resources()).into());
        r.insert("labsHasNext".into(), first.next.is_some().into());

        // Every page, as a Stream.
        let mut sizes = Vec::new();
        let mut streamed = Vec::new();
        let mut pages = Box::pin(client.pages_of(labs(), 10));
        while let Some(page) = pages.next().await {
            let page = page?;
            sizes.push(page.resources().len());
            streamed.extend(page.resources().cloned());
        }
        r.insert("labPageSizes".into(), sizes.into());

        // Everything within limits, and a search cut by them.
        let mut pages_seen = 0;
        let all = client
            .search_all(
                "Observation",
                &labs().into_pairs(),
                Limits {
                    max_resources: 100,
                    max_pages: 10,
                },
                |_| pages_seen += 1,
            )
            .await?;
        r.insert("allLabs".into(), ids(all.iter()).into());
        r.insert("allLabsPages".into(), pages_seen.into());
        let capped = client
            .search_all(
                "Observation",
                &labs().into_pairs(),
                Limits {
                    max_resources: 3,
                    max_pages: 1,
                },
                |_| (),
            )
            .await?;
        r.insert("labsWithinOnePage".into(), ids(capped.iter()).into());

        page.add(&page.content, "h3", "Laboratory, newest first")
            .map_err(dom)?;
        let list = page.add(&page.content, "ul", "").map_err(dom)?;
        list.set_id("labs");
        for o in &streamed {
            let item = page.add(&list, "li", &lab_line(o)).map_err(dom)?;
            item.set_attribute("data-id", o["id"].as_str().unwrap_or_default())
                .map_err(dom)?;
        }

        // Provenance of the lab results (`_revinclude`).
        let with_provenance = client
            .search(
                ObservationSearch::new()
                    .patient(patient.as_str())
                    .category("laboratory")
                    .revinclude(ObservationRevinclude::ProvenanceTarget),
            )
            .await?;
        let revincluded: Vec<String> = with_provenance
            .resources()
            .enumerate()
            .flat_map(|(i, o)| {
                let id = o["id"].as_str().unwrap_or_default().to_string();
                with_provenance
                    .revincluded(i)
                    .into_iter()
                    .map(move |p| format!("{id}<-{}", p["id"].as_str().unwrap_or_default()))
            })
            .collect();
        r.insert("revincluded".into(), revincluded.into());

        // Medication orders with their medication (`_include`).
        let meds = client
            .search(
                MedicationRequestSearch::new()
                    .patient(patient.as_str())
                    .include(MedicationRequestInclude::Medication),
            )
            .await?;
        let included = meds.resources().next().and_then(|rx| {
            let reference = rx["medicationReference"]["reference"].as_str()?;
            meds.referenced(0, reference)
        });
        r.insert(
            "includedMedication".into(),
            included.map_or(Value::Null, |m| m["id"].clone()),
        );
        let medication_text = included
            .and_then(|m| m["code"]["coding"][0]["code"].as_str())
            .map(|c| format!("Medication: RxNorm {c}"))
            .unwrap_or_else(|| "Medication: none".into());
        page.add(&page.content, "p", &medication_text).map_err(dom)?;

        // The same orders without `_include`: their references resolved.
        let bare = client
            .search(MedicationRequestSearch::new().patient(patient.as_str()))
            .await?;
        let orders: Vec<Value> = bare.resources().cloned().collect();
        let resolved = client
            .resolve(
                &orders,
                &["medicationReference".to_string(), "subject".to_string()],
                &[],
            )
            .await?;
        let medication_reference = orders
            .first()
            .and_then(|o| o["medicationReference"]["reference"].as_str());
        r.insert(
            "resolvedMedication".into(),
            resolved
                .iter()
                .find(|x| Some(x.reference.as_str()) == medication_reference)
                .map_or(Value::Null, |x| x.target["id"].clone()),
        );
        r.insert("resolved".into(), resolved.len().into());

        // Errors are typed: a parameter the registry does not know (through
        // `Raw`; the typed builders do not compile with it) fails before any
        // request, another patient's record is a 404 of the server.
        let unknown = client
            .search(
                Raw::new("Observation")
                    .param("patient", patient.as_str())
                    .param("colour", "red"),
            )
            .await;
        r.insert(
            "unknownParam".into(),
            match unknown {
                Ok(_) => "accepted".into(),
                Err(e) => json!({ "kind": e.kind.as_str(), "status": e.status }),
            },
        );
        r.insert(
            "otherPatient".into(),
            match client.read("Patient", "someone-else").await {
                Ok(_) => "readable".into(),
                Err(e) => json!({ "kind": e.kind.as_str(), "status": e.status }),
            },
        );

        // A new access token from the refresh token.
        if client.can_refresh() {
            let before = client.access_token();
            client.refresh().await?;
            r.insert("refreshedToken".into(), (client.access_token() != before).into());
            r.insert(
                "afterRefresh".into(),
                client.read("Patient", &patient).await?["id"].clone(),
            );
        } else {
            r.insert(
                "refreshedToken".into(),
                match client.refresh().await {
                    Ok(()) => "refreshed".into(),
                    Err(e) => e.kind.as_str().into(),
                },
            );
        }
        Ok(r)
    }

    /// Reads of the patient a burst fires at most. The edge throttles each
    /// client after 3000 FHIR requests in its 60 s window, which a browser
    /// does not reach against `wrangler dev` (about 26 reads/s measured, 50/s
    /// needed), so the e2e burst stays well below it and checks that every
    /// read succeeds once, without retries.
    const BURST_MAX: usize = 256;
    /// Reads in flight at once (`join_all` of one wave).
    const BURST_WAVE: usize = 64;

    /// Two buttons once signed in, each leaving its outcome in a `window`
    /// global: `#read-again` reads the patient again (`window.__readAgain`,
    /// a typed error once the grant is revoked), `#burst` reads the patient
    /// in waves of concurrent reads until the server throttles
    /// (`window.__burst`).
    fn more_buttons(page: &Page, client: WebClient) -> Result<(), JsValue> {
        let patient = client.patient().unwrap_or_default();
        let read_again = page.add(&page.content, "button", "Read again")?;
        read_again.set_id("read-again");
        let (c, p, window) = (client.clone(), patient.clone(), page.window.clone());
        let on_read = Closure::<dyn FnMut()>::new(move || {
            let (client, patient, window) = (c.clone(), p.clone(), window.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = match client.read("Patient", &patient).await {
                    Ok(p) => json!({ "ok": true, "id": p["id"] }),
                    Err(e) => failure(&e),
                };
                let _ = set_global(&window, "__readAgain", &outcome);
            });
        });
        read_again.add_event_listener_with_callback("click", on_read.as_ref().unchecked_ref())?;
        on_read.forget();

        let burst_button = page.add(&page.content, "button", "Burst of reads")?;
        burst_button.set_id("burst");
        let window = page.window.clone();
        let on_burst = Closure::<dyn FnMut()>::new(move || {
            let (client, patient, window) = (client.clone(), patient.clone(), window.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = burst(&client, &patient, &window).await;
                let _ = set_global(&window, "__burst", &outcome);
            });
        });
        burst_button.add_event_listener_with_callback("click", on_burst.as_ref().unchecked_ref())?;
        on_burst.forget();
        Ok(())
    }

    /// Reads `Patient/{patient}` in waves of [`BURST_WAVE`] concurrent reads
    /// (`join_all`) until a wave has a 429 or [`BURST_MAX`] reads are done:
    /// how many succeeded, how many came back as typed 429 errors (with their
    /// `retry_after`), other errors, and how long the slowest 429 took (the
    /// SDK waits out a `Retry-After` of at most 10 s before retrying; the
    /// edge asks for 60 s, so a 429 comes back at once).
    async fn burst(client: &WebClient, patient: &str, window: &web_sys::Window) -> Value {
        let started = js_sys::Date::now();
        let (mut reads, mut ok, mut waves) = (0usize, 0usize, 0usize);
        let mut throttled = Vec::new();
        let mut other = Vec::new();
        let mut slowest_throttled_ms: f64 = 0.0;
        while reads < BURST_MAX && throttled.is_empty() {
            let wave = (0..BURST_WAVE).map(|_| async move {
                let at = js_sys::Date::now();
                let r = client.read("Patient", patient).await;
                (r, js_sys::Date::now() - at)
            });
            for (r, ms) in futures_util::future::join_all(wave).await {
                match r {
                    Ok(_) => ok += 1,
                    Err(e) if e.kind == ErrorKind::Fhir && e.status == Some(429) => {
                        slowest_throttled_ms = slowest_throttled_ms.max(ms);
                        throttled.push(e.retry_after);
                    }
                    Err(e) => other.push(failure(&e)),
                }
            }
            reads += BURST_WAVE;
            waves += 1;
            let progress = json!({
                "reads": reads, "ok": ok, "throttled": throttled.len(),
                "ms": (js_sys::Date::now() - started).round(),
            });
            let _ = set_global(window, "__burstProgress", &progress);
        }
        let mut retry_after: Vec<Value> = Vec::new();
        for r in &throttled {
            let v = json!(r);
            if !retry_after.contains(&v) {
                retry_after.push(v);
            }
        }
        json!({
            "reads": reads,
            "waves": waves,
            "ok": ok,
            "throttled": throttled.len(),
            "retryAfter": retry_after,
            "otherErrors": other,
            "slowestThrottledMs": slowest_throttled_ms.round(),
            "ms": (js_sys::Date::now() - started).round(),
        })
    }

    /// A DOM failure as an SDK error (it ends the summary with `ok: false`).
    fn dom(e: JsValue) -> SdkError {
        SdkError::new(ErrorKind::Protocol, format!("DOM: {e:?}"))
    }
}
