//! The developer portal: app developers (accounts of their own, not practice
//! users) register apps for a practice with its PIN, follow their review,
//! get credentials, ask for scope changes and hand apps over to another
//! developer. The operations live here, shared by the server-rendered pages
//! ([`pages`], `/developer/…`) and the JSON API ([`api`]: RFC 7591
//! `POST /register` with a developer API token, RFC 7592 `/register/{id}`,
//! `/developer/api/…`).
//!
//! Sign-in uses the authorization server's throttle per (e-mail address,
//! client address) ([`attempts::check_sign_in`]); a wrong practice PIN
//! counts against the developer ([`check_password`]) and against the practice
//! ([`attempts::PRACTICE_PIN`]), so new accounts cannot guess on either.

pub mod api;
pub mod pages;

use serde_json::{json, Value as Json};

use crate::app::App;
use crate::crypto::{check_password_rule, hash_password, random_token, sha256_b64};
use crate::http::error::ApiError;
use crate::http::HttpRequest;
use crate::oauth::jwks_uri;
use crate::oauth::manage;
use crate::oauth::register::{check_jwks, client_from_metadata};
use crate::platform::Platform;
use crate::store::auth::{
    self as auth_store, AuthMethod, Client, ClientStatus, FailureCounter, GrantType, UseCase,
};
use crate::store::developer::{self as store, CredentialKind, Developer};
use crate::store::{resources, Database};
use crate::web::attempts::PasswordCheck;
use crate::web::attempts::{self, SignInKind};
use crate::web::cookie::cookie;
use crate::web::session::SESSION_TTL_MS;
use crate::web::signin::{check_password, Account};

/// Cookie holding a developer's sign-in session id.
pub const DEV_SESSION_COOKIE: &str = "flare_dev_session";
/// Developer API tokens live 90 days.
pub const API_TOKEN_TTL_MS: i64 = 90 * 24 * 3600 * 1000;
/// Prefix of developer API tokens (tells them from access tokens).
pub const API_TOKEN_PREFIX: &str = "fdt_";

/// The signed-in developer of a browser (session cookie).
pub async fn session_developer<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
) -> Result<Option<Developer>, ApiError> {
    Ok(match cookie(req, DEV_SESSION_COOKIE) {
        Some(s) => {
            store::credential_developer(
                app.auth_db(),
                &sha256_b64(s),
                CredentialKind::Session,
                app.platform.now_ms(),
            )
            .await?
        }
        None => None,
    })
}

/// The developer of a Bearer API token, if the request carries one.
pub async fn token_developer<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
) -> Result<Option<Developer>, ApiError> {
    let Some(token) = req
        .header_value("authorization")
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| t.starts_with(API_TOKEN_PREFIX) && t.len() <= 200)
    else {
        return Ok(None);
    };
    Ok(store::credential_developer(
        app.auth_db(),
        &sha256_b64(token),
        CredentialKind::Api,
        app.platform.now_ms(),
    )
    .await?)
}

/// A new session (`Session`, returns the cookie value) or API token.
pub async fn new_credential<D: Database, P: Platform>(
    app: &App<D, P>,
    developer_id: &str,
    kind: CredentialKind,
) -> Result<String, ApiError> {
    let (secret, ttl) = match kind {
        CredentialKind::Session => (random_token(&app.platform, 32), SESSION_TTL_MS),
        CredentialKind::Api => (
            format!("{API_TOKEN_PREFIX}{}", random_token(&app.platform, 32)),
            API_TOKEN_TTL_MS,
        ),
    };
    let now = app.platform.now_ms();
    store::insert_credential(
        app.auth_db(),
        &sha256_b64(&secret),
        developer_id,
        kind,
        now,
        now + ttl,
    )
    .await?;
    Ok(secret)
}

