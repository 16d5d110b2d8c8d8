//! `authorize()` and `ready()`: the launch state machine of
//! [`crate::launch`] driven with the browser's location, history, storage,
//! WebCrypto and `fetch`, plus the popup hand-over for EHR iframes whose
//! storage is blocked.

use std::cell::RefCell;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::client::Client;
use super::crypto;
use super::js::{now_ms, object, opt_text, set, stringify, to_js_error, window};
use super::net::{self, Call};
use super::storage::Store;
use crate::discovery;
use crate::error::{ErrorKind, SdkError};
use crate::id_token;
use crate::json::{text_at, Json};
use crate::launch::{self, LaunchOptions, PendingLaunch, Redirect};
use crate::pkce;
use crate::retry::RetryPolicy;
use crate::session::{self, Session};

/// Prefix of the popup window's name: its `ready()` hands the redirect to the opener.
const POPUP_NAME_PREFIX: &str = "flare-smart-popup:";
/// The message type of the popup hand-over.
const POPUP_MESSAGE: &str = "flare-smart:redirect";

thread_local! {
    /// Launches started in this document (the popup flow completes from here).
    static PENDING: RefCell<Vec<PendingLaunch>> = const { RefCell::new(Vec::new()) };
    /// Completions in progress by `state`, so a second `ready()` (React
    /// StrictMode runs effects twice) awaits the first instead of replaying
    /// the single-use code. Removed when the exchange ends.
    static IN_FLIGHT: RefCell<Vec<(String, Promise)>> = const { RefCell::new(Vec::new()) };
    /// The `state` of the latest completion started in this document: a
    /// `ready()` after the address bar was cleaned joins it.
    static LATEST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The completion in progress for `state`, if any.
fn in_flight(state: &str) -> Option<Promise> {
    IN_FLIGHT.with(|m| {
        m.borrow()
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, p)| p.clone())
    })
}

fn current_url() -> Result<String, SdkError> {
    window()?
        .location()
        .href()
        .map_err(|_| SdkError::launch("cannot read location.href"))
}

fn absolute(url: &str, base: &str) -> String {
    web_sys::Url::new_with_base(url, base)
        .map(|u| u.href())
        .unwrap_or_else(|_| url.to_string())
}

fn launch_options(value: &JsValue, page: &str) -> LaunchOptions {
    LaunchOptions {
        client_id: opt_text(value, "clientId").unwrap_or_default(),
        scope: opt_text(value, "scope").unwrap_or_default(),
        redirect_uri: opt_text(value, "redirectUri")
            .map(|r| absolute(&r, page))
            .unwrap_or_else(|| {
                // Default: this page without its query.
                page.split(['?', '#']).next().unwrap_or(page).to_string()
            }),
        iss: opt_text(value, "iss"),
        launch: opt_text(value, "launch"),
    }
}

