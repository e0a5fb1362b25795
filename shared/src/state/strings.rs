//! Where the State's stored values come from: borrowed event values become stored [`Value`]s
//! here, and the ones that repeat (task names, hostnames, routing, tiny values such as `"{}"`) are
//! shared; long strings are packed. It also holds the extra-field lists (`extras.rs`), whose keys
//! are shared strings too.
//!
//! Both string tables are bounded: when one is full it is emptied (strings still held by tasks
//! stay alive; only the sharing of new copies restarts), so hostile streams of unique names cannot
//! grow them. The caches beside them are small fixed arrays. `State::bounds` reports them all.

use std::rc::Rc;

use rustc_hash::FxHashSet;

use super::Bound;
use super::extras::ExtrasLists;
use super::task::Extras;
use crate::json::JsonRef;
use crate::value::{Value, worth_packing};
use crate::words::word;

/// Distinct names, hostnames, routing keys... kept for sharing.
pub(crate) const SHARED_MAX: usize = 16_384;
/// Distinct tiny values (`"{}"`, `"()"`, `"None"`, `"5"`...) kept for sharing.
pub(crate) const SMALL_MAX: usize = 4_096;
/// Strings up to this many bytes count as tiny.
const SMALL_LEN: usize = 8;
/// Plain strings from this many bytes on are stored compressed when that pays (tracebacks, large
/// arguments and results): they dominate memory and are read only when a task is opened.
pub(crate) const PACK_MIN: usize = 512;

/// How a field's string should be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Repeats across tasks: always shared.
    Shared,
    /// Usually unique: shared only when tiny.
    Plain,
}

/// Entries of [`Strings::recent`]: a pass of the bench's mixed recording uses more than 64 distinct
/// shared strings (hostnames, names, small arguments), so 64 missed for lack of room; 256 cut
/// apply's instructions by 1% (4 KB per State). More gave nothing.
const RECENT: usize = 256;
/// Entries of [`Strings::packs`] (a power of two).
const PACKS: usize = 16;
/// Longer strings are packed without being remembered in [`Strings::packs`], which so holds at
/// most `PACKS` x 16 KB of plain text.
const PACKS_MAX_LEN: usize = 16 * 1024;

#[derive(Default)]
pub(crate) struct Strings {
    shared: FxHashSet<Rc<str>>,
    small: FxHashSet<Rc<str>>,
    /// The last shared strings, direct-mapped by length and end bytes: the same few names,
    /// hostnames, routing keys and tiny values come back at every event, and one comparison
    /// here saves hashing them (the tables stay the authority; this only holds their Rcs).
    recent: Recent,
    /// The compressor's hash table and output buffer, reused: a fresh table costs a 16 KB
    /// zeroed allocation per string.
    lz4_table: lz4_flex::block::CompressTable,
    lz4_out: Vec<u8>,
    /// The last long strings stored (see [`Strings::pack`]), each with its stored form,
    /// direct-mapped by length and last bytes: failures of one kind carry the same traceback,
    /// and a periodic task the same arguments at every run. An equal string gets the same stored
    /// copy, neither compressed again nor held twice; a new one takes its slot.
    packs: Box<[Option<StoredLong>; PACKS]>,
    /// Times `shared` and `small` were emptied because they were full.
    shared_emptied: u64,
    small_emptied: u64,
    /// Extra-field lists, shared between the tasks that hold the same one.
    pub(crate) extras: ExtrasLists,
}

impl Strings {
    /// The shared copy of `s`.
    pub(crate) fn shared(&mut self, s: &str) -> Rc<str> {
        self.recent.get_or(s, |s| {
            intern(&mut self.shared, SHARED_MAX, &mut self.shared_emptied, s)
        })
    }

    /// A stored string, shared when `keep` says so or when it is tiny.
    pub(crate) fn string(&mut self, s: &str, keep: Keep) -> Rc<str> {
        match keep {
            Keep::Shared => self.shared(s),
            Keep::Plain if s.len() <= SMALL_LEN => self.recent.get_or(s, |s| {
                intern(&mut self.small, SMALL_MAX, &mut self.small_emptied, s)
            }),
            Keep::Plain => Rc::from(s),
        }
    }

    /// A stored value. With `pack`, long plain strings are stored compressed when that pays.
    pub(crate) fn value(&mut self, v: &JsonRef<'_>, keep: Keep, pack: bool) -> Value {
        let long = |s: &str| pack && keep == Keep::Plain && s.len() >= PACK_MIN;
        match v {
            JsonRef::Null => Value::Null,
            JsonRef::Bool(b) => Value::Bool(*b),
            JsonRef::Int(i) => Value::Int(*i),
            JsonRef::Float(f) => Value::Float(*f),
            JsonRef::Str(s) if long(s) => self.pack(s, || Rc::from(*s)),
            JsonRef::Escaped(s) if long(s) => self.pack(s, || Rc::from(&**s)),
            JsonRef::Str(s) => Value::Str(self.string(s, keep)),
            JsonRef::Escaped(s) => Value::Str(self.string(s, keep)),
            JsonRef::Json(j) => Value::Json(Rc::from(*j)),
            JsonRef::JsonOwned(j) => Value::Json(Rc::from(&**j)),
        }
    }

