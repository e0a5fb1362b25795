//! Decoding Celery event messages into typed [`Event`]s: the JSON objects Celery's
//! `celery.events` publishes, one per message or batched in an array (`docs/recordings.md` shows
//! both forms).
//!
//! A message body is one JSON object (one event) or a JSON array of objects (a `task.multi` batch).
//! Each element of a batch decodes on its own, so one bad element never loses the others. Failures
//! are values ([`DecodeError`]) with a stable reason code, never panics.
//!
//! Events borrow from the message body (`Event<'a>`): strings are only copied when the State
//! keeps them, which is what makes decoding cheap.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

use crate::json::{JsonRef, Reader, SyntaxError};
use crate::value::Num;

mod keys;
#[cfg(test)]
mod tests;

use keys::{ENVELOPE, FIRST_KEY, Guess, NEXT_KEY, known_id};

/// What a task event says happened: the part of `type` after `task-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskSubject {
    /// `task-sent`: published by the client (only with `task_send_sent_event=True`).
    Sent,
    /// `task-received`: a worker took the message.
    Received,
    /// `task-started`: a worker began executing it.
    Started,
    /// `task-succeeded`.
    Succeeded,
    /// `task-failed`.
    Failed,
    /// `task-retried`: the attempt failed and a new one was scheduled.
    Retried,
    /// `task-revoked`.
    Revoked,
    /// `task-rejected`.
    Rejected,
    /// Any other `task-<x>` (custom events such as `task-progress`, and `task-cancelled`): the
    /// task's state becomes `X` upper-cased, as in Python.
    Custom(Rc<str>),
}

impl TaskSubject {
    fn parse(subject: &str) -> TaskSubject {
        match subject {
            "sent" => TaskSubject::Sent,
            "received" => TaskSubject::Received,
            "started" => TaskSubject::Started,
            "succeeded" => TaskSubject::Succeeded,
            "failed" => TaskSubject::Failed,
            "retried" => TaskSubject::Retried,
            "revoked" => TaskSubject::Revoked,
            "rejected" => TaskSubject::Rejected,
            other => TaskSubject::Custom(Rc::from(other)),
        }
    }
}

/// What a worker event says: the part of `type` after `worker-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WorkerSubject {
    /// `worker-online`.
    Online,
    /// `worker-heartbeat`.
    Heartbeat,
    /// `worker-offline`.
    Offline,
    /// Anything else (`worker-elect`, ...): still updates the worker, as in Python.
    Other(Rc<str>),
}

/// The event's group and subject, from its `type` (`group, _, subject = type.partition('-')`).
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// `task-*`.
    Task(TaskSubject),
    /// `worker-*`.
    Worker(WorkerSubject),
    /// Any other group: counted by the State and otherwise ignored.
    Other,
}

impl EventKind {
    /// Classifies an event `type` string.
    pub fn parse(type_name: &str) -> EventKind {
        // Prefix tests rather than a search for the dash: same partition, no call.
        let (group, subject) = if let Some(subject) = type_name.strip_prefix("task-") {
            ("task", subject)
        } else if let Some(subject) = type_name.strip_prefix("worker-") {
            ("worker", subject)
        } else {
            type_name.split_once('-').unwrap_or((type_name, ""))
        };
        match group {
            "task" => EventKind::Task(TaskSubject::parse(subject)),
            "worker" => EventKind::Worker(match subject {
                "online" => WorkerSubject::Online,
                "heartbeat" => WorkerSubject::Heartbeat,
                "offline" => WorkerSubject::Offline,
                other => WorkerSubject::Other(Rc::from(other)),
            }),
            _ => EventKind::Other,
        }
    }
}

/// The most unknown keys an event keeps in [`Fields::other`]. Each new key is looked for among
/// those kept (a repeated key overwrites), so an event of a megabyte made of unique keys took
/// seconds to read; a task or worker keeps no more than `EXTRAS_MAX` (64) extra fields anyway.
/// Keys past this many are counted in [`Fields::dropped`].
pub const OTHER_KEYS_MAX: usize = 256;

