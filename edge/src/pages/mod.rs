//! The browser pages, one module per group: the patient portal
//! ([`portal`]), the EHR simulator ([`ehr`]), the developer portal
//! ([`developer`]) and practice administration ([`practice`]). They build on
//! the web layer ([`crate::web`]) and act through the authorization server's
//! operations ([`crate::oauth::manage`], [`crate::oauth::register`]); they
//! never write SQL of their own.

pub mod developer;
pub mod ehr;
pub mod portal;
pub mod practice;
