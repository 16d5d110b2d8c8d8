//! Trials 2 and 3: for every imported fixture with a US Core profile, every
//! SHALL search combination of that profile (US Core 6.1.0), with values
//! taken from the resource itself, finds the resource, by GET and by
//! `POST _search` alike.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use flare_tests::fhir::{search_all, Method};
use flare_tests::uscore::{self, Skipped};
use flare_tests::{check, check_eq};

use crate::context::{Ctx, NORTHSIDE};
use crate::read_back::fixtures;

/// Query pairs of a search.
type Query = Vec<(String, String)>;

/// One distinct search and the resources it must find.
pub struct Search {
    /// The searched type.
    pub resource_type: String,
    /// Query pairs.
    pub params: Vec<(String, String)>,
    /// `(id, why)` of each resource it must find.
    pub must_find: Vec<(String, String)>,
    /// The match ids by GET, or why the search failed.
    pub get: Result<Vec<String>, String>,
}

/// The SHALL searches of the fixtures, run once by GET.
pub struct UsCoreSearches {
    /// Distinct searches.
    pub searches: Vec<Search>,
    /// Combinations skipped for lack of a value.
    pub skipped: Vec<Skipped>,
    /// Resources with a US Core profile of the requirement table.
    pub profiled: usize,
}

/// Runs one search to the last page; a failure (non-200, bad Bundle) becomes an `Err`.
fn run(ctx: &Ctx, rtype: &str, params: &[(String, String)], method: Method) -> Result<Vec<String>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        search_all(&ctx.client, Some(NORTHSIDE), rtype, params, method).ids()
    }))
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
    })
}

/// Query string of a search, for messages.
fn show(rtype: &str, params: &[(String, String)]) -> String {
    format!("{rtype}?{}", flare_tests::http::encode_pairs(params))
}

/// Plans and runs (by GET) the searches, once.
pub fn searches(ctx: &Ctx) -> &UsCoreSearches {
    ctx.us_core.get_or_init(|| {
        let imported = fixtures(ctx);
        let reference = ctx.shared.join("reference");
        let reqs = uscore::load_requirements(&reference.join("us-core-6.1.0-search-requirements.txt"));
        let defs = uscore::load_params(&reference.join("us-core-6.1.0"));
        let mut by_query: BTreeMap<(String, Query), Vec<(String, String)>> = BTreeMap::new();
        let mut skipped = Vec::new();
        let mut profiled = 0;
        for exp in imported.expected.values() {
            let r = &exp.resource;
            let rtype = r["resourceType"].as_str().unwrap_or_default();
            let listed = uscore::us_core_profiles(r)
                .iter()
                .any(|p| reqs.iter().any(|q| &q.profile == p && q.resource == rtype));
            if !listed {
                continue;
            }
            profiled += 1;
            let (planned, skips) = uscore::plan(r, &reqs, &defs);
            skipped.extend(skips);
            for p in planned {
                by_query
                    .entry((p.resource_type, p.params))
                    .or_default()
                    .push((p.expect_id, p.why));
            }
        }
        let searches = by_query
            .into_iter()
            .map(|((resource_type, params), must_find)| {
                let get = run(ctx, &resource_type, &params, Method::Get);
                Search {
                    resource_type,
                    params,
                    must_find,
                    get,
                }
            })
            .collect();
        UsCoreSearches {
            searches,
            skipped,
            profiled,
        }
    })
}

