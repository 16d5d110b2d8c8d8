//! A static file server on a free 127.0.0.1 port (the OS picks it) for the
//! app origins of the browser suites: for the SDK's test page `/` and `/app.js` from `tests/sdk/page/`, `/unit/…` from
//! `tests/sdk/unit/` (the package API tests), `/pkg/…` from the built npm
//! package `pkg/`; or one directory (a Vite build, a copy of the example
//! Rust web app's build in the sdk and demo suites). A thread per connection,
//! one request each.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Component, Path, PathBuf};

/// The server's origin, `http://127.0.0.1:PORT`.
pub struct StaticServer {
    /// Origin of the served app.
    pub origin: String,
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// What is served.
#[derive(Clone)]
enum Layout {
    /// The repository's test pages and `pkg/`.
    Repo(PathBuf),
    /// One directory, `/` being its `index.html`.
    Dir(PathBuf),
}

/// Maps a request path to a file, refusing `..`.
fn resolve(layout: &Layout, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or("/");
    let (base, rest) = match (layout, path) {
        (Layout::Dir(dir), "/") => (dir.clone(), "index.html"),
        (Layout::Dir(dir), p) => (dir.clone(), p.strip_prefix('/')?),
        (Layout::Repo(root), "/") => (root.join("tests/sdk/page"), "index.html"),
        (Layout::Repo(root), "/app.js") => (root.join("tests/sdk/page"), "app.js"),
        (Layout::Repo(root), p) if p.starts_with("/unit/") => {
            (root.join("tests/sdk/unit"), p.strip_prefix("/unit/")?)
        }
        (Layout::Repo(root), p) => (root.join("pkg"), p.strip_prefix("/pkg/")?),
    };
    let rel = Path::new(rest);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(base.join(rel))
}

fn serve(layout: &Layout, stream: std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let file = resolve(layout, &target);
    let (status, ctype, body) = match file.as_ref().and_then(|f| std::fs::read(f).ok().map(|b| (f, b))) {
        Some((f, b)) => ("200 OK", content_type(f), b),
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = stream;
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(&body));
}

impl StaticServer {
    /// Starts serving the repository at `root`.
    pub fn start(root: &Path) -> Result<StaticServer, String> {
        StaticServer::serve(Layout::Repo(root.to_path_buf()))
    }

    /// Starts serving the directory `dir`.
    pub fn start_dir(dir: &Path) -> Result<StaticServer, String> {
        StaticServer::serve(Layout::Dir(dir.to_path_buf()))
    }

    fn serve(layout: Layout) -> Result<StaticServer, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("static server: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // A thread per connection: browsers open idle speculative connections.
                let layout = layout.clone();
                std::thread::spawn(move || serve(&layout, stream));
            }
        });
        Ok(StaticServer {
            origin: format!("http://127.0.0.1:{port}"),
        })
    }
}
