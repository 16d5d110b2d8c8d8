//! SMART App Launch vocabulary shared by the authorization server and the
//! SDK: the scope grammar of SMART v1 and v2
//! (<https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html>),
//! what granted scopes permit, and the OAuth wire types.

pub mod access;
pub mod scope;
pub mod wire;