/// Why an account operation was refused: shown on the page or sent as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Bad input (400) with what to fix.
    Invalid(String),
    /// Wrong credentials (401).
    Wrong(String),
    /// Too many failures: try again after this many seconds (429).
    Throttled(i64),
    /// Taken (409).
    Conflict(String),
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Invalid(_) => 400,
            Refusal::Wrong(_) => 401,
            Refusal::Throttled(_) => 429,
            Refusal::Conflict(_) => 409,
        }
    }

    /// What the person is told.
    pub fn message(&self) -> String {
        match self {
            Refusal::Invalid(m) | Refusal::Wrong(m) | Refusal::Conflict(m) => m.clone(),
            Refusal::Throttled(s) => format!("Too many failed attempts. Try again in {s} seconds."),
        }
    }
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Creates a developer account (the password must pass the vendor's rule).
pub async fn sign_up<D: Database, P: Platform>(
    app: &App<D, P>,
    email: &str,
    name: &str,
    password: &str,
) -> Result<Result<Developer, Refusal>, ApiError> {
    let email = email.trim();
    let name = name.trim();
    if !valid_email(email) {
        return Ok(Err(Refusal::Invalid("Enter a valid e-mail address.".into())));
    }
    if name.is_empty() || name.chars().count() > 100 {
        return Ok(Err(Refusal::Invalid(
            "Enter a display name (at most 100 characters).".into(),
        )));
    }
    if let Err(e) = check_password_rule(password) {
        return Ok(Err(Refusal::Invalid(format!("Choose another password: {e}."))));
    }
    let hash = hash_password(&app.platform, password).await?;
    let dev = Developer {
        developer_id: random_token(&app.platform, 12),
        email: email.to_string(),
        display_name: name.to_string(),
        password_hash: hash,
        failed_signins: 0,
        locked_until: 0,
        failed_pins: 0,
        pin_locked_until: 0,
    };
    if !store::insert_developer(app.auth_db(), &dev, app.platform.now_ms()).await? {
        return Ok(Err(Refusal::Conflict(format!(
            "An account for {email} exists already; sign in instead."
        ))));
    }
    Ok(Ok(dev))
}

/// Checks a developer's e-mail address and password under the sign-in
/// throttle per (e-mail address, client address) ([`attempts::check_sign_in`]):
/// an unknown address and a wrong password answer alike.
pub async fn sign_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    email: &str,
    password: &str,
) -> Result<Result<Developer, Refusal>, ApiError> {
    let dev = store::developer_by_email(app.auth_db(), email.trim()).await?;
    let key = attempts::sign_in_key(SignInKind::Developer, email, req);
    let hash = dev.as_ref().map(|d| d.password_hash.as_str());
    let wrong = || Refusal::Wrong("The e-mail address or password is not right.".into());
    Ok(
        match (attempts::check_sign_in(app, &key, hash, password).await?, dev) {
            (PasswordCheck::Right, Some(dev)) => Ok(dev),
            (PasswordCheck::Throttled(s), _) => Err(Refusal::Throttled(s)),
            _ => Err(wrong()),
        },
    )
}

/// Changes a developer's password (the current one is checked like a
/// sign-in); every other session and API token of the account ends.
pub async fn change_password<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    dev: &Developer,
    current: &str,
    new: &str,
    keep_credential_hash: &str,
) -> Result<Result<(), Refusal>, ApiError> {
    if let Err(r) = sign_in(app, req, &dev.email, current).await? {
        return Ok(Err(match r {
            Refusal::Wrong(_) => Refusal::Wrong("The current password is not right.".into()),
            other => other,
        }));
    }
    if let Err(e) = check_password_rule(new) {
        return Ok(Err(Refusal::Invalid(format!(
            "Choose another new password: {e}."
        ))));
    }
    let hash = hash_password(&app.platform, new).await?;
    store::set_developer_password(
        app.auth_db(),
        &dev.developer_id,
        &hash,
        keep_credential_hash,
        app.platform.now_ms(),
    )
    .await?;
    Ok(Ok(()))
}

/// The use cases of the registration forms.
pub const USE_CASES: [(UseCase, &str); 3] = [
    (UseCase::Patient, "Patient app"),
    (UseCase::Provider, "Provider app"),
    (UseCase::Backend, "Backend service"),
];

/// The human name of a use case.
pub fn use_case_label(use_case: &str) -> &'static str {
    let use_case = UseCase::parse(use_case);
    USE_CASES
        .iter()
        .find(|(k, _)| Some(*k) == use_case)
        .map_or("App", |(_, l)| l)
}

/// How an app authenticates, in words.
pub fn auth_label(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "Public (no secret)",
        AuthMethod::ClientSecretBasic => "Client secret",
        AuthMethod::PrivateKeyJwt => "Private key JWT",
    }
}

