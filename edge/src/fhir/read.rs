//! `GET [base]/[type]/[id]`: the read interaction
//! (<https://hl7.org/fhir/R4/http.html#read>), with `ETag`/`Last-Modified`
//! and conditional reads by `If-None-Match`.

use flare_core::datetime::format_http_date;
use flare_core::reference::is_valid_id;
use flare_core::registry;

use flare_core::search::{self, ParseOptions};
use flare_core::smart::access::Interaction;

use crate::app::{App, Caller};
use crate::fhir::access::{visibility, Answered};
use crate::fhir::search::compile_error;
use crate::http::error::ApiError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::search_sql::{compile, run_page, Visibility};
use crate::store::{resources, Database};

/// Handles a read; also says whose records it returned.
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    rtype: &str,
    id: &str,
) -> Answered {
    if !registry::is_r4_type(rtype) {
        return Err(ApiError::not_found(format!(
            "resource type '{rtype}' is not a FHIR R4 resource type"
        )));
    }
    if !is_valid_id(id) {
        return Err(ApiError::bad_request(format!("'{id}' is not a valid FHIR id")));
    }
    // The signed-in user's own resource (the id_token's fhirUser) is readable
    // with the access token, whatever the resource scopes.
    let own_user = matches!(caller, Caller::App(a) if a.token.fhir_user.as_deref() == Some(format!("{rtype}/{id}").as_str()));
    if !own_user {
        let scope = visibility(caller, practice, rtype, Interaction::Read)?;
        if scope.rule(rtype).is_some_and(|r| r.is_restricted()) {
            check_visible(app, &scope, rtype, id).await?;
        }
    }
    let db = app.shards.for_practice(practice);
    let stored = resources::read(db, practice, rtype, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{rtype}/{id} is not known")))?;
    let etag = format!("W/\"{}\"", stored.version);
    if req
        .header_value("if-none-match")
        .is_some_and(|v| etag_matches(v, stored.version))
    {
        let not_modified = HttpResponse::empty(304, vec![("etag".into(), etag)]);
        return Ok((not_modified, stored.patients));
    }
    let resp = HttpResponse::fhir(200, stored.json)
        .with_header("etag", &etag)
        .with_header("last-modified", &format_http_date(stored.last_updated));
    Ok((resp, stored.patients))
}

/// Whether a restricted caller may read `rtype/id`, by the same rule as a
/// search (the compiler's, for `_id`): 404 outside the patient's records
/// (their existence is not revealed), 403 when only a query-restricted scope
/// stands in the way.
async fn check_visible<D: Database, P: Platform>(
    app: &App<D, P>,
    scope: &Visibility,
    rtype: &str,
    id: &str,
) -> Result<(), ApiError> {
    let practice = scope.practice.as_str();
    let db = app.shards.for_practice(practice);
    let not_found = || ApiError::not_found(format!("{rtype}/{id} is not known"));
    let rule = scope.rule(rtype).ok_or_else(not_found)?;
    if registry::resource(rtype).is_none() {
        // Not searchable: a patient sees it only if their records reference it.
        let (Some(patient), true) = (&rule.patient, rule.restrictions.is_empty()) else {
            return Err(not_found());
        };
        return match resources::referenced_by_patient(db, practice, patient, rtype, id).await? {
            true => Ok(()),
            false => Err(not_found()),
        };
    }
    let pairs = vec![("_id".to_string(), id.to_string())];
    let mut by_id = search::parse(rtype, &pairs, ParseOptions::default())?;
    by_id.count = 1;
    let matches = |s: &Visibility| {
        let compiled = compile(&by_id, s, app.platform.now_ms(), false).map_err(compile_error);
        async move {
            let rows = run_page(db, compiled?.page).await?;
            Ok::<bool, ApiError>(rows.iter().any(|r| r.kind == 0))
        }
    };
    if matches(scope).await? {
        return Ok(());
    }
    if !rule.restrictions.is_empty() {
        let mut unrestricted = scope.clone();
        if let Some(rules) = unrestricted.rules.as_mut() {
            if let Some(r) = rules.get_mut(rtype) {
                r.restrictions.clear();
            }
        }
        if matches(&unrestricted).await? {
            return Err(ApiError::insufficient_scope(format!(
                "{rtype}/{id} is outside the token's query-restricted scopes"
            )));
        }
    }
    Err(not_found())
}

/// `If-None-Match` uses the weak comparison (RFC 7232 §3.2): `W/"3"` and `"3"`
/// both name version 3; `*` matches any.
fn etag_matches(header: &str, version: i64) -> bool {
    let want = version.to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == want)
}
