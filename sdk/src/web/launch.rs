//! SMART App Launch in the browser, for Rust web apps (and under the npm
//! package): [`authorize`] starts a standalone or EHR launch, [`ready`]
//! completes it on the redirect page (or restores the session after a
//! reload), [`open_server`] and [`with_token`] make clients without a launch.

use std::future::Future;
use std::rc::Rc;

use futures_util::future::{ready as done, Either};

use crate::error::{ErrorKind, SdkError};
use crate::launch::{self, LaunchOptions, Redirect};
use crate::runtime::abort::AbortHandle;
use crate::runtime::platform::Store;
use crate::runtime::{Client, Runtime};
use crate::session::Session;
use crate::web::platform::WebPlatform;
use crate::web::store::{memory, SessionStore};
use crate::web::window;
use flare_core::smart::wire::TokenResponse;

/// A client in the browser.
pub type WebClient = Client<WebPlatform>;

thread_local! {
    static RUNTIME: Rc<Runtime<WebPlatform>> = Runtime::new(WebPlatform);
}

/// The page's runtime (one per page: its launches and code exchanges).
pub fn runtime() -> Rc<Runtime<WebPlatform>> {
    RUNTIME.with(Rc::clone)
}

/// Where the launch keeps its records.
#[derive(Clone, Default)]
pub enum Storage {
    /// The tab's sessionStorage (the default; probed, so a blocked one fails at once).
    #[default]
    Session,
    /// The page's memory: the launch must complete in this page (a popup).
    Memory,
    /// The app's own store, which it says the redirect page can read.
    Custom(Rc<dyn Store>),
}

/// Where the authorization page opens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// This window (the default).
    #[default]
    SameWindow,
    /// The whole tab; from a frame the launch restarts at the top level.
    Top,
    /// A popup of this size; the launch completes here, without storage.
    Popup {
        /// Width in CSS pixels.
        width: u32,
        /// Height in CSS pixels.
        height: u32,
    },
    /// A named window or frame.
    Named(String),
}

impl Target {
    /// A popup of the default size (520 × 720).
    pub fn popup() -> Target {
        Target::Popup {
            width: 520,
            height: 720,
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::SameWindow => "_self",
            Target::Top => "_top",
            Target::Popup { .. } => "popup",
            Target::Named(n) => n,
        }
    }
}

/// One server the app can launch against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Server {
    /// The app's client id there.
    pub client_id: String,
    /// Scopes, space-separated.
    pub scope: String,
    /// The registered redirect URI (default: this page without query and fragment).
    pub redirect_uri: Option<String>,
    /// The FHIR base (required for a standalone launch).
    pub iss: Option<String>,
    /// An EHR launch id given explicitly.
    pub launch: Option<String>,
}

/// What [`authorize`] needs.
#[derive(Clone, Default)]
pub struct AuthorizeOptions {
    /// The servers (an EHR launch picks the one its `iss` names).
    pub servers: Vec<Server>,
    /// Where the authorization page opens.
    pub target: Target,
    /// Return the authorization URL without opening it.
    pub no_redirect: bool,
    /// Where the launch is kept.
    pub storage: Storage,
}

/// How [`authorize`] ended.
pub enum Launched {
    /// This window (or the named target) is on its way to the authorization page.
    Redirecting(String),
    /// The authorization URL (`no_redirect`).
    Url(String),
    /// The launch restarts at the top level of the tab (`_top` from a frame).
    RestartingAtTop(String),
    /// The popup launch completed: the client.
    Client(WebClient),
}

/// What [`ready`] needs.
#[derive(Clone, Default)]
pub struct ReadyOptions {
    /// Where the launch was kept.
    pub storage: Storage,
    /// Restore the session of this launch `state` (several in one tab).
    pub state: Option<String>,
}

fn store_of(storage: &Storage) -> Result<Rc<dyn Store>, SdkError> {
    Ok(match storage {
        Storage::Session => Rc::new(SessionStore::open()?),
        Storage::Memory => memory(),
        Storage::Custom(s) => s.clone(),
    })
}

/// Whether sessionStorage can be used here.
pub fn storage_available() -> bool {
    SessionStore::open().is_ok()
}

