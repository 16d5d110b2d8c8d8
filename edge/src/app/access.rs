//! Authorization of FHIR requests: what an access token's scopes let it see,
//! decided once per request from the token row and passed to the handlers as
//! a [`Visibility`] (practice, patient compartment, query restrictions,
//! include types), which the search compiler turns into SQL.

use flare_core::registry;
use flare_core::search::{self, Filter, ParseOptions};
use flare_core::smart::access::{type_access, Interaction};
use flare_core::smart::scope::{Context, Scope};

use super::error::ApiError;
use super::http::HttpRequest;
use super::{App, Caller, Platform};
use crate::store::auth::{AccessToken, AuditEvent};
use crate::store::search_sql;
use crate::store::Database;

/// A live access token and its parsed scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The token as stored.
    pub token: AccessToken,
    /// Its granted scopes.
    pub scopes: Vec<Scope>,
}

impl Access {
    /// Parses the token's scopes.
    pub fn new(token: AccessToken) -> Access {
        let scopes = Scope::parse_list(&token.scope).0;
        Access { token, scopes }
    }
}

/// What a caller may see of one resource type, for one interaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Visibility {
    /// Only this patient's records (and what they reference).
    pub patient: Option<String>,
    /// Query restrictions (OR of AND-groups); empty means none.
    pub restrictions: Vec<Vec<Filter>>,
    /// Types includes may return; `None`: any.
    pub include_types: Option<Vec<&'static str>>,
}

impl Visibility {
    /// Whether anything narrows the practice.
    pub fn is_restricted(&self) -> bool {
        self.patient.is_some() || !self.restrictions.is_empty()
    }

    /// The search compiler's scope for `practice`.
    pub fn scope(&self, practice: &str) -> search_sql::Scope {
        search_sql::Scope {
            practice: practice.to_string(),
            patient: self.patient.clone(),
            restrictions: self.restrictions.clone(),
            include_types: self.include_types.clone(),
        }
    }
}

fn denied(rtype: &str, interaction: Interaction) -> ApiError {
    let what = match interaction {
        Interaction::Read => "read",
        Interaction::Search => "search",
    };
    ApiError::insufficient_scope(format!(
        "the access token's scopes do not permit {what} of {rtype}"
    ))
}

/// Decides what `caller` may see of `rtype`; 403 (`insufficient_scope`) if nothing.
pub fn visibility(caller: &Caller, rtype: &str, interaction: Interaction) -> Result<Visibility, ApiError> {
    let Caller::App(access) = caller else {
        return Ok(Visibility::default());
    };
    let granted =
        type_access(&access.scopes, rtype, interaction).ok_or_else(|| denied(rtype, interaction))?;
    let patient = match granted.context {
        Context::Patient => Some(access.token.patient.clone().ok_or_else(|| {
            ApiError::insufficient_scope("patient/ scopes need a patient in context, and this token has none")
        })?),
        // A patient signed in as the user sees only their own record.
        Context::User => access
            .token
            .fhir_user
            .as_deref()
            .and_then(|f| f.strip_prefix("Patient/"))
            .map(str::to_string),
        Context::System => None,
    };
    let mut restrictions = Vec::new();
    for query in &granted.queries {
        // A scope query the server cannot evaluate grants nothing (fail closed).
        if let Ok(parsed) = search::parse(rtype, query, ParseOptions::default()) {
            restrictions.push(parsed.filters);
        }
    }
    if !granted.queries.is_empty() && restrictions.is_empty() {
        return Err(denied(rtype, interaction));
    }
    let include_types = registry::RESOURCES
        .iter()
        .map(|d| d.name)
        .filter(|t| {
            type_access(&access.scopes, t, Interaction::Search)
                .is_some_and(|a| a.queries.is_empty() && (a.context != Context::Patient || patient.is_some()))
        })
        .collect();
    Ok(Visibility {
        patient,
        restrictions,
        include_types: Some(include_types),
    })
}

/// Records a FHIR access for the patient's access history (written after
/// the response: see [`App::flush_deferred`]).
pub fn audit_fhir<D: Database, P: Platform>(
    app: &App<D, P>,
    access: &Access,
    req: &HttpRequest,
    segs: &[&str],
    status: u16,
) {
    let (action, patient) = match segs {
        ["Patient", id] => ("read", Some(id.to_string())),
        [_, _] => ("read", None),
        _ => ("search", None),
    };
    let patient = access.token.patient.clone().or(patient).or_else(|| {
        req.query_pairs()
            .into_iter()
            .find(|(k, _)| k == "patient" || k == "subject")
            .map(|(_, v)| v.rsplit('/').next().unwrap_or_default().to_string())
    });
    let mut what = segs.join("/");
    if let Some(q) = req.url.query() {
        what.push('?');
        what.push_str(q);
    }
    what.truncate(what.floor_char_boundary(500));
    let event = AuditEvent {
        at: app.platform.now_ms(),
        practice: access.token.practice.clone(),
        client_id: Some(access.token.client_id.clone()),
        user_id: access.token.user_id.clone(),
        patient,
        action: action.into(),
        what,
        status: status.into(),
    };
    app.defer_audit(event);
}

/// Writes to the operator's log (the Worker's console; stderr natively).
pub fn log(message: &str) {
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
    #[cfg(target_arch = "wasm32")]
    web_log(message);
}

#[cfg(target_arch = "wasm32")]
fn web_log(message: &str) {
    use wasm_bindgen::JsValue;
    let console = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("console")).ok();
    if let Some(c) = console {
        if let Ok(f) = js_sys::Reflect::get(&c, &JsValue::from_str("warn")) {
            if let Ok(f) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f) {
                let _ = f.call1(&c, &JsValue::from_str(message));
            }
        }
    }
}