fn registration_error(message: impl Into<String>) -> ApiError {
    ApiError::oauth(400, "invalid_client_metadata", message)
}

/// Registers an app for the developer (RFC 7591 metadata plus `practice`
/// and `practice_pin`): the same validation as the operator's registration,
/// the practice's PIN, and then for `private_key_jwt` with a `jwks_uri` the
/// key set is fetched and checked now. The app starts `pending`, owned by the
/// developer, without a secret (that is shown once after approval).
pub async fn register_app<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    meta: &Json,
) -> Result<Client, ApiError> {
    let now = app.platform.now_ms();
    let db = app.auth_db();
    let pin_locked = |until: i64| {
        let seconds = ((until - now + 999) / 1000).max(1);
        ApiError::oauth(
            429,
            "invalid_client_metadata",
            format!("too many wrong practice PINs; try again in {seconds} seconds"),
        )
        .with_header("retry-after", &seconds.to_string())
    };
    if dev.pin_locked_until > now {
        return Err(pin_locked(dev.pin_locked_until));
    }
    let mut meta = meta
        .as_object()
        .cloned()
        .ok_or_else(|| registration_error("the registration must be a JSON object"))?;
    let pin = match meta.remove("practice_pin") {
        Some(Json::String(p)) if !p.is_empty() => p,
        _ => {
            return Err(registration_error(
                "practice_pin is required (ask the practice for it)",
            ))
        }
    };
    if !meta.get("practice").is_some_and(Json::is_string) {
        return Err(registration_error("practice is required"));
    }
    // Developers do not choose client ids (the operator may).
    meta.remove("client_id");
    let mut client = client_from_metadata(&Json::Object(meta), &app.config.default_practice, now)?;
    if let Some(uri) = &client.jwks_uri {
        jwks_uri::allowed(app, uri).map_err(|_| registration_error(jwks_uri::REFUSED))?;
    }
    // The practice reviews the app by its use case: it must say what the
    // grants do (a backend service is one, and nothing else is).
    let backend = client.grant_types.contains(&GrantType::ClientCredentials);
    match client.metadata.get("use_case") {
        None | Some(Json::Null) => {}
        Some(Json::String(u)) if UseCase::parse(u).is_some_and(|u| (u == UseCase::Backend) == backend) => {}
        Some(_) => {
            return Err(registration_error(format!(
                "use_case is {} (backend exactly when grant_types has client_credentials)",
                UseCase::ALL
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
    let practices = resources::list_practices(app.shards.for_practice(&client.practice)).await?;
    if !practices.iter().any(|p| p.key == client.practice) {
        return Err(registration_error(format!(
            "practice {} does not exist",
            client.practice
        )));
    }
    let Some(pin_hash) = store::practice_pin(db, &client.practice).await? else {
        return Err(registration_error(format!(
            "practice {} has no registration PIN yet; ask it to set one",
            client.practice
        )));
    };
    // Counted per practice (any number of accounts guess together) ...
    let practice_key = attempts::practice_pin_key(&client.practice);
    if let Some(seconds) = attempts::claim(app, &practice_key, attempts::PRACTICE_PIN).await? {
        return Err(pin_locked(now + seconds * 1000));
    }
    // ... and per account, like a sign-in (parallel guesses included, see `check_password`).
    let account = Account {
        counter: FailureCounter::DeveloperPin,
        id: &dev.developer_id,
        hash: &pin_hash,
        locked_until: dev.pin_locked_until,
    };
    let checked = check_password(app, Some(account), &pin).await?;
    if checked != PasswordCheck::Wrong {
        // A right PIN, or one not checked, is no guess against the practice.
        attempts::refund(app, &practice_key, attempts::PRACTICE_PIN).await?;
    }
    match checked {
        PasswordCheck::Right => {}
        PasswordCheck::Throttled(_) => {
            let until = auth_store::locked_until(db, FailureCounter::DeveloperPin, &dev.developer_id).await?;
            return Err(pin_locked(until));
        }
        PasswordCheck::Wrong => {
            return Err(registration_error(format!(
                "the PIN is not right for practice {}",
                client.practice
            )))
        }
    }
    // Only after the PIN: a developer without one cannot make us fetch URLs.
    if let Some(uri) = &client.jwks_uri {
        fetch_key_set(app, uri).await?;
    }
    client.client_id = random_token(&app.platform, 16);
    client.owner_developer = Some(dev.developer_id.clone());
    auth_store::insert_client(db, &client).await?;
    Ok(client)
}

/// Sets (or rotates) a practice's registration PIN: 6 to 32 letters, digits or `-`.
pub async fn set_practice_pin<D: Database, P: Platform>(
    app: &App<D, P>,
    practice: &str,
    pin: &str,
) -> Result<(), ApiError> {
    if !(6..=32).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::bad_request(
            "a PIN is 6 to 32 characters of A-Z, a-z, 0-9 and '-'",
        ));
    }
    let hash = hash_password(&app.platform, pin).await?;
    store::set_practice_pin(app.auth_db(), practice, &hash, app.platform.now_ms()).await?;
    Ok(())
}

/// An app the developer owns (404 otherwise: others' apps are not revealed).
pub async fn owned_app<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    client_id: &str,
) -> Result<Client, ApiError> {
    auth_store::client(app.auth_db(), client_id)
        .await?
        .filter(|c| c.owner_developer.as_deref() == Some(dev.developer_id.as_str()))
        .ok_or_else(|| ApiError::not_found(format!("you have no app {client_id}")))
}

/// An app the developer owns or is offered (by transfer).
pub async fn visible_app<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    client_id: &str,
) -> Result<Client, ApiError> {
    let me = Some(dev.developer_id.as_str());
    auth_store::client(app.auth_db(), client_id)
        .await?
        .filter(|c| c.owner_developer.as_deref() == me || c.transfer_to.as_deref() == me)
        .ok_or_else(|| ApiError::not_found(format!("you have no app {client_id}")))
}

/// The client secret of an approved `client_secret_basic` app: the first
/// one (once: `rotate` false) or a new one replacing it (`rotate` true).
pub async fn issue_secret<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &Client,
    rotate: bool,
) -> Result<String, ApiError> {
    if client.auth_method != AuthMethod::ClientSecretBasic {
        return Err(ApiError::bad_request(
            "only apps that authenticate with a client secret have one",
        ));
    }
    if client.status != ClientStatus::Approved {
        return Err(ApiError::new(
            409,
            "conflict",
            format!(
                "the app is {}: its secret is issued once the practice approves it",
                client.status
            ),
        ));
    }
    let secret = random_token(&app.platform, 32);
    let (db, now) = (app.auth_db(), app.platform.now_ms());
    if rotate {
        if client.secret_issued_at.is_none() {
            return Err(ApiError::new(
                409,
                "conflict",
                "the first secret was not shown yet: get it first",
            ));
        }
        store::rotate_secret(db, &client.client_id, &sha256_b64(&secret), now).await?;
    } else if !store::issue_first_secret(db, &client.client_id, &sha256_b64(&secret), now).await? {
        return Err(ApiError::new(
            409,
            "conflict",
            "the client secret was shown once already; rotate it to get a new one",
        ));
    }
    Ok(secret)
}

