//! Which web pages may reach the server: the `Host` and `Origin` checks that run before
//! any method, so that a page in a developer's browser cannot drive their node.
//!
//! Two attacks are closed here. **Cross-origin calls**: a page at `https://evil.example`
//! opens a WebSocket to `ws://127.0.0.1:8645` (browsers allow it and send their
//! `Origin`), or posts to it. **DNS rebinding**: the page's own name is made to resolve
//! to 127.0.0.1, so that its requests are same-origin to the browser; they still carry
//! the attacker's name in `Host`. A request passes when:
//!
//! - its `Host` is an IP address, `localhost` or a `*.localhost` name, or one the
//!   operator allowed (`--rpc-allow-host`, `*` for any). A rebinding page always sends a
//!   name, never an address. No `Host` at all is not a browser.
//! - it has no `Origin` (not a browser page: curl, wallets, the node's own tools), or its
//!   `Origin` is a loopback page (`http://localhost:3000`, `http://127.0.0.1:5173`), or
//!   the server's own origin (a page the node serves: the origin's host and port are the
//!   request's `Host`), or one the operator allowed (`--rpc-allow-origin`, `*` for any).
//!
//! Anything else gets HTTP 403 with a one-line reason naming the flag that allows it, as
//! geth's `--http.vhosts` and `--ws.origins` do.

use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpRequest, HttpResponse};

use crate::server::listener::text_response;
use crate::server::BoxFuture;

/// The header names, as HTTP/1.1 and hyper spell them.
const HOST: &str = "host";
const ORIGIN: &str = "origin";

/// The allow-lists beyond the defaults, from the node's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedCallers {
    /// Host names (without a port) that may be in `Host`; `*` allows any.
    pub hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) that may be in `Origin`; `*` allows any.
    pub origins: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `Host` names a host that is not allowed.
    #[error("host {0} is not allowed to call this node (DNS rebinding?); allow it with --rpc-allow-host {0}")]
    Host(String),
    /// `Origin` is a web page that is not allowed.
    #[error("origin {0} is not allowed to call this node; allow it with --rpc-allow-origin {0}")]
    Origin(String),
    /// A header that is not text.
    #[error("the {0} header is not valid text")]
    Malformed(&'static str),
}

impl AllowedCallers {
    /// Whether a request with these `Host` and `Origin` headers may be served.
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), Refusal> {
        if let Some(host) = host {
            let name = host_name(host);
            if !(is_address_or_localhost(name) || self.allows_host(name)) {
                return Err(Refusal::Host(name.to_owned()));
            }
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let authority = origin
            .split_once("://")
            .map(|(_, authority)| authority.trim_end_matches('/'));
        let same_origin =
            authority.is_some_and(|a| host.is_some_and(|h| a.eq_ignore_ascii_case(h)));
        let loopback = authority.is_some_and(|a| is_loopback_name(host_name(a)));
        let listed = self.origins.iter().any(|allowed| {
            allowed == "*" || allowed.eq_ignore_ascii_case(origin.trim_end_matches('/'))
        });
        if same_origin || loopback || listed {
            Ok(())
        } else {
            Err(Refusal::Origin(origin.to_owned()))
        }
    }

    fn allows_host(&self, name: &str) -> bool {
        self.hosts
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(name))
    }

    fn check_request<B>(&self, request: &HttpRequest<B>) -> Result<(), Refusal> {
        // By the header's typed name: a name given as text is parsed again on every look.
        let header = |name: hyper::header::HeaderName, text: &'static str| {
            request
                .headers()
                .get(name)
                .map(|value| value.to_str().map_err(|_| Refusal::Malformed(text)))
                .transpose()
        };
        self.check(
            header(hyper::header::HOST, HOST)?,
            header(hyper::header::ORIGIN, ORIGIN)?,
        )
    }
}

/// The host part of `host[:port]` or `[v6]:port`, without brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => authority,
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// An address of any kind, or a name that always means this machine.
fn is_address_or_localhost(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok() || is_localhost(name)
}

