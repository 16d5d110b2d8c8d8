//! Authorization of FHIR requests: what an access token's scopes let it see,
//! decided once per request from the token row and passed to the handlers as
//! the search compiler's [`Visibility`] (practice, and per type the patient
//! context and query restrictions), which the compiler applies to every table
//! a statement touches. The access history's record of each app request
//! ([`access_record`]), written with the query or by [`record_now`].

use std::collections::BTreeMap;

use flare_core::registry;
use flare_core::search::{self, ParseOptions};
use flare_core::smart::access::{type_access, Interaction};
use flare_core::smart::scope::Context;

use crate::app::{Access, App, Caller};
use crate::http::error::ApiError;
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::access_log::AccessRecord;
use crate::store::auth::AuditEvent;
use crate::store::search_sql::{TypeRule, Visibility};
use crate::store::Database;

/// A FHIR answer with what remains to write in the access history.
/// With the patients whose records it carries, for [`record_now`] when its
/// query did not record it ([`AccessRecord::written`]).
pub type Answered = Result<(crate::http::HttpResponse, Vec<String>), ApiError>;

fn denied(rtype: &str, interaction: Interaction) -> ApiError {
    let what = match interaction {
        Interaction::Read => "read",
        Interaction::Search => "search",
    };
    ApiError::insufficient_scope(format!(
        "the access token's scopes do not permit {what} of {rtype}"
    ))
}

/// The patient whose records alone a caller sees of a type granted in
/// `context`: the launch patient for `patient/` scopes, the signed-in
/// patient for a patient user's `user/` scopes; `Err` for `patient/` scopes
/// without a patient in context.
fn context_patient(access: &Access, context: Context) -> Result<Option<String>, ApiError> {
    match context {
        Context::Patient => access.token.patient.clone().map(Some).ok_or_else(|| {
            ApiError::insufficient_scope("patient/ scopes need a patient in context, and this token has none")
        }),
        // A patient signed in as the user sees only their own record.
        Context::User => Ok(access
            .token
            .fhir_user
            .as_deref()
            .and_then(|f| f.strip_prefix("Patient/"))
            .map(str::to_string)),
        Context::System => Ok(None),
    }
}

/// The caller's rule for one type and interaction, or `Err` (403) when the
/// scopes grant nothing.
fn type_rule(access: &Access, rtype: &str, interaction: Interaction) -> Result<TypeRule, ApiError> {
    let granted =
        type_access(&access.scopes, rtype, interaction).ok_or_else(|| denied(rtype, interaction))?;
    let patient = context_patient(access, granted.context)?;
    if patient.is_some() && rtype == "Group" {
        // A Group lists many patients: never one patient's record.
        return Err(ApiError::insufficient_scope(
            "a Group is a multi-patient resource: it is not visible in a patient context",
        ));
    }
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
    Ok(TypeRule {
        patient,
        restrictions,
    })
}

/// What `caller` may see in `practice` when it asks for `interaction` on
/// `rtype`: the search compiler's [`Visibility`], with a rule for every type the
/// request may touch (`rtype` for `interaction`, every searchable type for
/// chains and includes). 403 (`insufficient_scope`) when `rtype` is not granted.
///
/// This is the only place scopes become visibility; the compiler applies the
/// rules to every table a statement touches.
pub fn visibility(
    caller: &Caller,
    practice: &str,
    rtype: &str,
    interaction: Interaction,
) -> Result<Visibility, ApiError> {
    let Caller::App(access) = caller else {
        return Ok(Visibility::practice(practice));
    };
    let main = registry::ALL_R4_TYPES
        .iter()
        .find(|t| **t == rtype)
        .copied()
        .ok_or_else(|| {
            ApiError::not_found(format!("resource type '{rtype}' is not a FHIR R4 resource type"))
        })?;
    let mut rules = BTreeMap::new();
    for def in registry::RESOURCES {
        if let Ok(rule) = type_rule(access, def.name, Interaction::Search) {
            rules.insert(def.name, rule);
        }
    }
    rules.insert(main, type_rule(access, main, interaction)?);
    let everything = registry::RESOURCES.iter().all(|d| rules.contains_key(d.name))
        && rules.values().all(|r| !r.is_restricted());
    Ok(Visibility {
        practice: practice.to_string(),
        rules: (!everything).then_some(rules),
        with_patients: true,
    })
}

