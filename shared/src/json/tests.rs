use super::*;

fn one(text: &str) -> Result<JsonRef<'_>> {
    let mut r = Reader::new(text.as_bytes());
    let v = r.value()?;
    r.end()?;
    Ok(v)
}

/// A guess takes exactly its key, closing quote included, at every length.
#[test]
fn a_key_guess_matches_its_key_and_nothing_else() {
    let text = "abcdefghijklmno";
    for n in 0..16 {
        let key = &text[..n];
        let guess = KeyGuess::of(key);
        let read = |input: &str| {
            let mut r = Reader::from_str(input);
            r.key(&guess).map(|k| (k.guessed, k.word, r.position()))
        };
        let exact = format!("\"{key}\": 1, \"padding\": 2}}");
        assert_eq!(
            read(&exact),
            Ok((true, key_word(key.as_bytes()), n + 2)),
            "{key}"
        );
        let longer = format!("\"{key}x\": 1, \"padding\": 2}}");
        assert_eq!(read(&longer).map(|k| k.0), Ok(false), "{key}x");
        if n > 0 {
            let mut other = key.to_owned().into_bytes();
            other[n - 1] ^= 1;
            let other = String::from_utf8(other).unwrap();
            let differs = format!("\"{other}\": 1, \"padding\": 2}}");
            assert_eq!(read(&differs).map(|k| k.0), Ok(false), "{other}");
        }
    }
}