/// Starts a launch; see the TypeScript docs of `authorize`.
pub async fn authorize(options: JsValue) -> Result<JsValue, SdkError> {
    let page = current_url()?;
    let entries: Vec<JsValue> = if js_sys::Array::is_array(&options) {
        options.elements()
    } else {
        vec![options]
    };
    let first = entries
        .first()
        .cloned()
        .ok_or_else(|| SdkError::launch("authorize() needs options"))?;
    let parsed: Vec<LaunchOptions> = entries.iter().map(|e| launch_options(e, &page)).collect();
    let plan = launch::plan(&parsed, &launch::url_params(&page))?;
    let target = opt_text(&first, "target").unwrap_or_else(|| "_self".into());
    let popup = target == "popup";
    let no_redirect = first.member("noRedirect").and_then(|v| v.as_bool()) == Some(true);
    let store = match Store::from_options(&first) {
        Ok(s) => s,
        // The popup hand-over needs no storage: the launch waits in memory.
        Err(e) if popup && e.kind == ErrorKind::StorageUnavailable => Store::Memory,
        Err(e) => return Err(e),
    };

    let config_json = net::get_public_json(&discovery::discovery_url(&plan.server)).await?;
    let config = discovery::parse(&config_json)?;
    let state = pkce::random_token(&crypto::random_bytes()?);
    let verifier = pkce::verifier(&crypto::random_bytes()?);
    let nonce = pkce::random_token(&crypto::random_bytes()?);
    let challenge = pkce::challenge(&crypto::sha256(verifier.as_bytes()).await?);
    let pending = PendingLaunch::new(&plan, &config, state.clone(), verifier, Some(nonce), now_ms());
    let url = pending.authorize_url(&config.authorization_endpoint, &challenge, plan.launch.as_deref());
    store.set(&launch::launch_key(&state), &pending.encode()).await?;
    PENDING.with(|p| p.borrow_mut().push(pending));

    if no_redirect {
        return Ok(JsValue::from_str(&url));
    }
    let w = window()?;
    match target.as_str() {
        "_self" => {
            w.location()
                .set_href(&url)
                .map_err(|_| SdkError::launch("cannot navigate"))?;
            Ok(JsValue::from_str(&url))
        }
        "popup" => {
            let name = format!("{POPUP_NAME_PREFIX}{state}");
            let features = "popup,width=520,height=720";
            let opened = w
                .open_with_url_and_target_and_features(&url, &name, features)
                .ok()
                .flatten();
            let popup = opened.ok_or_else(|| {
                SdkError::new(
                    ErrorKind::Popup,
                    "the popup was blocked: call authorize() from a click handler",
                )
            })?;
            let redirect = wait_for_popup(&popup, &state).await?;
            Ok(complete(&store, &redirect).await?.into())
        }
        other => {
            // "_top", "_parent" or a named frame.
            let opened = w.open_with_url_and_target(&url, other).ok().flatten();
            opened.ok_or_else(|| {
                SdkError::new(ErrorKind::Popup, format!("cannot open the launch in {other}"))
            })?;
            Ok(JsValue::from_str(&url))
        }
    }
}

/// A value filled in by a JS callback and taken out afterwards.
type Slot<T> = std::rc::Rc<RefCell<Option<T>>>;

/// Waits for the popup's redirect URL (posted by `ready()` in the popup), or
/// fails when the popup is closed first. Never waits forever.
async fn wait_for_popup(popup: &web_sys::Window, state: &str) -> Result<String, SdkError> {
    let w = window()?;
    let origin = w.location().origin().unwrap_or_default();
    let state = state.to_string();
    let popup = popup.clone();
    let listener_slot: Slot<Closure<dyn FnMut(web_sys::MessageEvent)>> = Default::default();
    let timer_slot: Slot<(i32, Closure<dyn FnMut()>)> = Default::default();
    let (ls, ts) = (listener_slot.clone(), timer_slot.clone());
    let promise = Promise::new(&mut move |resolve, reject| {
        let (origin, state) = (origin.clone(), state.clone());
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                let data = event.data();
                let url = data.member("url").and_then(|u| u.as_string()).unwrap_or_default();
                let is_ours = event.origin() == origin
                    && text_at(&data, "type").as_deref() == Some(POPUP_MESSAGE)
                    && launch::url_params(&url).state.as_deref() == Some(state.as_str());
                if is_ours {
                    let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str(&url));
                }
            });
        if let Some(w) = web_sys::window() {
            let _ = w.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
        }
        *ls.borrow_mut() = Some(on_message);
        let popup = popup.clone();
        let reject = reject.clone();
        let on_tick = Closure::<dyn FnMut()>::new(move || {
            if popup.closed().unwrap_or(true) {
                let e = SdkError::new(
                    ErrorKind::Popup,
                    "the sign-in popup was closed before the launch completed",
                );
                let _ = reject.call1(&JsValue::NULL, &to_js_error(e));
            }
        });
        if let Some(w) = web_sys::window() {
            if let Ok(id) = w
                .set_interval_with_callback_and_timeout_and_arguments_0(on_tick.as_ref().unchecked_ref(), 500)
            {
                *ts.borrow_mut() = Some((id, on_tick));
            }
        }
    });
    let result = JsFuture::from(promise).await;
    if let Some(listener) = listener_slot.borrow_mut().take() {
        let _ = w.remove_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
    }
    if let Some((id, _)) = timer_slot.borrow_mut().take() {
        w.clear_interval_with_handle(id);
    }
    match result {
        Ok(url) => Ok(url.as_string().unwrap_or_default()),
        Err(e) => Err(SdkError::new(
            ErrorKind::Popup,
            e.member("message")
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "popup failed".into()),
        )),
    }
}