/// A name or address of this machine only.
fn is_loopback_name(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) || is_localhost(name)
}

/// The tower layer that applies [`AllowedCallers`] to every HTTP request and WebSocket
/// handshake.
#[derive(Debug, Clone)]
pub(crate) struct CallerCheckLayer(Arc<AllowedCallers>);

impl CallerCheckLayer {
    pub(crate) fn new(allowed: AllowedCallers) -> CallerCheckLayer {
        CallerCheckLayer(Arc::new(allowed))
    }
}

impl<S> tower::Layer<S> for CallerCheckLayer {
    type Service = CallerCheck<S>;

    fn layer(&self, inner: S) -> CallerCheck<S> {
        CallerCheck {
            inner,
            allowed: Arc::clone(&self.0),
        }
    }
}

/// See [`CallerCheckLayer`].
#[derive(Debug, Clone)]
pub(crate) struct CallerCheck<S> {
    inner: S,
    allowed: Arc<AllowedCallers>,
}

impl<S, B> tower::Service<HttpRequest<B>> for CallerCheck<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        match self.allowed.check_request(&request) {
            Ok(()) => {
                let future = self.inner.call(request);
                Box::pin(async move { future.await.map_err(Into::into) })
            }
            Err(refusal) => {
                tracing::debug!(%refusal, "refused an RPC request");
                let response = text_response(hyper::StatusCode::FORBIDDEN, &refusal.to_string());
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> AllowedCallers {
        AllowedCallers::default()
    }

    #[test]
    fn tools_and_loopback_pages_pass_by_default() {
        let allowed = defaults();
        for (host, origin) in [
            (Some("127.0.0.1:8645"), None),
            (Some("localhost:8645"), None),
            (Some("[::1]:8645"), None),
            (Some("192.168.1.5:8645"), None),
            (None, None),
            (Some("127.0.0.1:8645"), Some("http://localhost:3000")),
            (Some("127.0.0.1:8645"), Some("http://127.0.0.1:5173")),
            (Some("localhost:8645"), Some("http://[::1]:8080")),
            (Some("192.168.1.5:8645"), Some("http://192.168.1.5:8645")),
            (
                Some("app.localhost:8645"),
                Some("http://app.localhost:8645"),
            ),
        ] {
            assert_eq!(allowed.check(host, origin), Ok(()), "{host:?} {origin:?}");
        }
    }

    #[test]
    fn foreign_pages_and_rebound_names_are_refused() {
        let allowed = defaults();
        assert_eq!(
            allowed.check(Some("127.0.0.1:8645"), Some("https://evil.example")),
            Err(Refusal::Origin("https://evil.example".into()))
        );
        assert_eq!(
            allowed.check(Some("127.0.0.1:8645"), Some("null")),
            Err(Refusal::Origin("null".into()))
        );
        assert_eq!(
            allowed.check(Some("evil.example:8645"), Some("http://evil.example:8645")),
            Err(Refusal::Host("evil.example".into()))
        );
        assert_eq!(
            allowed.check(Some("evil.example"), None),
            Err(Refusal::Host("evil.example".into()))
        );
        // A page on another machine's address is not a loopback page.
        assert!(allowed
            .check(Some("127.0.0.1:8645"), Some("http://192.168.1.9"))
            .is_err());
    }

    #[test]
    fn the_operator_allows_more() {
        let allowed = AllowedCallers {
            hosts: vec!["node.lan".into()],
            origins: vec!["https://wallet.example".into()],
        };
        assert_eq!(allowed.check(Some("NODE.lan:8645"), None), Ok(()));
        assert_eq!(
            allowed.check(Some("127.0.0.1:8645"), Some("https://wallet.example/")),
            Ok(())
        );
        assert!(allowed.check(Some("other.lan"), None).is_err());
        let anyone = AllowedCallers {
            hosts: vec!["*".into()],
            origins: vec!["*".into()],
        };
        assert_eq!(
            anyone.check(Some("any.name"), Some("https://evil.example")),
            Ok(())
        );
    }
}
