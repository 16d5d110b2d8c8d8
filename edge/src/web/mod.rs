//! The web layer every browser page shares (the authorization pages, the
//! patient portal, the EHR simulator, the developer portal and practice
//! administration): form bodies, cookies, sign-in sessions, CSRF, the
//! sign-in throttle and form, and the HTML frame. Must not touch: any
//! page's own routes or the FHIR API.

pub mod attempts;
pub mod cookie;
pub mod csrf;
pub mod form;
pub mod page;
pub mod session;
pub mod signin;
