//! Message bodies to events: a JSON object is one event, a JSON array (`task.multi`) is several, in
//! order; everything else is rejected with a stable reason code.
//!
//! Events are kept as the exact JSON text the worker published ([`RawValue`]): the relay forwards,
//! it does not re-encode. Only the `type` field is read, for metrics.
//!
//! One exception: Python's `json` writes two things beyond strict JSON. `NaN`, `Infinity` and
//! `-Infinity` (a custom event field set to `float('nan')`) are not JSON at all; a lone surrogate
//! escape (`"\udcff"`, from a traceback quoting a file name that is not UTF-8) is JSON that
//! strict parsers such as serde_json refuse. A body with either is forwarded with the numbers as
//! `null` and the surrogates as `\ufffd` ([`Outcome::rewritten`], see
//! [`stalk_state::json::strict_json`]), rather than dropped whole with every event of its batch,
//! so every frame is JSON that any client can read.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Default bound on a message body: far above a real batch (24 events with 1 kB reprs each is
/// about 60 kB), far below anything that could hurt the relay's memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a body, or one element of a batch, was dropped. [`Reason::code`] is the metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The body is larger than the configured bound; it is not parsed at all.
    TooLarge,
    /// Declared or sniffed as pickle (`event_serializer='pickle'`).
    Pickle,
    /// Declared as msgpack.
    Msgpack,
    /// Declared as YAML.
    Yaml,
    /// Not valid UTF-8 and no known serializer: binary garbage.
    Binary,
    /// Text, but not valid JSON (truncated, broken, or another text format).
    NotJson,
    /// JSON, but not an object, nor an array of objects (e.g. `42`, or a string inside a batch).
    NotObject,
    /// A JSON object without a string `type` field: not a Celery event.
    MissingType,
}

impl Reason {
    /// Every reason, for metrics that list them all (even at zero).
    pub const ALL: [Reason; 8] = [
        Reason::TooLarge,
        Reason::Pickle,
        Reason::Msgpack,
        Reason::Yaml,
        Reason::Binary,
        Reason::NotJson,
        Reason::NotObject,
        Reason::MissingType,
    ];

    /// Stable short code, used as the Prometheus label `reason`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::Pickle => "pickle",
            Reason::Msgpack => "msgpack",
            Reason::Yaml => "yaml",
            Reason::Binary => "binary",
            Reason::NotJson => "not_json",
            Reason::NotObject => "not_object",
            Reason::MissingType => "missing_type",
        }
    }

    /// What an operator can do about it, logged with the first occurrence.
    pub fn hint(self) -> &'static str {
        match self {
            Reason::TooLarge => "raise --max-body-bytes if such bodies are legitimate",
            Reason::Pickle | Reason::Msgpack | Reason::Yaml | Reason::Binary => {
                "the relay reads JSON only: set event_serializer='json' in the Celery app"
            }
            Reason::NotJson => {
                "a publisher sent malformed JSON; check event_serializer='json' and custom publishers"
            }
            Reason::NotObject | Reason::MissingType => {
                "something other than Celery publishes to the celeryev exchange"
            }
        }
    }

    /// Position in [`Reason::ALL`], for per-reason counters in arrays.
    pub fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).expect("listed")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One good event out of a body.
#[derive(Debug)]
pub struct Decoded {
    /// The event's `type` (e.g. `task-succeeded`).
    pub kind: String,
    /// The event's JSON exactly as published.
    pub raw: Box<RawValue>,
    /// The event's `timestamp` (sender clock, unix seconds), when it is a number.
    pub timestamp: Option<f64>,
}

/// Everything a body gave: good events in order, and one reason per dropped body or element.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Good events, in body order.
    pub events: Vec<Decoded>,
    /// Reasons for what was dropped (one per bad element, or one for a whole bad body).
    pub errors: Vec<Reason>,
    /// The body held `NaN` / `Infinity` / `-Infinity` (now `null` in the events' text) or lone
    /// surrogate escapes (now `\ufffd`).
    pub rewritten: bool,
}

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "number_or_none")]
    timestamp: Option<f64>,
}

/// A number, or `None` for anything else (a malformed `timestamp` is not the relay's business).
fn number_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_f64())
}

/// Decodes one message body. `content_type` is the AMQP property, used only to name the reason
/// when the body is not JSON.
pub fn decode(body: &[u8], content_type: Option<&str>, max_body_bytes: usize) -> Outcome {
    let mut out = Outcome::default();
    if body.len() > max_body_bytes {
        out.errors.push(Reason::TooLarge);
        return out;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        out.errors.push(non_json_reason(body, content_type, true));
        return out;
    };
    let strict;
    (strict, out.rewritten) = strict_form(text);
    let raw: Box<RawValue> = match serde_json::from_str(&strict) {
        Ok(raw) => raw,
        Err(_) => {
            out.rewritten = false;
            out.errors.push(non_json_reason(body, content_type, false));
            return out;
        }
    };
    match raw.get().as_bytes().first() {
        Some(b'{') => element(raw, &mut out),
        Some(b'[') => match serde_json::from_str::<Vec<Box<RawValue>>>(raw.get()) {
            Ok(items) => items.into_iter().for_each(|item| element(item, &mut out)),
            Err(_) => out.errors.push(Reason::NotJson),
        },
        _ => out.errors.push(Reason::NotObject),
    }
    out
}

/// `text` in the strict form the relay forwards (see the module's documentation), and whether it
/// had to change.
pub(crate) fn strict_form(text: &str) -> (Cow<'_, str>, bool) {
    let strict = stalk_state::json::strict_json(text);
    let changed = matches!(strict, Cow::Owned(_));
    (strict, changed)
}

