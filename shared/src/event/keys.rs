//! Which keys of an event the decoder knows, and how it finds them fast: a perfect hash of the
//! known keys into ids (the envelope's, then the named fields of [`Fields`](super::Fields)), and a
//! guess of each next key from the order Celery writes them in.

use super::FIELD_NAMES;
use crate::json::{KeyGuess, key_word};

/// The envelope keys: ids `0..6` of [`known_id`], the named fields of [`FIELD_NAMES`] coming after.
pub(super) const ENVELOPE: [&str; 6] = [
    "type",
    "hostname",
    "timestamp",
    "local_received",
    "clock",
    "uuid",
];

/// A perfect hash of the known keys' words into 64 buckets: one multiplication, one comparison
/// per key instead of a tree of 128-bit comparisons. The multiplier is searched at compile time.
struct KeyTable {
    mult: u64,
    words: [u128; 64],
    /// Index into `ENVELOPE ++ FIELD_NAMES`, or `u8::MAX` for an empty bucket.
    ids: [u8; 64],
}

const fn bucket(word: u128, mult: u64) -> usize {
    ((word as u64 ^ (word >> 64) as u64).wrapping_mul(mult) >> 58) as usize
}

const KEYS: KeyTable = {
    let mut mult: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        let mut t = KeyTable {
            mult,
            words: [0; 64],
            ids: [u8::MAX; 64],
        };
        let mut ok = true;
        let mut i = 0;
        while ok && i < ENVELOPE.len() + FIELD_NAMES.len() {
            let name = if i < ENVELOPE.len() {
                ENVELOPE[i]
            } else {
                FIELD_NAMES[i - ENVELOPE.len()]
            };
            let word = key_word(name.as_bytes());
            assert!(word != 0, "known keys are at most 15 bytes");
            let b = bucket(word, mult);
            ok = t.ids[b] == u8::MAX;
            t.words[b] = word;
            t.ids[b] = i as u8;
            i += 1;
        }
        if ok {
            break t;
        }
        mult = mult
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
            | 1;
    }
};

/// The index of a key in `ENVELOPE ++ FIELD_NAMES` by its [`key_word`], or `u8::MAX`.
#[inline]
pub(super) const fn known_id(word: u128) -> u8 {
    let b = bucket(word, KEYS.mult);
    // An empty bucket has word 0 and id MAX, so word 0 (a long key) needs no special case.
    if KEYS.words[b] == word {
        KEYS.ids[b]
    } else {
        u8::MAX
    }
}

/// The key Celery writes after each key the reader knows (Celery 5's order; where event types
/// differ, the most common in real recordings), as guesses for [`crate::json::Reader::key`]:
/// a right guess takes the key in one comparison, a wrong one costs little more than that.
pub(super) const CELERY_KEY_ORDER: [(&str, &str); 29] = [
    ("hostname", "utcoffset"),
    ("utcoffset", "pid"),
    ("pid", "clock"),
    ("clock", "uuid"),
    // Worker events: `clock` is followed by `freq`, a wrong guess there, then these.
    ("freq", "active"),
    ("active", "processed"),
    ("processed", "loadavg"),
    ("loadavg", "sw_ident"),
    ("sw_ident", "sw_ver"),
    ("sw_ver", "sw_sys"),
    ("sw_sys", "timestamp"),
    ("uuid", "root_id"),
    ("root_id", "parent_id"),
    ("parent_id", "name"),
    ("name", "args"),
    ("args", "kwargs"),
    ("kwargs", "retries"),
    ("retries", "eta"),
    ("eta", "expires"),
    ("expires", "queue"),
    ("queue", "exchange"),
    ("exchange", "routing_key"),
    ("routing_key", "timestamp"),
    ("result", "runtime"),
    ("runtime", "timestamp"),
    ("exception", "traceback"),
    ("traceback", "timestamp"),
    ("timestamp", "type"),
    ("type", "local_received"),
];

/// A guess for the next key, ready to compare (see [`crate::json::Reader::key`]), and its id
/// (see [`known_id`]), so a right guess needs no look-up.
#[derive(Clone, Copy)]
pub(super) struct Guess {
    pub(super) key: KeyGuess,
    pub(super) id: u8,
}

impl Guess {
    /// No idea: matches only the empty key, which is no known key (its id says so).
    pub(super) const NONE: Guess = Guess {
        key: KeyGuess::of(""),
        id: u8::MAX,
    };

    const fn of(key: &str) -> Guess {
        let id = known_id(key_word(key.as_bytes()));
        assert!(id != u8::MAX, "guesses name known keys only");
        Guess {
            key: KeyGuess::of(key),
            id,
        }
    }
}

/// The guess for the first key of an event.
pub(super) const FIRST_KEY: Guess = Guess::of("hostname");

/// [`CELERY_KEY_ORDER`] by key id (see [`known_id`]): the guess for the key after it.
pub(super) const NEXT_KEY: [Guess; 64] = {
    let mut t = [Guess::NONE; 64];
    let mut i = 0;
    while i < CELERY_KEY_ORDER.len() {
        let (key, next) = CELERY_KEY_ORDER[i];
        t[Guess::of(key).id as usize] = Guess::of(next);
        i += 1;
    }
    t
};