    /// The stored form of the long string `s`: compressed (as [`Value::Packed`], size-prefixed
    /// LZ4) when that saves at least a quarter, else `plain()`, which must equal `s` (a task's own
    /// copy, when it has one). An equal string stored recently gets that string's stored form.
    pub(crate) fn pack(&mut self, s: &str, plain: impl FnOnce() -> Rc<str>) -> Value {
        let remember = s.len() <= PACKS_MAX_LEN;
        let slot = pack_slot(s);
        if remember
            && let Some(seen) = &self.packs[slot]
            && *seen.plain == *s
        {
            return seen.stored.clone();
        }
        let plain = plain();
        let stored = match self.compress(s) {
            Some(packed) => Value::Packed(packed),
            None => Value::Str(plain.clone()),
        };
        if remember {
            self.packs[slot] = Some(StoredLong {
                plain,
                stored: stored.clone(),
            });
        }
        stored
    }

    /// `s` as a size-prefixed LZ4 block, when that saves at least a quarter of it.
    fn compress(&mut self, s: &str) -> Option<Rc<[u8]>> {
        let size = u32::try_from(s.len()).ok()?;
        let room = 4 + lz4_flex::block::get_maximum_output_size(s.len());
        if self.lz4_out.len() < room {
            self.lz4_out.resize(room, 0);
        }
        self.lz4_out[..4].copy_from_slice(&size.to_le_bytes());
        let n = lz4_flex::block::compress_into_with_table(
            s.as_bytes(),
            &mut self.lz4_out[4..room],
            &mut self.lz4_table,
        )
        .ok()?;
        worth_packing(4 + n, s.len()).then(|| Rc::from(&self.lz4_out[..4 + n]))
    }

    /// [`ExtrasLists::with`], with the key shared like the State's other strings.
    pub(crate) fn extras_with(&mut self, from: Option<&Extras>, key: &str, value: Value) -> Extras {
        let Strings {
            extras,
            recent,
            shared,
            shared_emptied,
            ..
        } = self;
        extras.with(from, key, value, |k| {
            recent.get_or(k, |k| intern(shared, SHARED_MAX, shared_emptied, k))
        })
    }

    /// How full each of the tables and caches is, for [`crate::State::bounds`].
    pub(crate) fn bounds(&self) -> [Bound; 6] {
        let [lists, steps] = self.extras.bounds();
        const EMPTIED: &str = "emptied: tasks keep their copies, sharing starts again";
        [
            Bound::counted(
                "shared strings",
                self.shared.len(),
                SHARED_MAX,
                self.shared_emptied,
                EMPTIED,
            ),
            Bound::counted(
                "shared tiny strings",
                self.small.len(),
                SMALL_MAX,
                self.small_emptied,
                EMPTIED,
            ),
            Bound::cache("recent strings", &self.recent.0[..], Bound::SLOT_TAKEN),
            Bound::cache("recent long strings", &self.packs[..], Bound::SLOT_TAKEN),
            lists,
            steps,
        ]
    }

    /// Entries in both tables.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shared.len() + self.small.len()
    }
}

/// A long string and the form it was stored in (see [`Strings::packs`]).
struct StoredLong {
    plain: Rc<str>,
    stored: Value,
}

/// The slot of [`Strings::packs`] for `s`: its length and last eight bytes, mixed (long strings of
/// one kind share their first bytes, `Traceback (most recent call last)`, and differ at the end).
fn pack_slot(s: &str) -> usize {
    let b = s.as_bytes();
    let tail = if b.len() >= 8 {
        word(b, b.len() - 8)
    } else {
        0
    };
    let mixed = (tail ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - PACKS.trailing_zeros())) as usize
}

/// A small direct-mapped cache of shared strings (see [`Strings::recent`]).
struct Recent(Box<[Option<Rc<str>>; RECENT]>);

impl Default for Recent {
    fn default() -> Recent {
        Recent(Box::new([const { None }; RECENT]))
    }
}

impl Recent {
    /// The cached copy of `s`, or `make(s)`, which then takes its slot.
    #[inline]
    fn get_or(&mut self, s: &str, make: impl FnOnce(&str) -> Rc<str>) -> Rc<str> {
        let b = s.as_bytes();
        let (first, last) = (b.first().copied(), b.last().copied());
        let slot = (b.len()
            ^ usize::from(first.unwrap_or(0)).wrapping_mul(7)
            ^ usize::from(last.unwrap_or(0)).wrapping_mul(31))
            % RECENT;
        if let Some(hit) = &self.0[slot]
            && same(hit, s)
        {
            return hit.clone();
        }
        let made = make(s);
        self.0[slot] = Some(made.clone());
        made
    }
}

