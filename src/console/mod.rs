//! The console: a web page served at `/console` by the server itself,
//! from assets embedded in the binary (plain HTML, CSS and an ES module:
//! no build step, no network at run time). It is a client of the server's
//! own public APIs (the DynamoDB JSON the SDKs send), signing its requests
//! with SigV4 when an access key is given, so it sees what any client sees
//! and needs no access of its own: its assets hold no data and are served
//! without authentication.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

/// The page, its script and its style sheet, by path.
const ASSETS: [(&str, &str, &str); 3] = [
    ("/console", "text/html; charset=utf-8", include_str!("assets/index.html")),
    ("/console/app.js", "text/javascript; charset=utf-8", include_str!("assets/app.js")),
    ("/console/style.css", "text/css; charset=utf-8", include_str!("assets/style.css")),
];

/// Whether `path` is the console's.
pub fn addressed(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The asset at `path` (`/console/` is the page too), or 404.
pub fn serve(path: &str) -> Response<Body> {
    let path = if path == "/console/" { "/console" } else { path };
    let Some((_, kind, body)) = ASSETS.iter().find(|(p, _, _)| *p == path) else {
        let mut r = Response::new(Body::from("Not found"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let mut r = Response::new(Body::from(*body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Assets change with the binary: never served stale after an upgrade.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // The page keeps an access key in the tab: it runs only its own script
    // and is never framed.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_served_and_nothing_else() {
        for (path, kind) in [
            ("/console", "text/html; charset=utf-8"),
            ("/console/", "text/html; charset=utf-8"),
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/style.css", "text/css; charset=utf-8"),
        ] {
            let r = serve(path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], kind, "{path}");
        }
        assert_eq!(serve("/console/../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert!(addressed("/console") && addressed("/console/app.js") && !addressed("/consoles"));
    }
}
