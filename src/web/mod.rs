//! The web inbox: four static files compiled into the binary, served with a strict Content
//! Security Policy (no inline script, no third-party origins). All data comes from the API.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox/") }))
        .route(
            "/inbox/",
            get(|| async { asset("text/html; charset=utf-8", include_str!("index.html")) }),
        )
        .route(
            "/inbox/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("app.js")) }),
        )
        .route(
            "/inbox/app.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("app.css")) }),
        )
        // Browsers ask for an icon on every page; without one each visit logs a 404.
        .route(
            "/inbox/favicon.svg",
            get(|| async { asset("image/svg+xml", include_str!("favicon.svg")) }),
        )
}