/// `a == b` for the short strings the State compares at every event (ids, names, hostnames),
/// inline: whole words instead of a call to the C library's `memcmp`, whose set-up costs more
/// than the comparison itself at these lengths. The last word overlaps the one before it, so no
/// tail is compared byte by byte (a variable-length tail compiled back into a `memcmp` call).
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return short_same(a, b);
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// [`same`] below eight bytes (`a` and `b` have the same length): two overlapping loads.
#[inline(always)]
fn short_same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    let pair = |s: &[u8], i: usize| u16::from_le_bytes(s[i..i + 2].try_into().expect("2 bytes"));
    match n {
        4.. => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        2.. => pair(a, 0) == pair(b, 0) && pair(a, n - 2) == pair(b, n - 2),
        1 => a[0] == b[0],
        _ => true,
    }
}

/// The address of a shared string's allocation: a key that costs one multiplication to hash,
/// for tables keyed by the strings the State shares (whoever keys by it holds a clone, so the
/// address cannot be reused while it is a key).
pub(crate) fn address(s: &Rc<str>) -> usize {
    Rc::as_ptr(s).cast::<u8>() as usize
}

/// The table's copy of `s`, made if new; a full table is emptied first (counted in `emptied`).
fn intern(table: &mut FxHashSet<Rc<str>>, max: usize, emptied: &mut u64, s: &str) -> Rc<str> {
    if let Some(shared) = table.get(s) {
        return shared.clone();
    }
    if table.len() >= max {
        table.clear();
        *emptied += 1;
    }
    let new: Rc<str> = Rc::from(s);
    table.insert(new.clone());
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_is_string_equality() {
        let words = [
            "",
            "a",
            "ab",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "bbcdefghi",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
        // Every length up to 40, each byte changed in turn.
        for n in 0..40 {
            let a: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(same(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'#';
                assert!(!same(&a, std::str::from_utf8(&b).unwrap()), "{n} {i}");
            }
        }
        let id = "d6f0e1c2-6a3b-4c5d-8e9f-0a1b2c3d4e5f";
        assert!(same(id, &String::from(id)));
        assert!(!same(id, &id.replace('f', "e")));
    }

    #[test]
    fn shares_what_repeats_and_stays_bounded() {
        let mut s = Strings::default();
        let a = s.string("app.tasks.add", Keep::Shared);
        let b = s.string("app.tasks.add", Keep::Shared);
        assert!(Rc::ptr_eq(&a, &b));
        let x = s.string("{}", Keep::Plain);
        assert!(Rc::ptr_eq(&x, &s.string("{}", Keep::Plain)));
        let long = "a long, unique argument string";
        assert!(!Rc::ptr_eq(
            &s.string(long, Keep::Plain),
            &s.string(long, Keep::Plain)
        ));
        for i in 0..SHARED_MAX + 10 {
            s.shared(&format!("name-{i}"));
        }
        assert!(s.len() <= SHARED_MAX + SMALL_MAX);
    }

    #[test]
    fn equal_long_strings_share_one_stored_form() {
        let mut s = Strings::default();
        let traceback: Rc<str> = "Traceback (most recent call last):\n  boom\n"
            .repeat(40)
            .into();
        let first = s.pack(&traceback, || traceback.clone());
        let again: Rc<str> = Rc::from(&*traceback); // an equal string from another task
        let second = s.pack(&again, || again.clone());
        let (Value::Packed(a), Value::Packed(b)) = (&first, &second) else {
            panic!("a repetitive traceback is compressed: {first:?}");
        };
        assert!(
            Rc::ptr_eq(a, b),
            "the second task gets the first one's copy"
        );
        assert_eq!(second.text().as_deref(), Some(&*traceback));

        // Same length and same last bytes, so the same slot: never taken for each other.
        let other: Rc<str> = format!("X{}", &traceback[1..]).into();
        assert_eq!(pack_slot(&other), pack_slot(&traceback));
        let packed_other = s.pack(&other, || other.clone());
        assert_eq!(packed_other.text().as_deref(), Some(&*other));
        let back = s.pack(&traceback, || traceback.clone());
        assert_eq!(back.text().as_deref(), Some(&*traceback));

        // A string that does not compress keeps the task's own copy.
        let noise: String = (0..600u32)
            .map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 25) as u8 % 90))
            .collect();
        let noise: Rc<str> = noise.into();
        match s.pack(&noise, || noise.clone()) {
            Value::Str(kept) => assert!(Rc::ptr_eq(&kept, &noise)),
            other => panic!("incompressible text is kept plain: {other:?}"),
        }

        // Beyond PACKS_MAX_LEN nothing is remembered: the cache's text stays bounded.
        let huge: Rc<str> = "x".repeat(PACKS_MAX_LEN + 1).into();
        let (h1, h2) = (
            s.pack(&huge, || huge.clone()),
            s.pack(&huge, || huge.clone()),
        );
        let (Value::Packed(h1), Value::Packed(h2)) = (h1, h2) else {
            panic!("a run of one letter is compressed");
        };
        assert!(!Rc::ptr_eq(&h1, &h2));
        let held: usize = s.packs.iter().flatten().map(|e| e.plain.len()).sum();
        assert!(held <= PACKS * PACKS_MAX_LEN);
    }
}