#[test]
fn scalars_strings_and_nesting() {
    assert_eq!(one(" 12 "), Ok(JsonRef::Int(12)));
    assert_eq!(one("-0"), Ok(JsonRef::Int(0)));
    assert_eq!(one("1.5e3"), Ok(JsonRef::Float(1500.0)));
    assert_eq!(
        one("1795503313.6964676"),
        Ok(JsonRef::Float(1_795_503_313.696_467_6))
    );
    assert_eq!(
        one("9223372036854775808"),
        Ok(JsonRef::Float(9.223_372_036_854_776e18))
    );
    assert_eq!(
        one("\"plain text, long enough for words\""),
        Ok(JsonRef::Str("plain text, long enough for words"))
    );
    assert_eq!(
        one(r#""a\"b\\c\u00e9\ud83d\ude00""#),
        Ok(JsonRef::Escaped("a\"b\\cé😀".into()))
    );
    assert_eq!(
        one(r#" [1, {"a": [true, null]}] "#),
        Ok(JsonRef::Json(r#"[1, {"a": [true, null]}]"#))
    );
}

/// Escaped strings of every shape decode to their text: runs of plain bytes of every length
/// around the 16-byte blocks, each kind of escape, multi-byte characters, at the end of input.
#[test]
fn escaped_strings_decode_to_their_text() {
    let mut rng = crate::testing::XorShift::new(0x0123_4567_89ab_cdef);
    let pieces: [(&str, &str); 12] = [
        ("\\\"", "\""),
        ("\\\\", "\\"),
        ("\\/", "/"),
        ("\\b", "\u{8}"),
        ("\\f", "\u{c}"),
        ("\\n", "\n"),
        ("\\r", "\r"),
        ("\\t", "\t"),
        ("\\u00e9", "é"),
        ("\\ud83d\\ude00", "😀"),
        ("é", "é"),
        ("😀", "😀"),
    ];
    for round in 0..3_000 {
        let (mut json, mut text) = (String::from("\""), String::new());
        for _ in 0..1 + rng.below(12) {
            let run: String = (0..rng.below(40))
                .map(|k| (b'a' + (k % 26) as u8) as char)
                .collect();
            json.push_str(&run);
            text.push_str(&run);
            let (j, t) = pieces[rng.below(12) as usize];
            json.push_str(j);
            text.push_str(t);
        }
        json.push('"');
        let padding = if round % 2 == 0 { "" } else { "   " };
        let input = format!("{json}{padding}");
        let got = one(&input).unwrap_or_else(|e| panic!("{json}: {e}"));
        let got = match got {
            JsonRef::Escaped(s) => s.into_string(),
            JsonRef::Str(s) => s.to_string(),
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(got, text, "{json}");
        assert!(
            one(&json[..json.len() - 1]).is_err(),
            "unterminated: {json}"
        );
    }
}

/// The direct conversions agree with the standard parser bit for bit: random decimals of 1 to
/// 19 significant digits (timestamps, durations, tiny and huge mantissas), and the halfway
/// cases where rounding is decided by the sticky bit.
#[test]
fn direct_numbers_agree_with_str_parse() {
    let mut rng = crate::testing::XorShift::new(0x9E37_79B9_7F4A_7C15);
    let mut texts: Vec<String> = Vec::new();
    for _ in 0..200_000 {
        let digits = 1 + rng.below(19) as usize;
        let mut m = rng.next() % 10u64.pow(digits as u32 - 1).max(1) * 10 + rng.next() % 10;
        if rng.below(4) == 0 {
            m = m.max(1 << 53) + rng.below(1000);
        }
        let text = m.to_string();
        texts.push(text.clone());
        if text.len() >= 2 {
            let (int, frac) = text.split_at(1 + (rng.next() as usize) % (text.len() - 1));
            texts.push(format!("{int}.{frac}"));
            texts.push(format!("-{int}.{frac}"));
            texts.push(format!("0.{text}"));
        }
    }
    // Exact halfway points between neighbouring doubles near a timestamp, and one unit off.
    for k in 0..2_000u64 {
        let x = 1_795_503_313.0 + k as f64 * 0.000_123;
        let halfway = (x + f64::from_bits(x.to_bits() + 1)) / 2.0;
        texts.push(format!("{halfway:.17}"));
        texts.push(format!("{:.7}", x));
    }
    // Integers beyond 2^53 written with a fraction: exact ties between two doubles.
    for _ in 0..20_000 {
        let m = (1u64 << 53) + rng.next() % (1u64 << ((rng.next() % 6 + 2) * 53 / 8));
        for frac in ["0", "5", "50", "1", "9", "49"] {
            let text = format!("{m}.{frac}");
            if text.len() <= 20 {
                texts.push(text);
            }
        }
    }
    texts.push("1795503313.6964676".into());
    texts.push("0.1000000000000000055511151231257827".into());
    for text in &texts {
        let ours = one(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        match ours {
            JsonRef::Int(i) => assert_eq!(Ok(i), text.parse::<i64>(), "{text}"),
            JsonRef::Float(f) => {
                assert_eq!(
                    f.to_bits(),
                    text.parse::<f64>().unwrap().to_bits(),
                    "{text}"
                )
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// What Python's `json` reads beyond RFC 8259, read the same way (lone surrogates as U+FFFD),
/// and its near misses, rejected as Python rejects them.
#[test]
fn reads_what_python_writes_beyond_strict_json() {
    let float = |text| match one(text) {
        Ok(JsonRef::Float(f)) => f,
        other => panic!("{text}: {other:?}"),
    };
    assert!(float("NaN").is_nan());
    assert_eq!(float("Infinity"), f64::INFINITY);
    assert_eq!(float("-Infinity"), f64::NEG_INFINITY);
    assert_eq!(float("1e999"), f64::INFINITY);
    assert_eq!(float("-1e999"), f64::NEG_INFINITY);
    let mut r = Reader::new(b"[NaN, -Infinity, {\"a\": Infinity}]");
    assert_eq!(
        r.value(),
        Ok(JsonRef::Json("[NaN, -Infinity, {\"a\": Infinity}]"))
    );
    let text = |json| one(json).ok().and_then(|v| v.as_str().map(str::to_owned));
    for (json, want) in [
        (r#""\ud800""#, "\u{FFFD}"),
        (r#""\udc00x""#, "\u{FFFD}x"),
        (r#""a\udcffb""#, "a\u{FFFD}b"),
        (r#""\ud800\ud800""#, "\u{FFFD}\u{FFFD}"),
        (r#""\ud83d\ude00""#, "\u{1F600}"),
        (r#""\ud800\ud83d\ude00""#, "\u{FFFD}\u{1F600}"),
        (r#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"),
        (r#""\ud800\n""#, "\u{FFFD}\n"),
    ] {
        assert_eq!(text(json).as_deref(), Some(want), "{json}");
    }
    for bad in [
        "nan",
        "-NaN",
        "+Infinity",
        "Infinit",
        "-Inf",
        "NaNx",
        "inf",
        "\"\\ud800\\u12\"",
    ] {
        let mut r = Reader::new(bad.as_bytes());
        let whole = r.value().and_then(|_| r.end());
        assert!(whole.is_err(), "{bad:?} must be rejected");
    }
}

/// `skip_number` must accept exactly what `number` accepts, stop at the same byte and fail at
/// the same position: every text made of number characters up to four long, and longer ones.
#[test]
fn skipping_a_number_agrees_with_reading_it() {
    let alphabet = ["0", "1", "9", "-", "+", ".", "e", "E", "I", "x", "]"];
    let mut texts = vec![String::new()];
    for _ in 0..4 {
        let longer: Vec<String> = texts
            .iter()
            .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
            .collect();
        texts.extend(longer);
    }
    texts.extend(
        [
            "-Infinity",
            "-Infinit",
            "1795503313.6964676",
            "12345678901234567890123",
            "1e999",
            "-0.000e-12",
            "0.1000000000000000055511151231257827",
        ]
        .map(String::from),
    );
    let mut numbers = 0;
    for text in texts.iter().filter(|t| t.starts_with(['-', '0', '1', '9'])) {
        let (mut read, mut skipped) = (Reader::from_str(text), Reader::from_str(text));
        let value = read.number().map(|_| read.position());
        let skip = skipped.skip_number().map(|()| skipped.position());
        assert_eq!(value, skip, "{text:?}");
        numbers += usize::from(value.is_ok());
    }
    assert!(numbers > 1_000, "the table holds numbers: {numbers}");
}

#[test]
fn rejects_what_strict_json_rejects() {
    for bad in [
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "tru",
        "\"\\x\"",
        "\"a\nb\"",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "[1 2]",
        "\"open",
        "\"\\u12\"",
    ] {
        assert!(one(bad).is_err(), "{bad:?} must be rejected");
    }
    for bad in [
        &b"\"\xff\""[..],
        b"\"caf\xc3\"",
        b"\"a much longer string before its \xc3\x28 bad pair\"",
        b"\"escaped \\n then \xed\xa0\x80 a surrogate\"",
        b"{\"k\xff\": 1}",
        b"[\"ok\", \xff]",
        b"\xef\xbb\xbf1",
    ] {
        let mut r = Reader::new(bad);
        let whole = r.value().and_then(|_| r.end());
        assert!(whole.is_err(), "{bad:?} must be rejected");
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert_eq!(one(&deep).unwrap_err().what, "nesting too deep");
}