/// What `caller` may see of `patient`'s records in `practice`, for
/// `Patient/[id]/$everything`: the caller's own rule for every searchable
/// type its scopes grant (Group never: a roster, not one patient's record),
/// each narrowed to `patient`, so the compiler's patient rule decides what
/// is theirs and the caller's query restrictions still apply. 404 when the
/// caller sees only another patient's records (a patient token asking for
/// someone else, as a read of that Patient would answer).
pub fn everything_visibility(caller: &Caller, practice: &str, patient: &str) -> Result<Visibility, ApiError> {
    let mut rules = BTreeMap::new();
    for def in registry::RESOURCES.iter().filter(|d| d.name != "Group") {
        let rule = match caller {
            Caller::Admin => TypeRule::default(),
            Caller::App(access) => match type_rule(access, def.name, Interaction::Search) {
                Ok(rule) => rule,
                // Types the scopes do not grant are left out, not refused.
                Err(_) => continue,
            },
        };
        if rule.patient.as_deref().is_some_and(|p| p != patient) {
            return Err(ApiError::not_found(format!("Patient/{patient} is not known")));
        }
        rules.insert(
            def.name,
            TypeRule {
                patient: Some(patient.to_string()),
                restrictions: rule.restrictions,
            },
        );
    }
    // Scopes that grant no type would answer every patient with an empty
    // Bundle, and an unknown one with a 404: a probe for who exists.
    if rules.is_empty() {
        return Err(ApiError::insufficient_scope(
            "the access token's scopes grant no resource type for $everything",
        ));
    }
    Ok(Visibility {
        practice: practice.to_string(),
        rules: Some(rules),
        with_patients: true,
    })
}

/// The access history's record of an app's FHIR request, before its answer:
/// who, which practice, `read` or `search`, and what was asked (path and
/// query, at most 500 bytes).
pub fn access_record<D: Database, P: Platform>(
    app: &App<D, P>,
    access: &Access,
    req: &HttpRequest,
    segs: &[&str],
) -> AccessRecord {
    // `Type/id` is a read; a search, an operation (`DocumentReference/$docref`,
    // `Patient/x/$everything`, `Patient/$export`) searches.
    let action = match segs {
        [_, id] if !id.starts_with('$') => "read",
        _ => "search",
    };
    let mut what = segs.join("/");
    if let Some(q) = req.url.query() {
        what.push('?');
        what.push_str(q);
    }
    what.truncate(what.floor_char_boundary(500));
    AccessRecord {
        at: app.platform.now_ms(),
        practice: access.token.practice.clone(),
        client_id: access.token.client_id.clone(),
        user_id: access.token.user_id.clone(),
        context_patient: access.token.patient.clone(),
        action: action.into(),
        what,
        written: Default::default(),
    }
}

/// Writes the history of an answer whose query did not record it (an error,
/// a Bulk Data request): one event per patient in `patients`, or for the
/// patient in the token's context when there are none. Awaited before the
/// response goes out, so it is never lost; a failure is logged (the answer
/// stands).
pub async fn record_now<D: Database, P: Platform>(
    app: &App<D, P>,
    record: &AccessRecord,
    status: u16,
    patients: &[String],
) {
    let mut who: Vec<Option<String>> = patients.iter().cloned().map(Some).collect();
    who.sort();
    who.dedup();
    if who.is_empty() {
        who.push(record.context_patient.clone());
    }
    let events: Vec<AuditEvent> = who.into_iter().map(|p| record.event(p, status)).collect();
    let db = app.shards.for_practice(&record.practice);
    if let Err(err) = crate::store::auth::insert_audits(db, &events).await {
        crate::platform::log(&format!("audit events not recorded: {err}"));
    }
}
