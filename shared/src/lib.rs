//! `stalk-state`: Celery's event State, ported exactly from Python's `celery.events.state.State`,
//! sans-IO, for native code and `wasm32-unknown-unknown` alike.
//!
//! The pipeline is: [`decode_body`] turns a message body into [`Event`]s (one bad element never
//! loses the others), a [`Receiver`] normalises each (Lamport clock, `local_received` supplied by
//! the caller), and [`State::apply`] merges it, reporting what changed ([`Applied`]). [`views`] has
//! what a UI reads every frame (trees, a live filtered and sorted window), [`dump`] the canonical
//! JSON used to compare with Python.
//!
//! Nothing here reads a clock, spawns, or does IO: time comes from events or from a `now` argument.

pub mod dump;
pub mod event;
pub mod json;
pub mod receiver;
pub mod state;
pub mod value;
pub mod views;
mod words;

#[cfg(test)]
mod testing;

pub use event::{
    DecodeError, Event, EventKind, Fields, OTHER_KEYS_MAX, TaskSubject, WorkerSubject, decode_body,
    decode_event, decode_event_prefix,
};
pub use json::JsonRef;
pub use receiver::Receiver;
pub use state::{
    Applied, ApplyError, Bound, Counts, EXTRAS_MAX, Evicted, Handle, Limits, NewWorker, State,
    StateCounts, TASK_TYPES_MAX, Task, TaskInfo, TaskState, Worker,
};
pub use value::{Num, Value};
