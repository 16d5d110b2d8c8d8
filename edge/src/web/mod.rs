//! The web layer every browser page shares (the authorization pages, the
//! patient portal, the EHR simulator, the developer portal and practice
//! administration): form bodies, cookies, sign-in sessions, CSRF, the
//! sign-in throttle, the page frame and the
//! components every page is built from (forms with CSRF, sign-in, alerts). Must not touch: any
//! page's own routes or the FHIR API.

pub mod attempts;
pub mod components;
pub mod cookie;
pub mod csrf;
pub mod form;
pub mod page;
pub mod session;
pub mod signin;
