//! The request of one purchase, built from the user's templates. What does
//! not change from one attempt to the next (the path, the Host header,
//! headers and a body without `{buyer}`, `{token}`, ...) is rendered once
//! per instance and reused; only the per-attempt parts are rendered anew.

use std::cell::RefCell;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};

use super::Place;
use crate::scenario::{HttpSettings, Template, Var};
use crate::strategy::{render as fill, Context};

/// The request templates, compiled.
pub struct Requests {
    method: hyper::Method,
    url: Template,
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    /// Whether a template names `{token}` (else none is made).
    pub uses_token: bool,
    /// Per place, once rendered: what every attempt shares.
    fixed: RefCell<Vec<Option<Fixed>>>,
}

/// The parts of a request that are the same for every attempt on a place;
/// `None` where a part depends on the attempt.
#[derive(Clone)]
struct Fixed {
    uri: Option<hyper::Uri>,
    host: HeaderValue,
    headers: Vec<Option<HeaderValue>>,
    body: Option<Bytes>,
}

impl Requests {
    pub fn new(http: &HttpSettings, places: usize) -> Requests {
        let uses = |t: &Template| t.pieces.contains(&crate::scenario::Piece::Var(Var::Token));
        let uses_token = uses(&http.url)
            || http.headers.iter().any(|(_, v)| uses(v))
            || http.body.as_ref().is_some_and(uses);
        Requests {
            method: hyper::Method::from_bytes(http.method.as_bytes())
                .unwrap_or(hyper::Method::POST),
            url: http.url.clone(),
            headers: http
                .headers
                .iter()
                .filter_map(|(n, v)| Some((HeaderName::from_bytes(n.as_bytes()).ok()?, v.clone())))
                .collect(),
            body: http.body.clone(),
            uses_token,
            fixed: RefCell::new(vec![None; places]),
        }
    }

    /// The request for this attempt on place `index`; `None` when its
    /// rendered path is no URL path (nothing else is sent instead).
    pub fn build(
        &self,
        index: usize,
        place: &Place,
        ctx: &Context<'_>,
        token: &str,
    ) -> Option<hyper::Request<Full<Bytes>>> {
        let fixed = self.fixed(index, place, ctx);
        let fill = |t: &Template| fill(t, ctx, token, &place.base);
        let mut request = hyper::Request::new(Full::new(match (&fixed.body, &self.body) {
            (Some(body), _) => body.clone(),
            (None, Some(t)) => Bytes::from(fill(t)),
            (None, None) => Bytes::new(),
        }));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = match fixed.uri {
            Some(uri) => uri,
            None => path(&fill(&self.url), &place.base).parse().ok()?,
        };
        let headers = request.headers_mut();
        headers.insert(hyper::header::HOST, fixed.host);
        for ((name, template), value) in self.headers.iter().zip(fixed.headers) {
            // A rendered value no header may hold is left out; the reply
            // says what the service makes of that.
            let value = value.or_else(|| HeaderValue::from_str(&fill(template)).ok());
            if let Some(value) = value {
                headers.append(name.clone(), value);
            }
        }
        Some(request)
    }

    /// The attempt-independent parts for a place, rendered on first use.
    fn fixed(&self, index: usize, place: &Place, ctx: &Context<'_>) -> Fixed {
        if let Some(fixed) = &self.fixed.borrow()[index] {
            return fixed.clone();
        }
        let once = |t: &Template| (!t.per_attempt()).then(|| fill(t, ctx, "", &place.base));
        let fixed = Fixed {
            uri: once(&self.url).and_then(|url| path(&url, &place.base).parse().ok()),
            host: HeaderValue::from_str(&place.authority)
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            headers: self
                .headers
                .iter()
                .map(|(_, t)| once(t).and_then(|v| HeaderValue::from_str(&v).ok()))
                .collect(),
            body: self.body.as_ref().and_then(once).map(Bytes::from),
        };
        self.fixed.borrow_mut()[index] = Some(fixed.clone());
        fixed
    }
}

/// The path (and query) of a rendered URL: after the instance's base, or
/// after a fixed URL's host.
fn path(url: &str, base: &str) -> String {
    let path = match url.strip_prefix(base) {
        Some(rest) => rest,
        None => url
            .strip_prefix("http://")
            .map(|r| &r[r.find('/').unwrap_or(r.len())..])
            .unwrap_or(url),
    };
    match path.starts_with('/') {
        true => path.to_owned(),
        false => format!("/{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn the_path_is_what_follows_the_instance_or_the_host() {
        assert_eq!(
            path("http://127.0.0.1:9/buy?x=1", "http://127.0.0.1:9"),
            "/buy?x=1"
        );
        assert_eq!(path("http://shop:80/a/b", "http://other:1"), "/a/b");
        assert_eq!(path("http://127.0.0.1:9", "http://127.0.0.1:9"), "/");
    }
}
