//! The browser layer: the only code that touches web APIs (`fetch`,
//! storage, `location`/`history`, WebCrypto, timers, `postMessage`), and the
//! JavaScript API of the npm package `@flare/smart`.

mod client;
mod crypto;
mod js;
mod launch;
mod net;
mod storage;

use wasm_bindgen::prelude::*;

pub use client::{Client, PageIterator};

#[wasm_bindgen(typescript_custom_section)]
const TS_API: &'static str = r#"
import type { SearchParams, SearchableType } from "./search-params.js";
import type { Attached, FhirResource, ResourceOf } from "./resources.js";
export type * from "./search-params.js";
export type * from "./resources.js";

/** Where the authorization page opens. */
export type LaunchTarget = "_self" | "_top" | "_parent" | "popup" | (string & {});

/** Where launches and sessions are kept: `sessionStorage` (default), this document's memory, or your own store. */
export type StorageOption =
  | "session"
  | "memory"
  | {
      getItem(key: string): string | null | Promise<string | null>;
      setItem(key: string, value: string): void | Promise<void>;
      removeItem(key: string): void | Promise<void>;
    };

/** One server the app can launch against. */
export interface ServerOptions {
  /** The app's client id at this server. */
  clientId: string;
  /** Requested scopes, space-separated (`openid fhirUser launch/patient patient/*.rs`). SMART resource scopes are checked before leaving the page. */
  scope: string;
  /** The registered redirect URI (default: this page without its query). */
  redirectUri?: string;
  /** The FHIR base. Required for a standalone launch; for an EHR launch (`?iss=…&launch=…`) it selects this entry. */
  iss?: string;
  /** An EHR launch id given explicitly (normally read from the URL). */
  launch?: string;
}

/** Options of `authorize`. */
export interface AuthorizeOptions extends ServerOptions {
  /** Where to open the authorization page (default `_self`). `popup` completes in this window and needs no storage. */
  target?: LaunchTarget;
  /** Resolve to the authorization URL instead of navigating. */
  noRedirect?: boolean;
  /** Storage for the launch and the session (default `sessionStorage`). */
  storage?: StorageOption;
}

/** Options of `ready`. */
export interface ReadyOptions {
  /** The storage `authorize` used. */
  storage?: StorageOption;
  /** Restore the session of this launch `state` instead of the tab's latest. */
  state?: string;
}

/** A `fhirContext` item of the token response. */
export interface FhirContextItem {
  reference?: string;
  canonical?: string;
  identifier?: { system?: string; value?: string };
  type?: string;
  role?: string;
}

/** Options of every request. */
export interface RequestOptions {
  /** Aborts the request (and any retry wait). */
  signal?: AbortSignal;
}

/** Options of `searchAll` and `pages`. */
export interface PagingOptions extends RequestOptions {
  /** Most resources `searchAll` returns (default 10,000). */
  limit?: number;
  /** Most pages fetched (default 1,000). */
  maxPages?: number;
}

/** Options of `request`. */
export interface RawRequestOptions extends RequestOptions {
  method?: string;
  /** A string, or an object sent as JSON. */
  body?: unknown;
  /** Default `application/fhir+json` when there is a body. */
  contentType?: string;
}

/** Options of `resolveReferences`. */
export interface ResolveOptions extends RequestOptions {
  /** Element paths to resolve (`subject`, `performer.actor`); all references when absent. */
  paths?: string[];
  /** A page whose resources and includes answer references without requests. */
  page?: SearchPage<FhirResource>;
}

/** One page of search results. */
export interface SearchPage<R> {
  /** The matches, with `_include`d resources in `$refs` and `_revinclude`d ones in `$revincluded`. */
  resources: Attached<R>[];
  /** The included resources. */
  included: FhirResource[];
  /** OperationOutcomes of the search (warnings). */
  outcomes: FhirResource[];
  /** The next page's URL, or null. */
  next: string | null;
  /** `Bundle.total`, when asked for with `_total`. */
  total?: number;
  /** The Bundle as received. */
  bundle: FhirResource;
}