/// Starts a launch. A popup is opened now, in the caller's task (browsers
/// allow one only while the click's user activation lasts), and sent to the
/// authorization page once its URL is known; it is closed if the launch fails
/// before.
pub fn authorize(options: AuthorizeOptions) -> impl Future<Output = Result<Launched, SdkError>> {
    let popup = match options.target {
        Target::Popup { width, height } if !options.no_redirect => {
            let features = format!("popup,width={width},height={height}");
            match window::open("", "_blank", &features) {
                Some(w) => Some(w),
                None => {
                    return Either::Left(done(Err(SdkError::new(
                        ErrorKind::Popup,
                        "the popup was blocked: call authorize() from a click handler",
                    ))))
                }
            }
        }
        _ => None,
    };
    Either::Right(authorize_in(options, popup))
}

/// [`authorize`] with a popup the caller already opened in the click (the
/// npm package's entry module does so while the wasm loads).
pub async fn authorize_in(
    options: AuthorizeOptions,
    popup: Option<web_sys::Window>,
) -> Result<Launched, SdkError> {
    let result = start(options, popup.clone()).await;
    if result.is_err() {
        if let Some(p) = popup {
            let _ = p.close();
        }
    }
    result
}

async fn start(options: AuthorizeOptions, popup: Option<web_sys::Window>) -> Result<Launched, SdkError> {
    let page = window::page_url();
    let page_base = page.split(['?', '#']).next().unwrap_or_default().to_string();
    if options.servers.is_empty() {
        return Err(SdkError::launch("authorize() needs options"));
    }
    let entries: Vec<LaunchOptions> = options
        .servers
        .iter()
        .map(|s| LaunchOptions {
            client_id: s.client_id.clone(),
            scope: s.scope.clone(),
            redirect_uri: s
                .redirect_uri
                .as_deref()
                .map(|r| window::absolute(r, &page))
                .unwrap_or_else(|| page_base.clone()),
            iss: s.iss.clone(),
            launch: s.launch.clone(),
        })
        .collect();
    let plan = launch::plan(&entries, &launch::url_params(&page))?;
    let own_store = matches!(options.storage, Storage::Custom(_));
    if launch::restarts_at_top(
        options.target.name(),
        window::in_frame(),
        own_store,
        options.no_redirect,
    ) {
        // The top level loads this page (with its `iss` and `launch`), where
        // the app's authorize() runs again with first-party storage.
        window::open(&page, "_top", "")
            .ok_or_else(|| SdkError::new(ErrorKind::Popup, "cannot open the launch in _top"))?;
        return Ok(Launched::RestartingAtTop(page));
    }
    let store = match store_of(&options.storage) {
        Ok(s) => s,
        // The popup hand-over needs no storage: the launch waits in this page.
        Err(e) if popup.is_some() && e.kind == ErrorKind::StorageUnavailable => memory(),
        Err(e) => return Err(e),
    };
    let rt = runtime();
    let started = rt.start(&plan, &*store, &AbortHandle::new()).await?;
    if options.no_redirect {
        return Ok(Launched::Url(started.url));
    }
    match (&options.target, popup) {
        (Target::Popup { .. }, Some(w)) => {
            // Its name tells its ready() that it is the sign-in popup.
            let _ = w.set_name(&format!("{}{}", window::POPUP_NAME, started.state));
            w.location().set_href(&started.url).map_err(|_| {
                SdkError::new(
                    ErrorKind::Popup,
                    "cannot send the popup to the authorization page",
                )
            })?;
            let redirect = window::popup_redirect(w, started.state.clone()).await?;
            let params = launch::url_params(&redirect);
            let code = params
                .code
                .ok_or_else(|| match (params.error, params.error_description) {
                    (Some(error), description) => launch::redirect_error(&error, description.as_deref()),
                    _ => SdkError::launch("the redirect carries no code"),
                })?;
            complete(store, code, started.state, false)
                .await
                .map(Launched::Client)
        }
        (Target::SameWindow, _) => {
            window::navigate(&started.url)?;
            Ok(Launched::Redirecting(started.url))
        }
        (target, _) => {
            window::open(&started.url, target.name(), "").ok_or_else(|| {
                SdkError::new(
                    ErrorKind::Popup,
                    format!("cannot open the launch in {}", target.name()),
                )
            })?;
            Ok(Launched::Redirecting(started.url))
        }
    }
}

