//! A searchset page as the app gets it: the matches, the `_include`d and
//! `_revinclude`d resources attached to them ([`crate::bundle::attachments`]),
//! outcome warnings, the `next` link and the total. The page owns its Bundle;
//! the resources are read in place, not copied.

use serde_json::Value;

use crate::bundle::{self, Attachment, Target};
use crate::error::SdkError;

/// One page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    bundle: Value,
    matches: Vec<usize>,
    included: Vec<usize>,
    outcomes: Vec<usize>,
    attachments: Vec<Attachment>,
    /// The `next` link (followed only under the FHIR base).
    pub next: Option<String>,
    /// `Bundle.total`, when the server counted.
    pub total: Option<f64>,
}

impl SearchPage {
    /// Reads a searchset Bundle from the server at `base`.
    pub fn from_bundle(bundle: Value, base: &str) -> Result<SearchPage, SdkError> {
        let read = bundle::read_page(&&bundle)?;
        let attachments = bundle::attachments(&read, base);
        let positions = |entries: &[bundle::Entry<&Value>]| entries.iter().map(|e| e.position).collect();
        let (matches, included, outcomes) = (
            positions(&read.matches),
            positions(&read.included),
            positions(&read.outcomes),
        );
        let (next, total) = (read.next.clone(), read.total);
        drop(read);
        Ok(SearchPage {
            bundle,
            matches,
            included,
            outcomes,
            attachments,
            next,
            total,
        })
    }

    fn entry_resource(&self, entry: usize) -> &Value {
        &self.bundle["entry"][entry]["resource"]
    }

    /// The matches, in the server's order.
    pub fn resources(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.matches.iter().map(|&i| self.entry_resource(i))
    }

    /// The resources `_include` and `_revinclude` brought.
    pub fn included(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.included.iter().map(|&i| self.entry_resource(i))
    }

    /// The `search.mode = outcome` resources (warnings).
    pub fn outcomes(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.outcomes.iter().map(|&i| self.entry_resource(i))
    }

    /// The Bundle as the server sent it.
    pub fn bundle(&self) -> &Value {
        &self.bundle
    }

    /// The Bundle, taken.
    pub fn into_bundle(self) -> Value {
        self.bundle
    }

    /// Entry positions (in `Bundle.entry`) of the matches, the included
    /// resources and the outcomes, for a caller that walks its own copy of
    /// the Bundle (the npm layer walks the JavaScript objects).
    pub fn entry_positions(&self) -> (&[usize], &[usize], &[usize]) {
        (&self.matches, &self.included, &self.outcomes)
    }

    /// How the page's resources link (see [`Attachment`]).
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    fn target(&self, target: Target) -> &Value {
        match target {
            Target::Match(i) => self.entry_resource(self.matches[i]),
            Target::Included(i) => self.entry_resource(self.included[i]),
        }
    }

    /// The resource of this page that match `index`'s `reference` points to
    /// (an `_include`d one, or another match).
    pub fn referenced(&self, index: usize, reference: &str) -> Option<&Value> {
        self.attachments.iter().find_map(|a| match a {
            Attachment::Reference {
                of,
                reference: r,
                target,
                ..
            } if *of == index && r == reference => Some(self.target(*target)),
            _ => None,
        })
    }

    /// The `_revinclude`d resources that reference match `index`.
    pub fn revincluded(&self, index: usize) -> Vec<&Value> {
        self.attachments
            .iter()
            .filter_map(|a| match a {
                Attachment::Reverse { of, included } if *of == index => {
                    Some(self.target(Target::Included(*included)))
                }
                _ => None,
            })
            .collect()
    }
}
