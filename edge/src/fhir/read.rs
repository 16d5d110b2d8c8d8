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
use crate::store::access_log::{can_record, AccessRecord};
use crate::store::resources::{read_condition, read_with};
use crate::store::search_sql::{compile, compile_read, run_page, Visibility};
use crate::store::{resources, Database};

/// Handles a read. An app's read (`record`) is written to the access history
/// in the query's own round trip; a patient-context token's visibility check
/// is folded into the same statement.
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    rtype: &str,
    id: &str,
    record: Option<&AccessRecord>,
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
    let mut answered = read_condition(practice, rtype, id);
    if !own_user {
        let scope = visibility(caller, practice, rtype, Interaction::Read)?;
        if let Some(rule) = scope.rule(rtype).filter(|r| r.is_restricted()) {
            if registry::resource(rtype).is_some() && rule.restrictions.is_empty() {
                // The check and the read in one statement: no row unless visible.
                answered = compile_read(&scope, rtype, id, app.platform.now_ms()).map_err(compile_error)?;
            } else {
                // Types a patient cannot search, and query-restricted scopes
                // (403 rather than 404 when only a restriction refuses): checked first.
                check_visible(app, &scope, rtype, id).await?;
            }
        }
    }
    let if_none_match = req
        .header_value("if-none-match")
        .map(entity_tags)
        .unwrap_or_default();
    let db = app.shards.for_practice(practice);
    let recorded = record.filter(|_| can_record(answered.params.len()));
    let stored = read_with(db, answered, recorded.map(|r| (r, if_none_match.clone()))).await?;
    let stored = stored.ok_or_else(|| not_found(rtype, id))?;
    let etag = format!("W/\"{}\"", stored.version);
    if if_none_match
        .iter()
        .any(|t| t == "*" || *t == stored.version.to_string())
    {
        let not_modified = HttpResponse::empty(304, vec![("etag".into(), etag)]);
        return Ok((not_modified, stored.patients));
    }
    let resp = HttpResponse::fhir(200, stored.json)
        .with_header("etag", &etag)
        .with_header("last-modified", &format_http_date(stored.last_updated));
    Ok((resp, stored.patients))
}

fn not_found(rtype: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("{rtype}/{id} is not known"))
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

/// The entity tags `If-None-Match` names, compared weakly (RFC 7232 §3.2):
/// `W/"3"` and `"3"` both name version 3, as `3`; a bare `*` (any version)
/// stays `*`.
fn entity_tags(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(str::trim)
        .filter_map(|tag| match tag {
            "*" => Some("*".to_string()),
            _ => Some(tag.trim_start_matches("W/").trim_matches('"'))
                .filter(|t| *t != "*")
                .map(str::to_string),
        })
        .collect()
}
