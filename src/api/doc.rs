//! The OpenAPI document served at `/api/openapi.json`: every route's operation, the security
//! schemes, and the error answers the routes share. Bodies are described by the same types the
//! handlers return, so the document cannot say one shape while a handler sends another.

use super::error::ErrorBody;
use super::{
    agents, attachments, canned_answers, contacts, conversations, events, inbound, knowledge,
    messages, notes, notices, ops, queue, reports, verification,
};
use std::collections::BTreeMap;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{IntoResponses, OpenApi, ToResponse, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard agent API",
        description = "Inbox, conversations, replies and live events.\n\n\
            Every `/api/v1` route needs `Authorization: Bearer <token>` (security scheme `bearer`: \
            a token from `switchboard agent add`), except a channel's inbound route, which takes \
            that channel's secret (`channel_secret`). Routes marked *admin only* answer 403 to \
            an agent without the admin role. Failed authentications are limited per client \
            address (429 with `Retry-After` past the limit, for any token, for a minute). Every \
            error answers `{\"error\": \"...\"}` (`ErrorBody`).\n\n\
            Not listed: the web inbox's static files (`/`, `/inbox/`, `/inbox/app.js`, \
            `/inbox/app.css`, `/inbox/favicon.svg`), which are a page for browsers, not part of \
            this API. Any other path answers 404, and a listed path with another method 405, \
            both with an `ErrorBody`."
    ),
    paths(
        conversations::list_conversations,
        conversations::get_conversation,
        conversations::patch_conversation,
        conversations::get_participants,
        conversations::put_participants,
        queue::list_activity,
        queue::list_teams,
        queue::post_team,
        queue::put_team,
        queue::delete_team,
        queue::list_labels,
        queue::put_label,
        queue::list_spikes,
        reports::summary,
        reports::agents,
        messages::list_messages,
        messages::post_message,
        messages::retry_message,
        messages::cancel_message,
        verification::post_verify,
        verification::get_verification,
        notes::list_notes,
        notes::post_note,
        knowledge::search_knowledge,
        notices::list_notices,
        notices::post_notice,
        notices::delete_notice,
        canned_answers::list_canned,
        canned_answers::post_canned,
        canned_answers::patch_canned,
        canned_answers::delete_canned,
        attachments::download_attachment,
        contacts::get_contact,
        contacts::merge_contact,
        events::events,
        events::put_focus,
        agents::me,
        agents::list_agents,
        inbound::channel_inbound,
        inbound::telegram_webhook,
        ops::healthz,
        ops::metrics,
        ops::openapi,
    ),
    components(
        // Reached only through hand-written responses, so listed here.
        schemas(ErrorBody, ops::HealthReport),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            TooLarge,
            NotJson,
            TooManyRequests,
            Unavailable
        )
    ),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// An error answer: an `ErrorBody`, with the headers that come with it.
fn error_response(description: &str, headers: &[(&str, &str)]) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ErrorBody::name())))
            .build(),
    );
    for (name, description) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(*description))
                .build(),
        );
    }
    response.build()
}

/// An error answer shared by many operations, listed once under `components/responses`.
macro_rules! shared_error {
    ($(#[$doc:meta])* $name:ident, $description:expr $(, $header:literal = $header_doc:literal)* $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (
                    stringify!($name),
                    error_response($description, &[$(($header, $header_doc)),*]).into(),
                )
            }
        }
    };
}

shared_error!(
    BadRequest,
    "The request is malformed: a path or query parameter of the wrong type, a body that is not \
     JSON or not of the documented shape, or a value the route refuses (the message names the \
     field)."
);
shared_error!(
    Unauthorized,
    "No `Authorization: Bearer` credential, or one that is wrong (unknown, revoked, a disabled \
     agent's, or not the channel's secret).",
    "WWW-Authenticate" = "`Bearer`",
);
shared_error!(
    Forbidden,
    "Admin only: the token's agent does not have the admin role."
);
shared_error!(
    TooLarge,
    "The request body is larger than `server.max_body_bytes`."
);
shared_error!(
    NotJson,
    "The body was not sent as `Content-Type: application/json`."
);
shared_error!(
    TooManyRequests,
    "Too many failed authentications from this address (any token is refused for a minute), \
     or, for the event stream, too many open streams.",
    "Retry-After" = "Seconds to wait before trying again.",
);
shared_error!(
    Unavailable,
    "The store cannot write (a full disk, a failing database) or the request took longer than \
     `server.request_timeout`; try again shortly.",
    "Retry-After" = "Seconds to wait before trying again.",
);

fn response_ref<'s, R: ToResponse<'s>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(R::response().0))
}

/// What any route behind an agent token may also answer: 401, 429 and 503.
pub struct AgentErrors;

impl IntoResponses for AgentErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("401".into(), response_ref::<Unauthorized>()),
            ("429".into(), response_ref::<TooManyRequests>()),
            ("503".into(), response_ref::<Unavailable>()),
        ])
    }
}

/// What an admin-only route may also answer: the agent errors and 403.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = AgentErrors::responses();
        responses.insert("403".into(), response_ref::<Forbidden>());
        responses
    }
}

/// What a route reading a JSON body may also answer: 400, 413 and 415.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".into(), response_ref::<BadRequest>()),
            ("413".into(), response_ref::<TooLarge>()),
            ("415".into(), response_ref::<NotJson>()),
        ])
    }
}

/// The credentials the operations name in their `security`.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_default();
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An agent's token, printed by `switchboard agent add`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "channel_secret",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `secret` of the `api` channel named in the path, as a bearer token.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "telegram_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Telegram-Bot-Api-Secret-Token",
                "The `webhook_secret` of the `telegram` channel named in the path; Telegram \
                 sends it with every webhook post.",
            ))),
        );
    }
}
