//! Switchboard: a self-hosted multi-channel customer-support daemon.

pub mod api;
pub mod app;
pub mod automation;
pub mod channels;
pub mod config;
pub mod delivery;
pub mod metrics;
pub mod safety;
pub mod server;
pub mod store;
pub mod web;
