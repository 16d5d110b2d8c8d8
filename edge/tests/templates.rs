//! The pages are maud templates, which escape every interpolated value:
//! no page is assembled from HTML in `format!` strings with hand-placed
//! escapes, and the error type (`http/`) renders no HTML of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn edge_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            // The code, not its unit tests (whose expected HTML is literal).
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            (p, code)
        })
        .collect()
}

#[test]
fn no_html_is_built_from_strings_with_hand_placed_escapes() {
    let mut found = Vec::new();
    for (path, text) in edge_sources() {
        for (n, line) in text.lines().enumerate() {
            let hand_made = [
                "esc(",
                "attr(",
                "html_escape",
                "format!(\"<",
                "push_str(\"<",
                "\"<p ",
                "\"<form",
            ]
            .iter()
            .any(|needle| line.contains(needle));
            if hand_made {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "HTML outside the templates:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_error_type_renders_no_html() {
    for (path, text) in edge_sources() {
        if path.components().any(|c| c.as_os_str() == "http") {
            assert!(
                !text.contains("crate::web"),
                "{} imports from web/",
                path.display()
            );
        }
    }
}