/** Every error the SDK throws. */
export interface FlareError extends Error {
  name: "FlareError";
  kind: "network" | "fhir" | "oauth" | "launch" | "id_token" | "storage_unavailable" | "aborted" | "popup" | "protocol";
  /** HTTP status, when a server answered. */
  status?: number;
  /** The OAuth error code (`invalid_grant`, `access_denied` …). */
  oauthError?: string;
  /** OperationOutcome issues of a FHIR error. */
  issues: { severity: string; code: string; diagnostics?: string; expression: string[] }[];
  /** Seconds the server asked to wait (429/503 not retried because the wait was too long). */
  retryAfter?: number;
}

export interface Client {
  /** Reads `type/id`. */
  read<T extends string>(type: T, id: string, options?: RequestOptions): Promise<ResourceOf<T>>;
  /** One page of a search; parameters are checked against the server's registry at compile time. */
  search<T extends SearchableType>(type: T, params?: SearchParams[T], options?: RequestOptions): Promise<SearchPage<ResourceOf<T>>>;
  /** The page after `page` (or after a `next` URL); null at the end. */
  nextPage<R = FhirResource>(page: SearchPage<R> | string, options?: RequestOptions): Promise<SearchPage<R> | null>;
  /** Every match across pages, bounded by `limit` and `maxPages`. */
  searchAll<T extends SearchableType>(type: T, params?: SearchParams[T], options?: PagingOptions): Promise<Attached<ResourceOf<T>>[]>;
  /** The pages of a search as an async iterator: `for await (const page of client.pages(...))`. */
  pages<T extends SearchableType>(type: T, params?: SearchParams[T], options?: PagingOptions): SearchPages<ResourceOf<T>>;
  /** Resolves references (contained → page → server in batches) into `resource.$refs`; resolves to how many were resolved. */
  resolveReferences(resources: FhirResource | FhirResource[], options?: ResolveOptions): Promise<number>;
  /** Any request under the FHIR base with the session's token. */
  request<R = unknown>(path: string, options?: RawRequestOptions): Promise<R>;
}

/** The pages of a search (a `PageIterator` at run time). */
export interface SearchPages<R = FhirResource> extends AsyncIterableIterator<SearchPage<R>> {
  next(): Promise<IteratorResult<SearchPage<R>, undefined>>;
}
"#;

/// Starts a SMART launch (standalone, or EHR when the page URL has `iss` and
/// `launch`): discovery, PKCE S256, `state` and `nonce` from
/// `crypto.getRandomValues`, then the authorization page in `target`.
/// Resolves to the authorization URL (with `noRedirect`, without navigating),
/// or with `target: "popup"` to the `Client` once the popup completes.
#[wasm_bindgen(unchecked_return_type = "Promise<string | Client>")]
pub async fn authorize(
    #[wasm_bindgen(unchecked_param_type = "AuthorizeOptions | ServerOptions[]")] options: JsValue,
) -> Result<JsValue, JsValue> {
    launch::authorize(options).await.map_err(js::to_js_error)
}

/// Completes the launch on the redirect page (checks `state`, exchanges the
/// code, verifies the id_token, removes `code` and `state` from the address
/// bar), or restores the tab's session on a later page load.
#[wasm_bindgen]
pub async fn ready(
    #[wasm_bindgen(unchecked_optional_param_type = "ReadyOptions")] options: JsValue,
) -> Result<Client, JsValue> {
    launch::ready(options).await.map_err(js::to_js_error)
}

/// A client for a token the app already holds (no launch).
#[wasm_bindgen]
pub fn client(
    #[wasm_bindgen(
        unchecked_param_type = "{ serverUrl: string; accessToken: string; refreshToken?: string; tokenEndpoint?: string; clientId?: string; expiresIn?: number; scope?: string; patient?: string; encounter?: string }"
    )]
    options: JsValue,
) -> Result<Client, JsValue> {
    client::from_token(&options).map_err(js::to_js_error)
}

/// Whether `sessionStorage` works in this document (false in an EHR iframe
/// that blocks third-party storage: launch with `target: "popup"` there).
#[wasm_bindgen(js_name = storageAvailable)]
pub fn storage_available() -> bool {
    launch::storage_available()
}
