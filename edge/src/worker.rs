//! The Worker's entry (wasm32 only), as thin as the workers-rs templates':
//! builds the [`App`] from the bindings, converts `worker::Request` to
//! [`HttpRequest`] and back, and hands each event to the application
//! (`fetch` to the router, `queue` to the export runner, `scheduled` to the
//! purges), after setting the panic hook once per isolate (`start`). The
//! adapters it wires in live in [`crate::platform::worker`].

use wasm_bindgen::JsValue;
use worker::{event, Context, Env, Request, Response};

use crate::app::token_cache::TokenCache;
use crate::app::{App, Config};
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::worker::{read_capped, JsPlatform, D1};
use crate::platform::Platform;
use crate::store::Shards;

thread_local! {
    /// The isolate's validated access tokens, shared by its requests (an
    /// isolate runs one thread; each request builds its own [`App`]).
    static TOKENS: std::rc::Rc<TokenCache> = std::rc::Rc::new(TokenCache::new());
}

/// A binding as a plain JS value, if the Worker has it.
fn binding(env: &Env, name: &str) -> Option<JsValue> {
    let env: &JsValue = env.as_ref();
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|v| v.to_string()))
}

/// Builds the application from the Worker's bindings: `DB_0` … `DB_{SHARD_COUNT-1}`,
/// `PRACTICE_SHARDS` (JSON object practice → shard), `DEFAULT_PRACTICE`, `ADMIN_TOKEN`,
/// `SIGNING_KEY`, `JWKS_ALLOW_LOOPBACK`, the `CLIENT_LIMITER` / `IP_LIMITER` rate limits,
/// the `EXPORTS` bucket, the `EXPORT_QUEUE` and the `CACHE` KV namespace.
fn build_app(env: &Env) -> worker::Result<App<D1, JsPlatform>> {
    let shard_count: usize = var(env, "SHARD_COUNT")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut dbs = Vec::with_capacity(shard_count);
    for i in 0..shard_count {
        dbs.push(D1(env.d1(&format!("DB_{i}"))?));
    }
    let directory: Vec<(String, usize)> = var(env, "PRACTICE_SHARDS")
        .and_then(|v| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&v).ok())
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| Some((k, v.as_u64()? as usize)))
                .collect()
        })
        .unwrap_or_default();
    let mut config = Config::new(
        var(env, "ADMIN_TOKEN").filter(|t| !t.is_empty()),
        &var(env, "DEFAULT_PRACTICE").unwrap_or_else(|| "default".into()),
    );
    config.jwks_allow_loopback = var(env, "JWKS_ALLOW_LOOPBACK").is_some_and(|v| v.trim() == "true");
    Ok(App::new(
        Shards::new(dbs, directory),
        JsPlatform {
            signing_key: var(env, "SIGNING_KEY").filter(|k| !k.is_empty()),
            client_limiter: binding(env, "CLIENT_LIMITER"),
            ip_limiter: binding(env, "IP_LIMITER"),
            exports: env.bucket("EXPORTS").ok(),
            export_queue: env.queue("EXPORT_QUEUE").ok(),
            cache: env.kv("CACHE").ok(),
        },
        config,
    )
    .with_token_cache(TOKENS.with(std::rc::Rc::clone)))
}

/// The request as the application sees it. The body is read only up to one
/// byte over its route's cap ([`crate::router::body_max`]), and not at
/// all when `Content-Length` is already over it: the application answers 413.
async fn to_http(req: Request) -> worker::Result<HttpRequest> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let url = req.url()?;
    let cap = crate::router::body_max(url.path());
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let body = match req.method() {
        worker::Method::Get | worker::Method::Head => Vec::new(),
        _ if declared > cap as u64 => Vec::new(),
        _ => {
            let inner: &JsValue = req.inner().as_ref();
            let stream =
                js_sys::Reflect::get(inner, &JsValue::from_str("body")).map_err(worker::Error::from)?;
            read_capped(&stream, cap)
                .await
                .map_err(worker::Error::RustError)?
        }
    };
    Ok(HttpRequest {
        method: req.method().to_string(),
        url,
        headers,
        body,
    })
}

async fn to_worker(env: &Env, resp: HttpResponse) -> worker::Result<Response> {
    let mut out = match &resp.object {
        // An export file: streamed from R2, never held in memory whole.
        Some(key) => {
            let object = env.bucket("EXPORTS")?.get(key.as_str()).execute().await?;
            match object.as_ref().and_then(|o| o.body()) {
                Some(body) => Response::from_stream(body.stream()?)?.with_status(resp.status),
                None => {
                    let missing = crate::web::page::error_response(crate::http::error::ApiError::not_found(
                        format!("{key} is gone"),
                    ));
                    return Box::pin(to_worker(env, missing)).await;
                }
            }
        }
        None => Response::from_bytes(resp.body)?.with_status(resp.status),
    };
    let headers = out.headers_mut();
    for (k, v) in &resp.headers {
        headers.set(k, v)?;
    }
    Ok(out)
}

/// Once per isolate, before any event: a panic's message and location go to
/// the console (the Worker's log) instead of a bare "unreachable".
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let app = build_app(&env)?;
    let http = to_http(req).await?;
    let resp = app.respond(http).await;
    to_worker(&env, resp).await
}

/// Runs Bulk Data export jobs, one bounded stretch per message.
#[event(queue)]
async fn queue(batch: worker::MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let app = build_app(&env)?;
    for message in batch.messages()? {
        let body: serde_json::Value = serde_json::from_str(message.body()).unwrap_or_default();
        match (body["practice"].as_str(), body["job"].as_str()) {
            (Some(practice), Some(job)) => crate::fhir::bulk::run(&app, practice, job).await,
            _ => crate::platform::log(&format!("export queue: unreadable message {}", message.body())),
        }
    }
    batch.ack_all();
    Ok(())
}

/// Hourly (`[triggers] crons`): deletes expired Bulk Data exports and their
/// files in every practice, and attempt counters idle for a day.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    match build_app(&env) {
        Ok(app) => {
            crate::fhir::bulk::purge_all_expired(&app).await;
            let day_ago = app.platform.now_ms() - 24 * 60 * 60 * 1000;
            if let Err(e) = crate::store::attempts::purge(app.auth_db(), day_ago).await {
                crate::platform::log(&format!("scheduled purge of attempt counters: {e}"));
            }
        }
        Err(e) => crate::platform::log(&format!("scheduled purge: {e}")),
    }
}