/// Declares the event fields the State knows by name, so they decode into direct slots instead of
/// a list of pairs. Everything else lands in [`Fields::other`].
macro_rules! known_fields {
    ($( $(#[$doc:meta])* $field:ident ),* $(,)?) => {
        /// The fields of an event other than its envelope (`type`, `hostname`, `timestamp`,
        /// `local_received`, `clock`, `uuid`). `None` means the key was absent (Python's dict
        /// update copies only present keys); `Some(JsonRef::Null)` means it was `null`.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Fields<'a> {
            $( $(#[$doc])* pub $field: Option<JsonRef<'a>>, )*
            /// Keys the State does not know by name, in arrival order (last value wins), at most
            /// [`OTHER_KEYS_MAX`].
            pub other: Vec<(Cow<'a, str>, JsonRef<'a>)>,
            /// Unknown keys past [`OTHER_KEYS_MAX`], not kept.
            pub dropped: u32,
        }

        /// The position of each known field in [`FIELD_NAMES`], as [`Fields::named`] gives it.
        #[allow(non_upper_case_globals)]
        pub(crate) mod ids {
            #[allow(non_camel_case_types, dead_code)]
            #[repr(u8)]
            enum Id { $( $field, )* }
            $( pub(crate) const $field: u8 = Id::$field as u8; )*
        }

        /// The keys of the named fields of [`Fields`], in declaration order.
        pub(crate) const FIELD_NAMES: &[&str] = &[$( stringify!($field), )*];

        impl<'a> Fields<'a> {
            /// Sets the `n`th named field (see [`FIELD_NAMES`]): a jump table, no string compare.
            #[inline(always)]
            fn set_nth(&mut self, n: u8, value: JsonRef<'a>) {
                match n {
                    $( ids::$field => self.$field = Some(value), )*
                    _ => unreachable!("field ids come from FIELD_NAMES"),
                }
            }

            // Out of line: unknown keys are rare, and inlined into the decoder's member loop
            // this cost every event about 30 instructions of worse code.
            #[inline(never)]
            fn set_other(&mut self, key: Cow<'a, str>, value: JsonRef<'a>) {
                let full = self.other.len() >= OTHER_KEYS_MAX;
                match self.other.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None if full => {
                        self.dropped = self.dropped.saturating_add(1);
                    }
                    None => {
                        if self.other.is_empty() {
                            // Events with unknown keys often have several: one allocation
                            // instead of three.
                            self.other.reserve_exact(4);
                        }
                        self.other.push((key, value))
                    }
                }
            }

            /// The same fields, owning their text.
            pub fn into_owned(self) -> Fields<'static> {
                Fields {
                    $( $field: self.$field.map(JsonRef::into_owned), )*
                    other: self.other.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect(),
                    dropped: self.dropped,
                }
            }

            /// Every present field as `(key, value)`, known ones first.
            pub fn iter(&self) -> impl Iterator<Item = (&str, &JsonRef<'a>)> {
                self.named()
                    .map(|(_, k, v)| (k, v))
                    .chain(self.other.iter().map(|(k, v)| (&**k, v)))
            }

            /// The present named fields as `(id, key, value)`, `id` from [`ids`], to match on
            /// without comparing keys.
            pub(crate) fn named(&self) -> impl Iterator<Item = (u8, &'static str, &JsonRef<'a>)> {
                [$( (ids::$field, stringify!($field), self.$field.as_ref()), )*]
                    .into_iter()
                    .filter_map(|(id, k, v)| v.map(|v| (id, k, v)))
            }
        }
    };
}

known_fields! {
    /// Task name (`proj.tasks.add`).
    name,
    /// Positional arguments as a Python `repr` string (not JSON).
    args,
    /// Keyword arguments as a Python `repr` string.
    kwargs,
    /// ISO-8601 ETA or null.
    eta,
    /// ISO-8601 expiry or null.
    expires,
    /// Retry count of this attempt.
    retries,
    /// Result `repr`.
    result,
    /// Exception `repr`.
    exception,
    /// Run time in seconds.
    runtime,
    /// Formatted traceback.
    traceback,
    /// Exchange the task was published to.
    exchange,
    /// Routing key the task was published with.
    routing_key,
    /// Root of the workflow.
    root_id,
    /// Parent task.
    parent_id,
    /// Queue name (`task-sent`).
    queue,
    /// Sender's hours *west* of UTC.
    utcoffset,
    /// Sender's process id.
    pid,
    /// Worker: seconds between heartbeats.
    freq,
    /// Worker: tasks being executed.
    active,
    /// Worker: tasks processed since it started.
    processed,
    /// Worker: the host's load averages (a JSON array).
    loadavg,
    /// Worker: software name (`py-celery`).
    sw_ident,
    /// Worker: software version.
    sw_ver,
    /// Worker: operating system.
    sw_sys,
}

/// One decoded Celery event, borrowing from the message body.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// The `type` string as sent (`task-succeeded`).
    pub type_name: Cow<'a, str>,
    /// Group and subject parsed from `type_name`.
    pub kind: EventKind,
    /// Sender's node name (`celery@host`, or `gen<pid>@host` for `task-sent`).
    pub hostname: Option<Cow<'a, str>>,
    /// Sender's `time.time()` when it emitted the event.
    pub timestamp: Option<Num>,
    /// When the receiver took the event: set by [`crate::Receiver::normalise`], or read from a
    /// recording in receiver form (`docs/recordings.md`), which carries it.
    pub local_received: Option<Num>,
    /// Lamport clock (the sender's, or the receiver's after normalisation).
    pub clock: Option<Num>,
    /// Task id (task events).
    pub uuid: Option<Cow<'a, str>>,
    /// Every other field.
    pub fields: Fields<'a>,
}