/// Asks for a scope change of an approved app (pending until the practice
/// approves it; the current scope keeps working meanwhile).
pub async fn request_scope<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &Client,
    scope: &str,
) -> Result<String, ApiError> {
    if client.status != ClientStatus::Approved {
        return Err(ApiError::new(
            409,
            "conflict",
            format!(
                "the app is {}: scope changes are for approved apps",
                client.status
            ),
        ));
    }
    manage::request_scope_change(app, client, scope).await
}

/// Fetches and checks the key set at a `jwks_uri` ([`jwks_uri::fetch`]);
/// whatever fails, the developer reads the one [`jwks_uri::REFUSED`] message
/// (the detail is logged), so the answer says nothing about what the URL
/// reached.
async fn fetch_key_set<D: Database, P: Platform>(app: &App<D, P>, uri: &str) -> Result<(), ApiError> {
    let set = jwks_uri::fetch(app, uri)
        .await
        .map_err(|_| registration_error(jwks_uri::REFUSED))?;
    check_jwks(&set.body).map_err(|e| {
        crate::platform::log(&format!("jwks_uri {uri}: {}", e.message));
        registration_error(jwks_uri::REFUSED)
    })
}

/// Replaces the public keys of a `private_key_jwt` app: a pasted JWKS, or a
/// JWKS URL fetched and checked now (as at registration). Effective at once,
/// like a secret rotation: assertions signed with other keys stop working.
pub async fn replace_keys<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &Client,
    jwks: Option<&Json>,
    jwks_uri: Option<&str>,
) -> Result<(), ApiError> {
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(registration_error("only private key JWT apps have public keys"));
    }
    let (db, now) = (app.auth_db(), app.platform.now_ms());
    let (inline, uri) = match (jwks, jwks_uri) {
        (Some(set), None) => {
            check_jwks(set).map_err(|e| registration_error(e.message))?;
            (Some(set.to_string()), None)
        }
        (None, Some(uri)) => {
            fetch_key_set(app, uri).await?;
            (None, Some(uri.to_string()))
        }
        _ => return Err(registration_error("give either a JWKS URL or a pasted JWKS")),
    };
    auth_store::update_client(db, &client.client_id, auth_store::ClientColumn::Jwks, inline, now).await?;
    auth_store::update_client(db, &client.client_id, auth_store::ClientColumn::JwksUri, uri, now).await?;
    // Keys withdrawn here stop working at once, not when a cached set expires.
    crate::oauth::jwks_cache::forget(app, &client.client_id).await;
    Ok(())
}