/// Completes a launch or restores the session; see the TypeScript docs of `ready`.
pub async fn ready(options: JsValue) -> Result<Client, SdkError> {
    let page = current_url()?;
    let url = launch::url_params(&page);
    let redirect = launch::redirect(&url);
    let w = window()?;
    // In the sign-in popup: hand the redirect to the opener and close.
    let in_popup = w
        .name()
        .map(|n| n.starts_with(POPUP_NAME_PREFIX))
        .unwrap_or(false);
    if in_popup && redirect != Redirect::None {
        if let Ok(opener) = w.opener() {
            if let Ok(opener) = opener.dyn_into::<web_sys::Window>() {
                let message = object();
                set(&message, "type", &JsValue::from_str(POPUP_MESSAGE));
                set(&message, "url", &JsValue::from_str(&page));
                let origin = w.location().origin().unwrap_or_default();
                opener
                    .post_message(&message, &origin)
                    .map_err(|_| SdkError::launch("cannot reach the opener"))?;
                let _ = w.close();
                return Err(SdkError::new(
                    ErrorKind::Popup,
                    "the launch completes in the window that opened this popup",
                ));
            }
        }
    }
    let store = Store::from_options(&options);
    match redirect {
        Redirect::Code { .. } => complete(&store?, &page).await,
        Redirect::Error {
            state,
            error,
            description,
        } => {
            replace_url(&page);
            if let (Some(state), Ok(store)) = (state, &store) {
                store.remove(&launch::launch_key(&state)).await?;
            }
            Err(launch::redirect_error(&error, description.as_deref()))
        }
        Redirect::None => {
            let store = store?;
            if let Some(state) = LATEST.with(|l| l.borrow().clone()) {
                if let Some(running) = in_flight(&state) {
                    return finish(&store, &state, running).await;
                }
            }
            let state = match opt_text(&options, "state") {
                Some(s) => Some(s),
                None => store.get(launch::CURRENT_SESSION_KEY).await?,
            };
            let key = state.map(|s| launch::session_key(&s));
            let restored = match &key {
                Some(k) => store.get(k).await?.and_then(|text| Session::decode(&text)),
                None => None,
            };
            match restored {
                Some(session) => Ok(Client::new(session, store, key)),
                None => Err(SdkError::launch(
                    "no launch to complete and no session to restore: call authorize() first",
                )),
            }
        }
    }
}

fn replace_url(page: &str) {
    let clean = launch::strip_redirect_params(page);
    if clean != page {
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&clean));
        }
    }
}

/// Exchanges the code of redirect URL `page` once per `state`, even if
/// `ready()` runs twice.
async fn complete(store: &Store, page: &str) -> Result<Client, SdkError> {
    let Redirect::Code { code, state } = launch::redirect(&launch::url_params(page)) else {
        return Err(SdkError::launch("the redirect carries no code"));
    };
    let running = in_flight(&state);
    let promise = match running {
        Some(p) => p,
        None => {
            let (store2, state2) = (store.clone(), state.clone());
            let p = wasm_bindgen_futures::future_to_promise(async move {
                let result = exchange(&store2, &state2, &code).await;
                // Done: later ready() calls restore the stored session instead.
                IN_FLIGHT.with(|m| m.borrow_mut().retain(|(s, _)| *s != state2));
                match result {
                    Ok(session) => Ok(JsValue::from_str(&session.encode())),
                    Err(e) => Err(to_js_error(e)),
                }
            });
            IN_FLIGHT.with(|m| m.borrow_mut().push((state.clone(), p.clone())));
            LATEST.with(|l| *l.borrow_mut() = Some(state.clone()));
            replace_url(page);
            p
        }
    };
    finish(store, &state, promise).await
}

