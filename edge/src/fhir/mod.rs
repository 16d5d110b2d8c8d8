//! The FHIR API: read, search, the operations `$docref` and `$everything`
//! (searches compiled under the caller's visibility), the CapabilityStatement, the service base
//! bundle, import and Bulk Data export. Who sees what is decided in one
//! place, [`access`], and enforced by the search compiler on every table a
//! statement touches ([`crate::store::search_sql`]). Must not touch: the
//! authorization server's tables except through the router's [`crate::app::Caller`].

pub mod access;
pub mod bulk;
pub mod capability;
pub mod docref;
pub mod everything;
pub mod import;
pub mod read;
pub mod search;
pub mod service_base;
