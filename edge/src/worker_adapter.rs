//! The Worker adapter: the only module that touches `worker::` types.
//! It implements [`Database`] with D1 and [`Platform`] with the JS runtime,
//! builds the [`App`] from the Worker's bindings, and converts requests and
//! responses. Everything else is runtime-neutral.

use wasm_bindgen::JsValue;
use worker::{event, Context, D1Database, Env, Request, Response};

use crate::app::http::{HttpRequest, HttpResponse};
use crate::app::{App, Config, Platform};
use crate::store::{Database, DbError, Row, Shards, SqlValue, Statement};

/// D1 behind the [`Database`] trait.
struct D1(D1Database);

fn bind(db: &D1Database, s: &Statement) -> Result<worker::D1PreparedStatement, DbError> {
    let values: Vec<JsValue> = s
        .params
        .iter()
        .map(|p| match p {
            SqlValue::Null => JsValue::NULL,
            SqlValue::Int(i) => JsValue::from_f64(*i as f64),
            SqlValue::Text(t) => JsValue::from_str(t),
        })
        .collect();
    db.prepare(&s.sql)
        .bind(&values)
        .map_err(|e| DbError(e.to_string()))
}

impl Database for D1 {
    async fn query(&self, stmt: Statement) -> Result<Vec<Row>, DbError> {
        bind(&self.0, &stmt)?
            .raw::<serde_json::Value>()
            .await
            .map_err(|e| DbError(e.to_string()))
    }

    async fn batch(&self, stmts: Vec<Statement>) -> Result<(), DbError> {
        let prepared = stmts
            .iter()
            .map(|s| bind(&self.0, s))
            .collect::<Result<Vec<_>, _>>()?;
        self.0.batch(prepared).await.map_err(|e| DbError(e.to_string()))?;
        Ok(())
    }
}

/// Clock and CSPRNG from the JS runtime.
struct JsPlatform;

impl Platform for JsPlatform {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        let array = js_sys::Uint8Array::new_with_length(buf.len() as u32);
        let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok();
        let get = crypto
            .as_ref()
            .and_then(|c| js_sys::Reflect::get(c, &JsValue::from_str("getRandomValues")).ok())
            .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok());
        if let (Some(c), Some(f)) = (crypto, get) {
            // getRandomValues only fails for buffers over 64 KiB; ids are 16 bytes.
            let _ = f.call1(&c, &array);
        }
        array.copy_to(buf);
    }
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|v| v.to_string()))
}

/// Builds the application from the Worker's bindings: `DB_0` … `DB_{SHARD_COUNT-1}`,
/// `PRACTICE_SHARDS` (JSON object practice → shard), `DEFAULT_PRACTICE`, `ADMIN_TOKEN`.
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
    Ok(App {
        shards: Shards::new(dbs, directory),
        platform: JsPlatform,
        config: Config {
            admin_token: var(env, "ADMIN_TOKEN").filter(|t| !t.is_empty()),
            default_practice: var(env, "DEFAULT_PRACTICE").unwrap_or_else(|| "default".into()),
        },
    })
}

async fn to_http(mut req: Request) -> worker::Result<HttpRequest> {
    let headers = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let body = match req.method() {
        worker::Method::Get | worker::Method::Head => Vec::new(),
        _ => req.bytes().await?,
    };
    Ok(HttpRequest {
        method: req.method().to_string(),
        url: req.url()?,
        headers,
        body,
    })
}

fn to_worker(resp: HttpResponse) -> worker::Result<Response> {
    let mut out = Response::from_bytes(resp.body)?.with_status(resp.status);
    let headers = out.headers_mut();
    for (k, v) in &resp.headers {
        headers.set(k, v)?;
    }
    Ok(out)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let app = build_app(&env)?;
    let http = to_http(req).await?;
    to_worker(app.handle(http).await)
}