/// Offers the app to another developer (by e-mail address).
pub async fn offer_transfer<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    client: &Client,
    to_email: &str,
) -> Result<Developer, ApiError> {
    let to = store::developer_by_email(app.auth_db(), to_email.trim())
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("no developer account {}", to_email.trim())))?;
    if to.developer_id == dev.developer_id {
        return Err(ApiError::bad_request("you own this app already"));
    }
    if !store::set_transfer(
        app.auth_db(),
        &client.client_id,
        &dev.developer_id,
        Some(&to.developer_id),
        app.platform.now_ms(),
    )
    .await?
    {
        return Err(ApiError::not_found("only the owner can transfer an app"));
    }
    Ok(to)
}

/// The recipient accepts (`accept`) or either side withdraws a transfer.
pub async fn settle_transfer<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    client_id: &str,
    accept: bool,
) -> Result<(), ApiError> {
    let (db, now) = (app.auth_db(), app.platform.now_ms());
    let done = if accept {
        store::accept_transfer(db, client_id, &dev.developer_id, now).await?
    } else {
        store::set_transfer(db, client_id, &dev.developer_id, None, now).await?
    };
    if done {
        Ok(())
    } else {
        Err(ApiError::new(
            409,
            "conflict",
            format!("no transfer of {client_id} is waiting for you"),
        ))
    }
}

/// The app as the developer sees it (JSON): registration metadata, status,
/// pending changes, transfer, and for approved apps the test patients.
pub async fn app_json<D: Database, P: Platform>(app: &App<D, P>, client: &Client) -> Result<Json, ApiError> {
    let mut out = crate::oauth::register::client_json(client);
    let db = app.auth_db();
    if let Some(o) = out.as_object_mut() {
        o.insert(
            "use_case".into(),
            client.metadata.get("use_case").cloned().unwrap_or(Json::Null),
        );
        if let Some(r) = &client.scope_change_reason {
            o.insert("scope_change_rejected".into(), json!(r));
        }
        if client.auth_method == AuthMethod::ClientSecretBasic {
            o.insert(
                "client_secret_issued".into(),
                json!(client.secret_issued_at.is_some()),
            );
        }
        if let Some(to) = &client.transfer_to {
            let email = store::developer(db, to).await?.map(|d| d.email);
            o.insert("transfer_to".into(), json!(email));
        }
        if let Some(owner) = &client.owner_developer {
            let email = store::developer(db, owner).await?.map(|d| d.email);
            o.insert("owner".into(), json!(email));
        }
        if client.status == ClientStatus::Approved {
            let patients: Vec<Json> = store::test_patients(db, &client.practice)
                .await?
                .into_iter()
                .map(|(username, name, fhir_user)| json!({"username": username, "name": name, "fhirUser": fhir_user}))
                .collect();
            o.insert("test_patients".into(), Json::Array(patients));
        }
    }
    Ok(out)
}