/// Exchanges the code (once per `state`, however many `ready()` calls ask)
/// and makes the client; `here` when the redirect is this page's address,
/// which is then cleaned so a reload never replays the code.
async fn complete(
    store: Rc<dyn Store>,
    code: String,
    state: String,
    here: bool,
) -> Result<WebClient, SdkError> {
    let rt = runtime();
    let running = rt.complete(store.clone(), code, state.clone());
    if here {
        window::replace_address(&launch::strip_redirect_params(&window::page_url()));
    }
    let session = running.await?;
    window::remember_launch(&state);
    Ok(rt.client(session, Some((store, launch::session_key(&state)))))
}

/// Completes the launch on the redirect page, or restores this page's
/// session after a reload.
pub async fn ready(options: ReadyOptions) -> Result<WebClient, SdkError> {
    let page = window::page_url();
    let redirect = launch::redirect(&launch::url_params(&page));
    if !matches!(redirect, Redirect::None) && window::hand_redirect_to_opener(&page)? {
        return Err(SdkError::new(
            ErrorKind::Popup,
            "the launch completes in the window that opened this popup",
        ));
    }
    let store = store_of(&options.storage);
    let rt = runtime();
    match redirect {
        Redirect::Error {
            state,
            error,
            description,
        } => {
            window::replace_address(&launch::strip_redirect_params(&page));
            if let (Some(state), Ok(store)) = (state, &store) {
                rt.forget_launch(&**store, &state).await?;
            }
            Err(launch::redirect_error(&error, description.as_deref()))
        }
        Redirect::Code { code, state } => complete(store?, code, state, true).await,
        Redirect::None => {
            let store = store?;
            if let Some((state, running)) = rt.latest_exchange() {
                let session = running.await?;
                return Ok(rt.client(session, Some((store, launch::session_key(&state)))));
            }
            let page_state = window::remembered_launch();
            match rt
                .restore(&*store, options.state.as_deref(), page_state.as_deref())
                .await?
            {
                Some((state, session)) => Ok(rt.client(session, Some((store, launch::session_key(&state))))),
                None => Err(SdkError::launch(
                    "no launch to complete and no session to restore: call authorize() first",
                )),
            }
        }
    }
}

/// What a client made from tokens the app already has needs ([`with_token`]).
#[derive(Debug, Clone, Default)]
pub struct TokenOptions {
    /// The FHIR base.
    pub server_url: String,
    /// The access token (empty for an open server).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: Option<i64>,
    /// A refresh token.
    pub refresh_token: Option<String>,
    /// The client id (sent with refreshes).
    pub client_id: String,
    /// The token endpoint (for refreshes).
    pub token_endpoint: String,
    /// Granted scopes.
    pub scope: String,
    /// Patient in context.
    pub patient: Option<String>,
    /// Encounter in context.
    pub encounter: Option<String>,
}

/// A client from tokens the app obtained itself (its session is not kept).
pub fn with_token(options: TokenOptions) -> WebClient {
    let response = TokenResponse {
        access_token: options.access_token,
        token_type: "Bearer".into(),
        expires_in: options.expires_in.unwrap_or(0),
        scope: options.scope,
        refresh_token: options.refresh_token,
        id_token: None,
        patient: options.patient,
        encounter: options.encounter,
        need_patient_banner: None,
        smart_style_url: None,
        fhir_context: None,
    };
    let rt = runtime();
    let session = Session::new(
        options.server_url.trim_end_matches('/'),
        &options.client_id,
        &options.token_endpoint,
        &response,
        None,
        None,
        crate::runtime::Platform::now_ms(&**rt.platform()),
    );
    rt.client(session, None)
}

/// A client of an open FHIR server (fhirclient's `fhirServiceUrl`): no
/// launch, no token; requests go without `Authorization`.
pub fn open_server(fhir_service_url: &str) -> WebClient {
    with_token(TokenOptions {
        server_url: fhir_service_url.to_string(),
        ..TokenOptions::default()
    })
}
