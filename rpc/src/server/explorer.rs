//! The built-in explorer: web pages served under `/explorer/` on the RPC address, from
//! files embedded in this crate (`rpc/explorer/`), so they work with the machine offline
//! and need no build step.
//!
//! The pages are a client of the public JSON-RPC API and its WebSocket subscriptions,
//! like any wallet: they call the server they came from (same origin, which
//! [`crate::server::callers`] lets through) and, in `tern testnet`'s network view, the
//! other nodes' loopback addresses. Nothing here reads the node: this module only hands
//! out files. Admin methods are never called by the pages.
//!
//! Served only when the operator asks (`tern node --explorer`, on by default for `tern
//! testnet`); otherwise `/explorer/` answers 404 with the flag that turns it on.

use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};

use crate::server::listener::text_response;
use crate::server::BoxFuture;

/// Where the explorer lives on the RPC address.
pub const EXPLORER_PATH: &str = "/explorer/";

/// One embedded file.
struct Asset {
    /// Its name under [`EXPLORER_PATH`].
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../explorer/", $name)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file of `rpc/explorer/` (a test checks that none is missing).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("explorer.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("errors.js", JS),
    asset!("app.js", JS),
    asset!("rpc.js", JS),
    asset!("format.js", JS),
    asset!("charts.js", JS),
    asset!("search.js", JS),
    asset!("live.js", JS),
    asset!("pages/home.js", JS),
    asset!("pages/block.js", JS),
    asset!("pages/tx.js", JS),
    asset!("pages/address.js", JS),
    asset!("pages/mempool.js", JS),
    asset!("pages/peers.js", JS),
    asset!("pages/network.js", JS),
];

/// The file at `path` (a request path, query removed), if it is one of the explorer's.
fn asset(path: &str) -> Option<&'static Asset> {
    let name = path.strip_prefix(EXPLORER_PATH)?;
    let name = if name.is_empty() { "index.html" } else { name };
    ASSETS.iter().find(|asset| asset.name == name)
}

/// What a page may load and call: its own files, and JSON-RPC on its own server and on
/// loopback ones (the testnet's other nodes). No inline script, no other site.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; \
     connect-src 'self' http://127.0.0.1:* ws://127.0.0.1:* http://localhost:* ws://localhost:*; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn file_response(asset: &Asset, head: bool) -> HttpResponse {
    let body = if head {
        HttpBody::empty()
    } else {
        HttpBody::from(asset.body.to_vec())
    };
    let mut response = HttpResponse::new(body);
    let headers = response.headers_mut();
    use hyper::header::{self, HeaderValue};
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
    // The files change with the binary: a browser asks again rather than show old pages
    // against a new node.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn redirect_to_explorer() -> HttpResponse {
    let mut response = text_response(hyper::StatusCode::PERMANENT_REDIRECT, EXPLORER_PATH);
    response.headers_mut().insert(
        hyper::header::LOCATION,
        hyper::header::HeaderValue::from_static(EXPLORER_PATH),
    );
    response
}

/// The answer to a request for `path` with `method`, or `None` if the path is not the
/// explorer's and the request goes on to JSON-RPC.
fn answer(enabled: bool, method: &hyper::Method, path: &str) -> Option<HttpResponse> {
    let under_explorer = path == "/explorer" || path.starts_with(EXPLORER_PATH);
    if !under_explorer {
        return None;
    }
    if !enabled {
        let why = "the explorer is off on this node; start it with `tern node --explorer` \
                   (or `explorer = true` under [rpc])";
        return Some(text_response(hyper::StatusCode::NOT_FOUND, why));
    }
    let head = method == hyper::Method::HEAD;
    if method != hyper::Method::GET && !head {
        let mut response = text_response(
            hyper::StatusCode::METHOD_NOT_ALLOWED,
            "the explorer's pages are read with GET",
        );
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return Some(response);
    }
    if path == "/explorer" {
        return Some(redirect_to_explorer());
    }
    Some(match asset(path) {
        Some(asset) => file_response(asset, head),
        None => text_response(
            hyper::StatusCode::NOT_FOUND,
            &format!("no such explorer file; the explorer is at {EXPLORER_PATH}"),
        ),
    })
}

/// The tower layer that answers requests under `/explorer` and passes every other on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExplorerLayer {
    /// Serve the pages (`--explorer`), or answer that they are off.
    pub(crate) enabled: bool,
}

impl<S> tower::Layer<S> for ExplorerLayer {
    type Service = Explorer<S>;

    fn layer(&self, inner: S) -> Explorer<S> {
        Explorer {
            inner,
            enabled: self.enabled,
        }
    }
}

/// See [`ExplorerLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Explorer<S> {
    inner: S,
    enabled: bool,
}

impl<S> tower::Service<HttpRequest<HttpBody>> for Explorer<S>
where
    S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<HttpBody>) -> Self::Future {
        if let Some(response) = answer(self.enabled, request.method(), request.uri().path()) {
            return Box::pin(async move { Ok(response) });
        }
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    #[test]
    fn every_file_of_the_explorer_directory_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("explorer");
        let mut on_disk = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let name = path.strip_prefix(&root).unwrap();
                    on_disk.push(name.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }

    #[test]
    fn the_index_is_the_explorer_root_and_other_paths_pass_on() {
        let index = answer(true, &Method::GET, "/explorer/").unwrap();
        assert_eq!(index.status(), 200);
        assert_eq!(index.headers()["content-type"], HTML);
        assert!(index.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let script = answer(true, &Method::GET, "/explorer/pages/block.js").unwrap();
        assert_eq!(script.headers()["content-type"], JS);
        let bare = answer(true, &Method::GET, "/explorer").unwrap();
        assert_eq!(bare.status(), 308);
        assert_eq!(bare.headers()["location"], EXPLORER_PATH);
        assert!(answer(true, &Method::POST, "/").is_none());
        assert!(answer(true, &Method::GET, "/explorerx").is_none());
    }

    #[test]
    fn unknown_files_other_methods_and_a_disabled_explorer_are_told_apart() {
        let missing = answer(true, &Method::GET, "/explorer/../Cargo.toml").unwrap();
        assert_eq!(missing.status(), 404);
        let posted = answer(true, &Method::POST, "/explorer/").unwrap();
        assert_eq!(posted.status(), 405);
        assert_eq!(posted.headers()["allow"], "GET, HEAD");
        let off = answer(false, &Method::GET, "/explorer/").unwrap();
        assert_eq!(off.status(), 404);
        let head = answer(true, &Method::HEAD, "/explorer/app.js").unwrap();
        assert_eq!(head.status(), 200);
        assert!(head.headers()["content-length"] != "0");
    }
}
