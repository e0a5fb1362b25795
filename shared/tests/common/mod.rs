//! Helpers shared by the integration tests (`mod common;` in each).

use serde_json::{Value as Json, json};

/// A task event of type `ty` from worker `w@h`, its times following its `clock`, plus the fields
/// of `extra`.
pub(crate) fn task(ty: &str, uuid: &str, clock: i64, extra: Json) -> Json {
    let mut e = json!({"type": ty, "uuid": uuid, "hostname": "w@h", "timestamp": 100.0 + clock as f64,
                       "local_received": 100.5 + clock as f64, "clock": clock});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    e
}
