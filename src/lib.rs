//! Switchboard: a self-hosted multi-channel customer-support daemon.

pub mod api;
pub mod app;
pub mod channels;
pub mod config;
pub mod metrics;
pub mod outbox;
pub mod safety;
pub mod server;
pub mod store;
pub mod web;
