//! Integration tests: the daemon driven over HTTP, plus the store and dispatcher through the
//! library API. One test binary, so the suite links once.

mod api;
mod api_channel;
mod cli;
mod config_check;
mod config_first_steps;
mod crash;
mod csat;
mod discord;
mod discord_fake;
mod dispatcher;
mod email;
mod front_desk;
mod hardening;
mod helpers;
mod live;
mod mail_servers;
mod openapi;
mod postgres;
mod queue;
mod reports;
mod safety;
mod scale_out;
mod security;
mod spike;
mod store;
mod telegram;
mod telegram_fake;
