//! `stalk-relay` binary (placeholder until the server lands).
fn main() {}