/// Waits for the completion `promise` of launch `state` and makes its client.
async fn finish(store: &Store, state: &str, promise: Promise) -> Result<Client, SdkError> {
    let key = launch::session_key(state);
    let encoded = JsFuture::from(promise).await.map_err(|e| {
        let message = e
            .member("message")
            .and_then(|m| m.as_string())
            .unwrap_or_default();
        let kind = match e.member("kind").and_then(|k| k.as_string()).as_deref() {
            Some("oauth") => ErrorKind::OAuth,
            Some("id_token") => ErrorKind::IdToken,
            Some("storage_unavailable") => ErrorKind::StorageUnavailable,
            Some("network") => ErrorKind::Network,
            _ => ErrorKind::Launch,
        };
        SdkError {
            status: e.member("status").and_then(|s| s.as_f64()).map(|s| s as u16),
            oauth_error: e.member("oauthError").and_then(|s| s.as_string()),
            ..SdkError::new(kind, message)
        }
    })?;
    let session = encoded
        .as_string()
        .and_then(|t| Session::decode(&t))
        .ok_or_else(|| SdkError::launch("bad session"))?;
    Ok(Client::new(session, store.clone(), Some(key)))
}

async fn exchange(store: &Store, state: &str, code: &str) -> Result<Session, SdkError> {
    let launch_key = launch::launch_key(state);
    let stored = store
        .get(&launch_key)
        .await?
        .and_then(|t| PendingLaunch::decode(&t));
    let pending = stored
        .or_else(|| PENDING.with(|p| p.borrow().iter().find(|l| l.state == state).cloned()))
        .ok_or_else(launch::unknown_state_error)?;
    store.remove(&launch_key).await?;
    PENDING.with(|p| p.borrow_mut().retain(|l| l.state != state));
    if !pending.is_live(now_ms()) {
        return Err(SdkError::launch("the launch expired; start it again"));
    }
    let body = pending.token_request(code);
    let answer = net::send(
        &Call::form_post(&pending.token_endpoint, &body),
        &RetryPolicy::default(),
    )
    .await?;
    if !answer.ok() {
        return Err(SdkError::from_oauth_response(answer.status, answer.json()));
    }
    let response = session::token_response(&answer.body)?;
    let fhir_context = answer.body.member("fhirContext").and_then(|c| stringify(&c));
    let fhir_user = match &response.id_token {
        Some(token) => verify_id_token(token, &pending).await?,
        None => None,
    };
    let session = Session::new(
        &pending.server,
        &pending.client_id,
        &pending.token_endpoint,
        &response,
        fhir_context,
        fhir_user,
        now_ms(),
    );
    store.set(&launch::session_key(state), &session.encode()).await?;
    store.set(launch::CURRENT_SESSION_KEY, state).await?;
    Ok(session)
}

/// Verifies an id_token (RS256 against the server's JWKS, then the claims)
/// and returns its `fhirUser`.
async fn verify_id_token(token: &str, pending: &PendingLaunch) -> Result<Option<String>, SdkError> {
    let parts = id_token::split(token)?;
    let header = super::js::parse_json(&parts.header_json);
    let kid = id_token::check_header(&header)?;
    let jwks_uri = pending.jwks_uri.as_deref().ok_or_else(|| {
        SdkError::new(
            ErrorKind::IdToken,
            "the server lists no jwks_uri to verify the id_token",
        )
    })?;
    let jwks = net::get_public_json(jwks_uri).await?;
    let key = id_token::select_key(&jwks, kid.as_deref())?;
    if !crypto::verify_rs256(&key, &parts.signature, parts.signing_input.as_bytes()).await? {
        return Err(SdkError::new(
            ErrorKind::IdToken,
            "id_token signature does not verify",
        ));
    }
    let claims = super::js::parse_json(&parts.payload_json);
    let mut issuers = vec![pending.server.as_str()];
    if let Some(i) = pending.issuer.as_deref() {
        issuers.push(i);
    }
    let expected = id_token::Expected {
        issuers,
        client_id: &pending.client_id,
        nonce: pending.nonce.as_deref(),
        now_s: now_ms() / 1000.0,
    };
    Ok(id_token::validate(&claims, &expected)?.fhir_user)
}

/// Whether storage works here, for apps that choose a launch target up front.
pub fn storage_available() -> bool {
    Store::from_options(&JsValue::UNDEFINED).is_ok()
}
