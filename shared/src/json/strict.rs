//! [`strict_json`]: text this crate's reader accepts, turned into strict JSON that every parser
//! reads the same way (the relay forwards that form; the web app reads recordings through it).

use std::borrow::Cow;

use super::hex4;

/// `text` (JSON as this reader accepts it) as strict JSON that every parser reads the same way:
/// each `NaN`, `Infinity` and `-Infinity` outside strings becomes `null` (strict JSON has no
/// other way to carry them), and each lone surrogate escape becomes `\ufffd`, as this reader
/// reads it (serde_json refuses one; a browser's `JSON.parse` would keep it). Text with neither
/// is returned as is; everything else is left byte for byte.
pub fn strict_json(text: &str) -> Cow<'_, str> {
    // Real bodies almost never have either: four substring searches (vectorised in the standard
    // library) instead of the byte-by-byte walk below. For a 60 KB batch of 100 events that is
    // 6.5 us, against 61 us for serde_json to split it into events (the relay's work).
    if !["NaN", "Infinity", "\\ud", "\\uD"]
        .iter()
        .any(|word| text.contains(word))
    {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut replace = |out: &mut String, at: usize, len: usize, with: &str| {
        out.push_str(&text[copied..at]);
        out.push_str(with);
        copied = at + len;
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] != b'\\' {
                        i += 1;
                        continue;
                    }
                    let len = match surrogate_at(b, i) {
                        // A pair: a high surrogate, then a low one.
                        Some(0xD800..0xDC00)
                            if matches!(surrogate_at(b, i + 6), Some(0xDC00..0xE000)) =>
                        {
                            12
                        }
                        Some(_) => {
                            replace(&mut out, i, 6, "\\ufffd");
                            6
                        }
                        None => 2,
                    };
                    i += len;
                }
                i += 1;
            }
            c @ (b'N' | b'I' | b'-') => {
                let len = [&b"NaN"[..], b"Infinity", b"-Infinity"]
                    .iter()
                    .find(|word| word[0] == c && b[i..].starts_with(word))
                    .map_or(0, |word| word.len());
                if len > 0 {
                    replace(&mut out, i, len, "null");
                }
                i += len.max(1);
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The code unit of the `\uXXXX` escape at `i`, when it is a surrogate (`0xD800..0xE000`).
fn surrogate_at(b: &[u8], i: usize) -> Option<u32> {
    if b.get(i..i + 2)? != b"\\u" {
        return None;
    }
    hex4(b, i + 2).filter(|c| (0xD800..0xE000).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_has_no_non_finite_numbers_nor_lone_surrogates() {
        for (text, want) in [
            ("[1, 2.5, \"NaN\"]", "[1, 2.5, \"NaN\"]"),
            ("[NaN, -Infinity, Infinity, -1]", "[null, null, null, -1]"),
            (
                r#"{"a \" NaN": Infinity, "b": "\\", "c": NaN}"#,
                r#"{"a \" NaN": null, "b": "\\", "c": null}"#,
            ),
            ("NaN", "null"),
            (
                r#"["\ud83d\ude00", "\\ud800"]"#,
                r#"["\ud83d\ude00", "\\ud800"]"#,
            ),
            (
                r#"["\udcff.csv", "\ud800\ud83d\ude00", "\ud800"]"#,
                r#"["\ufffd.csv", "\ufffd\ud83d\ude00", "\ufffd"]"#,
            ),
            (r#"{"\uDCFF": 1}"#, r#"{"\ufffd": 1}"#),
        ] {
            let got = strict_json(text);
            assert_eq!(got, want, "{text}");
            assert_eq!(matches!(got, Cow::Borrowed(_)), text == want, "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(&got).is_ok(),
                "{got}"
            );
        }
    }
}
