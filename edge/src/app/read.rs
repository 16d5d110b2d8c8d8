//! `GET [base]/[type]/[id]`: the read interaction
//! (<https://hl7.org/fhir/R4/http.html#read>), with `ETag`/`Last-Modified`
//! and conditional reads by `If-None-Match`.

use flare_core::datetime::format_http_date;
use flare_core::reference::is_valid_id;
use flare_core::registry;

use flare_core::search::{self, ParseOptions};
use flare_core::smart::access::Interaction;

use super::access::{visibility, Visibility};
use super::error::{ApiError, ApiResult};
use super::http::{HttpRequest, HttpResponse};
use super::{App, Caller, Platform};
use crate::store::search_sql::compile;
use crate::store::{int, resources, Database};

/// Handles a read.
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    rtype: &str,
    id: &str,
) -> ApiResult {
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
    let visible = if own_user {
        Visibility::default()
    } else {
        visibility(caller, rtype, Interaction::Read)?
    };
    if visible.is_restricted() {
        check_visible(app, &visible, practice, rtype, id).await?;
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
        return Ok(HttpResponse {
            status: 304,
            headers: vec![("etag".into(), etag)],
            body: Vec::new(),
            object: None,
        });
    }
    Ok(HttpResponse::fhir(200, stored.json)
        .with_header("etag", &etag)
        .with_header("last-modified", &format_http_date(stored.last_updated)))
}

/// Whether a restricted caller may read `rtype/id`: 404 outside the patient's
/// records (their existence is not revealed), 403 when only a query-restricted
/// scope stands in the way.
async fn check_visible<D: Database, P: Platform>(
    app: &App<D, P>,
    visible: &Visibility,
    practice: &str,
    rtype: &str,
    id: &str,
) -> Result<(), ApiError> {
    let db = app.shards.for_practice(practice);
    let not_found = || ApiError::not_found(format!("{rtype}/{id} is not known"));
    if registry::resource(rtype).is_none() {
        // Not searchable: a patient sees it only if its records reference it.
        let Some(patient) = &visible.patient else {
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
    let matches = |v: &Visibility| {
        let compiled = compile(&by_id, &v.scope(practice), app.platform.now_ms(), false)
            .map_err(|e| ApiError::bad_request(e.0));
        async move {
            let rows = db.query(compiled?.page).await?;
            Ok::<bool, ApiError>(rows.iter().any(|r| int(r, 0) == Some(0)))
        }
    };
    if matches(visible).await? {
        return Ok(());
    }
    if !visible.restrictions.is_empty() {
        let unrestricted = Visibility {
            restrictions: Vec::new(),
            ..visible.clone()
        };
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