fn element(raw: Box<RawValue>, out: &mut Outcome) {
    if !raw.get().starts_with('{') {
        out.errors.push(Reason::NotObject);
        return;
    }
    match serde_json::from_str::<TypeOnly<'_>>(raw.get()) {
        Ok(TypeOnly {
            kind: Some(kind),
            timestamp,
        }) => {
            out.events.push(Decoded {
                kind: kind.into_owned(),
                raw,
                timestamp,
            });
        }
        _ => out.errors.push(Reason::MissingType),
    }
}

/// Names what a non-JSON body most likely is: the declared content type first, then a sniff
/// (pickle protocol 2+ starts with `0x80`).
fn non_json_reason(body: &[u8], content_type: Option<&str>, binary: bool) -> Reason {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("python-serialize") || ct.contains("pickle") || body.first() == Some(&0x80) {
        Reason::Pickle
    } else if ct.contains("msgpack") {
        Reason::Msgpack
    } else if ct.contains("yaml") {
        Reason::Yaml
    } else if binary {
        Reason::Binary
    } else {
        Reason::NotJson
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(body, content type, expected good events' raw text, expected reasons)`.
    fn check(body: &[u8], ct: Option<&str>, events: &[&str], errors: &[Reason]) {
        let out = decode(body, ct, 200);
        let got: Vec<&str> = out.events.iter().map(|e| e.raw.get()).collect();
        assert_eq!(got, events, "body {:?}", String::from_utf8_lossy(body));
        assert_eq!(
            out.errors,
            errors,
            "body {:?}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn objects_and_batches() {
        let a = r#"{"type":"task-started","uuid":"u1"}"#;
        let b = r#"{"type":"task-succeeded","uuid":"u1","result":"3"}"#;
        check(a.as_bytes(), None, &[a], &[]);
        check(format!("[{a}, {b}]").as_bytes(), None, &[a, b], &[]);
        check(format!(" [ {a} ]\n").as_bytes(), None, &[a], &[]);
        check(b"[]", None, &[], &[]);
        let out = decode(format!("[{a},{b}]").as_bytes(), None, 200);
        let kinds: Vec<&str> = out.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["task-started", "task-succeeded"]);
        let out = decode(
            br#"[{"type":"a","timestamp":12.5},{"type":"b","timestamp":"x"}]"#,
            None,
            200,
        );
        let stamps: Vec<Option<f64>> = out.events.iter().map(|e| e.timestamp).collect();
        assert_eq!(stamps, [Some(12.5), None]);
    }

    #[test]
    fn bad_elements_are_dropped_and_the_rest_flows() {
        let a = r#"{"type":"task-started"}"#;
        check(
            format!(r#"[{a}, 7, "x", {{"uuid":"u"}}, {{"type":1}}, {a}]"#).as_bytes(),
            None,
            &[a, a],
            &[
                Reason::NotObject,
                Reason::NotObject,
                Reason::MissingType,
                Reason::MissingType,
            ],
        );
    }

    #[test]
    fn whole_bodies_rejected_by_reason() {
        let pickle = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04type\x94.";
        check(
            pickle,
            Some("application/x-python-serialize"),
            &[],
            &[Reason::Pickle],
        );
        check(pickle, None, &[], &[Reason::Pickle]);
        check(
            b"\x81\xa4type\xa1x",
            Some("application/x-msgpack"),
            &[],
            &[Reason::Msgpack],
        );
        check(
            b"type: task-sent\n",
            Some("application/x-yaml"),
            &[],
            &[Reason::Yaml],
        );
        check(b"\xff\xfe\x00garbage", None, &[], &[Reason::Binary]);
        check(
            br#"{"type":"task-sent""#,
            Some("application/json"),
            &[],
            &[Reason::NotJson],
        );
        check(b"", None, &[], &[Reason::NotJson]);
        check(b"42", None, &[], &[Reason::NotObject]);
        check(br#""task""#, None, &[], &[Reason::NotObject]);
        check(&[b' '; 201], None, &[], &[Reason::TooLarge]);
    }

    #[test]
    fn python_extras_are_forwarded_as_strict_json() {
        let body = br#"[{"type":"task-progress","uuid":"u","ratio":NaN,"s":"NaN"}, {"type":"task-started","x":[-Infinity, Infinity]}, {"type":"task-failed","traceback":"\udcff.csv \ud83d\ude00"}]"#;
        check(
            body,
            None,
            &[
                r#"{"type":"task-progress","uuid":"u","ratio":null,"s":"NaN"}"#,
                r#"{"type":"task-started","x":[null, null]}"#,
                r#"{"type":"task-failed","traceback":"\ufffd.csv \ud83d\ude00"}"#,
            ],
            &[],
        );
        assert!(decode(body, None, 300).rewritten);
        let out = decode(br#"{"type":"a","s":"NaN \ud83d\ude00"}"#, None, 200);
        assert!(!out.rewritten && out.events.len() == 1);
        // Broken JSON stays broken, with or without them.
        check(br#"[{"type":"a","r":NaN}"#, None, &[], &[Reason::NotJson]);
        check(br#"{"type":"a","r":nan}"#, None, &[], &[Reason::NotJson]);
    }

    #[test]
    fn keeps_escapes_verbatim() {
        let a = r#"{"type":"task-received","args":"('\u00e9t\u00e9',)"}"#;
        check(a.as_bytes(), None, &[a], &[]);
    }

    #[test]
    fn every_reason_has_code_hint_and_index() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(!r.code().is_empty() && !r.hint().is_empty());
        }
        assert!(Reason::Pickle.hint().contains("event_serializer='json'"));
    }
}
