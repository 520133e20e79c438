//! Ingest's SQL (see `store/ingest.rs` for the adapters' side): `writer`, the group commit
//! loop; `resolve`: identities, contacts and conversations; `insert`: new rows; `change`: edits
//! and deletes; `events`: what a stored message announces.

use super::*;
use crate::store::ingest::{
    GATHER_YIELDS, IngestItem, IngestReport, Job, MAX_GROUP, Outcome, PreparedInbound,
};
use sqlx::pool::PoolConnection;
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_core::{Change, Inbound};
use tokio::sync::mpsc;

mod change;
mod events;
mod insert;
mod resolve;
mod writer;

use change::*;
use events::*;
pub(in crate::store) use insert::insert_attachments;
use insert::*;
use resolve::*;
pub(in crate::store) use writer::writer;
use writer::*;