/// Trial 2: each resource is among the matches of each of its SHALL searches.
pub fn shall_get(ctx: &Ctx) {
    let s = searches(ctx);
    let mut problems = Vec::new();
    let mut expectations = 0;
    for search in &s.searches {
        let q = show(&search.resource_type, &search.params);
        match &search.get {
            Err(e) => problems.push(format!("{q}: {e}")),
            Ok(ids) => {
                for (id, why) in &search.must_find {
                    expectations += 1;
                    flare_tests::check::count();
                    if !ids.contains(id) {
                        problems.push(format!("{q} ({why}) does not find {id} (matches: {ids:?})"));
                    }
                }
            }
        }
    }
    let mut by_param: BTreeMap<&str, usize> = BTreeMap::new();
    for sk in &s.skipped {
        *by_param.entry(sk.missing.as_str()).or_default() += 1;
    }
    ctx.note(format!(
        "us-core: {} profiled resources, {} distinct SHALL searches run (GET, {} resource expectations), \
         {} combinations skipped for a missing value (by parameter: {by_param:?})",
        s.profiled,
        s.searches.len(),
        expectations,
        s.skipped.len()
    ));
    for sk in &s.skipped {
        ctx.note(format!(
            "us-core: skipped {} for {}: no value for {}",
            sk.combination, sk.resource, sk.missing
        ));
    }
    check!(
        s.profiled >= 100,
        "only {} fixtures have a US Core profile of the table",
        s.profiled
    );
    check!(
        s.searches.len() >= 200,
        "only {} searches planned",
        s.searches.len()
    );
    check!(
        problems.is_empty(),
        "{} SHALL search problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Trial 3: `POST [type]/_search` with the same parameters as a form gives the same ids.
pub fn shall_post(ctx: &Ctx) {
    let s = searches(ctx);
    let mut problems = Vec::new();
    for search in &s.searches {
        let q = show(&search.resource_type, &search.params);
        // GET again right before the POST, so data imported meanwhile by
        // other trials cannot make the two differ.
        let get = run(ctx, &search.resource_type, &search.params, Method::Get);
        let post = run(ctx, &search.resource_type, &search.params, Method::Post);
        flare_tests::check::count();
        match (get, post) {
            (_, Err(e)) => problems.push(format!("POST {q}: {e}")),
            (Ok(get), Ok(post)) if get != post => {
                problems.push(format!("POST {q}: ids {post:?} differ from GET {get:?}"))
            }
            (Ok(_), Ok(post)) => {
                for (id, why) in &search.must_find {
                    if !post.contains(id) {
                        problems.push(format!("POST {q} ({why}) does not find {id}"));
                    }
                }
            }
            (Err(_), Ok(_)) => {} // reported by the GET trial
        }
    }
    ctx.note(format!(
        "us-core: {} searches repeated as POST _search",
        s.searches.len()
    ));
    check_eq!(
        problems.len(),
        0,
        "{} POST _search problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Trial: every fixture Provenance is found by `_revinclude=Provenance:target`
/// from each of its stored targets.
pub fn provenance_revinclude(ctx: &Ctx) {
    let imported = fixtures(ctx);
    let mut problems = Vec::new();
    let mut searched = 0;
    for ((t, id), exp) in &imported.expected {
        if t != "Provenance" {
            continue;
        }
        let targets = exp.resource["target"].as_array().cloned().unwrap_or_default();
        for target in targets.iter().filter_map(|x| x["reference"].as_str()) {
            // `Type/id` or `Type/id/_history/v`.
            let mut segs = target.split('/');
            let (Some(tt), Some(tid)) = (segs.next(), segs.next()) else {
                continue;
            };
            if !imported.expected.contains_key(&(tt.to_string(), tid.to_string())) {
                continue;
            }
            let params = vec![
                ("_id".to_string(), tid.to_string()),
                ("_revinclude".to_string(), "Provenance:target".to_string()),
            ];
            searched += 1;
            let r = search_all(&ctx.client, Some(NORTHSIDE), tt, &params, Method::Get);
            flare_tests::check::count();
            if !r.includes.contains(&format!("Provenance/{id}")) {
                problems.push(format!(
                    "{tt}?_id={tid}&_revinclude=Provenance:target lacks Provenance/{id}: {:?}",
                    r.includes
                ));
            }
        }
    }
    ctx.note(format!(
        "us-core: {searched} _revinclude=Provenance:target searches for fixture Provenances"
    ));
    check!(searched >= 1, "no fixture Provenance with a stored target");
    check!(problems.is_empty(), "{}", problems.join("\n"));
}