impl Event<'_> {
    /// An event with nothing set, to be filled by the reader.
    fn empty() -> Event<'static> {
        Event {
            type_name: Cow::Borrowed(""),
            kind: EventKind::Other,
            hostname: None,
            timestamp: None,
            local_received: None,
            clock: None,
            uuid: None,
            fields: Fields::default(),
        }
    }

    /// The same event, owning its text (to keep it beyond the message body it came from).
    pub fn into_owned(self) -> Event<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Event {
            type_name: own(self.type_name),
            kind: self.kind,
            hostname: self.hostname.map(own),
            timestamp: self.timestamp,
            local_received: self.local_received,
            clock: self.clock,
            uuid: self.uuid.map(own),
            fields: self.fields.into_owned(),
        }
    }
}

/// Why a message or an element of a batch could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not JSON (another serializer such as pickle or msgpack, or truncated JSON).
    NotJson(String),
    /// Valid JSON, but an event must be an object (a body may also be an array of objects).
    NotAnObject(&'static str),
    /// A required key is absent.
    MissingField(&'static str),
    /// A key has a JSON type the State cannot use.
    WrongType {
        /// The key.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

impl DecodeError {
    /// A short stable code, for metrics labels and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) => "not_json",
            DecodeError::NotAnObject(_) => "not_object",
            DecodeError::MissingField("type") => "missing_type",
            DecodeError::MissingField("uuid") => "missing_uuid",
            DecodeError::MissingField("hostname") => "missing_hostname",
            DecodeError::MissingField("timestamp") => "missing_timestamp",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotJson(why) => write!(f, "not JSON ({why})"),
            DecodeError::NotAnObject(what) => write!(f, "event is a JSON {what}, not an object"),
            DecodeError::MissingField(key) => write!(f, "event has no `{key}`"),
            DecodeError::WrongType { field, expected } => {
                write!(f, "`{field}` must be {expected}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one message body: an object gives one element, an array one element per item, in
/// order. The outer error is for a body that is not JSON at all, or JSON that is neither.
pub fn decode_body(body: &[u8]) -> Result<Vec<Result<Event<'_>, DecodeError>>, DecodeError> {
    let mut r = Reader::new(body);
    let items = match r.peek() {
        Some(b'{') => vec![event(&mut r).map_err(not_json)?],
        Some(b'[') => {
            let mut items = Vec::new();
            r.array(|r| {
                let item = match r.peek() {
                    Some(b'{') => event(r)?,
                    _ => {
                        let what = scalar_kind(r.peek());
                        r.skip(1)?;
                        Err(DecodeError::NotAnObject(what))
                    }
                };
                items.push(item);
                Ok(())
            })
            .map_err(not_json)?;
            items
        }
        other => {
            let what = scalar_kind(other);
            r.skip(0).map_err(not_json)?;
            r.end().map_err(not_json)?;
            return Err(DecodeError::NotAnObject(what));
        }
    };
    r.end().map_err(not_json)?;
    Ok(items)
}

/// Decodes a single event (one JSON object), such as one line of an NDJSON recording.
///
/// Inlinable into the caller, where the event is then built in the caller's frame: returned from
/// a call, the ~750-byte event was copied out of the result (90 instructions an event).
#[inline]
pub fn decode_event(text: &[u8]) -> Result<Event<'_>, DecodeError> {
    let mut r = Reader::new(text);
    if r.peek() != Some(b'{') {
        let what = scalar_kind(r.peek());
        r.skip(0).map_err(not_json)?;
        r.end().map_err(not_json)?;
        return Err(DecodeError::NotAnObject(what));
    }
    let mut ev = Event::empty();
    let checked = read_event(&mut r, &mut ev).map_err(not_json)?;
    r.end().map_err(not_json)?;
    checked?;
    Ok(ev)
}

/// Decodes the event object at the start of `text` and returns it with the number of bytes it
/// took (whatever follows is left alone): for a container that holds events inline, such as the
/// relay's frames, so each event is read once, in the same pass that finds its end. `text` is a
/// `str`, so no UTF-8 check is repeated.
pub fn decode_event_prefix(text: &str) -> Result<(Event<'_>, usize), DecodeError> {
    let mut r = Reader::from_str(text);
    if r.peek() != Some(b'{') {
        return Err(DecodeError::NotAnObject(scalar_kind(r.peek())));
    }
    let mut ev = Event::empty();
    let checked = read_event(&mut r, &mut ev).map_err(not_json)?;
    checked?;
    Ok((ev, r.position()))
}

fn not_json(e: SyntaxError) -> DecodeError {
    DecodeError::NotJson(e.to_string())
}

fn scalar_kind(first: Option<u8>) -> &'static str {
    match first {
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Reads one event object in a single pass (syntax errors are `Err` of the outer result), then
/// checks what its group requires (the inner result).
fn event<'a>(r: &mut Reader<'a>) -> Result<Result<Event<'a>, DecodeError>, SyntaxError> {
    let mut ev = Event::empty();
    Ok(read_event(r, &mut ev)?.map(|()| ev))
}

/// Reads one event object into `ev` (an [`Event::empty`]), in place: an event is ~750 bytes,
/// and building it in a local then moving it through nested results cost four copies.
#[inline]
fn read_event<'a>(
    r: &mut Reader<'a>,
    ev: &mut Event<'a>,
) -> Result<Result<(), DecodeError>, SyntaxError> {
    let mut envelope = Envelope::default();
    let mut guess = &FIRST_KEY;
    r.keyed_object(&FIRST_KEY.key, |key, r| {
        let value = r.member_value()?;
        // One jump on the table's byte: envelope keys first, then named fields, MAX for others.
        const FIRST_FIELD: u8 = ENVELOPE.len() as u8;
        let id = if key.guessed {
            guess.id
        } else {
            known_id(key.word)
        };
        match id {
            n @ 0..FIRST_FIELD => envelope.set(ev, n, value),
            u8::MAX => ev.fields.set_other(key.text(r), value),
            n => ev.fields.set_nth(n - FIRST_FIELD, value),
        }
        guess = NEXT_KEY.get(usize::from(id)).unwrap_or(&Guess::NONE);
        Ok(&guess.key)
    })?;
    Ok(envelope.check(ev))
}

/// What the reader saw of the envelope keys: each is typed as it is read, straight into the
/// event, and these bits (one per key of [`ENVELOPE`]) remember which keys came and which had a
/// type the State cannot use, to be told in [`Envelope::check`]'s fixed order once the object is
/// read (a repeated key overwrites, as `json.loads` does, so nothing is decided before the end).
#[derive(Default)]
struct Envelope {
    present: u8,
    wrong: u8,
}

impl Envelope {
    const TYPE: u8 = 1 << 0;
    const HOSTNAME: u8 = 1 << 1;
    const TIMESTAMP: u8 = 1 << 2;
    const LOCAL_RECEIVED: u8 = 1 << 3;
    const CLOCK: u8 = 1 << 4;
    const UUID: u8 = 1 << 5;

    /// Sets the `n`th key of [`ENVELOPE`] on `ev`.
    #[inline]
    fn set<'a>(&mut self, ev: &mut Event<'a>, n: u8, value: JsonRef<'a>) {
        let bit = 1 << n;
        let ok = match n {
            0 => value.into_str().map(|s| ev.type_name = s).is_some(),
            1 => value.into_str().map(|s| ev.hostname = Some(s)).is_some(),
            2 => envelope_number(value)
                .map(|t| ev.timestamp = Some(t))
                .is_some(),
            3 => envelope_number(value)
                .map(|t| ev.local_received = Some(t))
                .is_some(),
            4 => envelope_number(value).map(|c| ev.clock = Some(c)).is_some(),
            _ => value.into_str().map(|s| ev.uuid = Some(s)).is_some(),
        };
        self.present |= bit;
        if ok {
            self.wrong &= !bit;
        } else {
            self.wrong |= bit;
        }
    }

    /// Tells the first problem, in a fixed order: `type` (wrong, then missing), a wrong
    /// `hostname`, `timestamp` or `uuid`, what the event's group requires, then a wrong
    /// `local_received` or `clock`. Otherwise sets the event's kind from its `type`.
    #[inline]
    fn check(self, ev: &mut Event<'_>) -> Result<(), DecodeError> {
        let wrong = |bit, field, expected| {
            if self.wrong & bit != 0 {
                Err(DecodeError::WrongType { field, expected })
            } else {
                Ok(())
            }
        };
        let missing = |bit, field| {
            if self.present & bit == 0 {
                Err(DecodeError::MissingField(field))
            } else {
                Ok(())
            }
        };
        const STRING: &str = "a string";
        const NUMBER: &str = "a finite number";
        wrong(Self::TYPE, "type", STRING)?;
        missing(Self::TYPE, "type")?;
        wrong(Self::HOSTNAME, "hostname", STRING)?;
        wrong(Self::TIMESTAMP, "timestamp", NUMBER)?;
        wrong(Self::UUID, "uuid", STRING)?;
        let kind = EventKind::parse(&ev.type_name);
        match kind {
            EventKind::Task(_) => {
                missing(Self::UUID, "uuid")?;
                missing(Self::HOSTNAME, "hostname")?;
                missing(Self::TIMESTAMP, "timestamp")?;
            }
            EventKind::Worker(_) => {
                missing(Self::HOSTNAME, "hostname")?;
                missing(Self::TIMESTAMP, "timestamp")?;
            }
            EventKind::Other => {}
        }
        wrong(Self::LOCAL_RECEIVED, "local_received", NUMBER)?;
        wrong(Self::CLOCK, "clock", NUMBER)?;
        ev.kind = kind;
        Ok(())
    }
}

/// An envelope number: times and clocks order events, so `NaN` and the infinities, which the
/// reader takes elsewhere (see [`crate::json`]), are refused here (`None`). No sender writes them:
/// timestamps come from `time.time()`.
#[inline]
fn envelope_number(v: JsonRef<'_>) -> Option<Num> {
    match v {
        JsonRef::Int(i) => Some(Num::Int(i)),
        JsonRef::Float(f) if f.is_finite() => Some(Num::Float(f)),
        _ => None,
    }
}
