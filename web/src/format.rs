//! How values read on screen: timestamps as UTC `YYYY-MM-DD HH:MM:SS.mmm`, durations with a unit,
//! event values as text (strings without quotes, JSON as JSON). Text only: the UI never renders
//! anything from an event as HTML.

use stalk_state::Value;

/// Unix seconds as `YYYY-MM-DD HH:MM:SS.mmm` (UTC); `-` for nothing.
pub fn time(secs: Option<f64>) -> String {
    let Some(s) = secs.filter(|s| s.is_finite()) else {
        return "-".to_owned();
    };
    let ms = (s * 1000.0).round() as i64;
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, sec, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{sec:02}.{milli:03}")
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A duration in seconds, with a unit that keeps 3 significant-ish digits; `-` for nothing.
pub fn duration(secs: Option<f64>) -> String {
    match secs.filter(|s| s.is_finite()) {
        None => "-".to_owned(),
        Some(s) if s.abs() < 1.0 => format!("{:.1} ms", s * 1000.0),
        Some(s) if s.abs() < 60.0 => format!("{s:.2} s"),
        Some(s) if s.abs() < 3600.0 => format!("{}m {:02}s", (s / 60.0) as i64, (s % 60.0) as i64),
        Some(s) => format!(
            "{}h {:02}m",
            (s / 3600.0) as i64,
            (s % 3600.0 / 60.0) as i64
        ),
    }
}

/// An event value as text: strings as they are, numbers and JSON as JSON, `null` as `-`.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Json(j) => j.to_string(),
        Value::Str(_) | Value::Packed(_) => v.text().map(|t| t.into_owned()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn times() {
        let cases = [
            (None, "-"),
            (Some(f64::NAN), "-"),
            (Some(0.0), "1970-01-01 00:00:00.000"),
            (Some(1_795_503_313.697_6), "2026-11-24 06:55:13.698"),
            (Some(951_782_400.0), "2000-02-29 00:00:00.000"),
            (Some(-1.5), "1969-12-31 23:59:58.500"),
        ];
        for (secs, want) in cases {
            assert_eq!(time(secs), want, "{secs:?}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            (None, "-"),
            (Some(0.0123), "12.3 ms"),
            (Some(1.5), "1.50 s"),
            (Some(125.0), "2m 05s"),
            (Some(7384.0), "2h 03m"),
        ];
        for (secs, want) in cases {
            assert_eq!(duration(secs), want, "{secs:?}");
        }
    }

    #[test]
    fn values_are_plain_text() {
        let long = "<img src=x onerror=alert(1)>".repeat(50);
        let cases = [
            (Value::Null, "-".to_owned()),
            (Value::Int(3), "3".to_owned()),
            (Value::Float(0.5), "0.5".to_owned()),
            (Value::Str(Rc::from("<script>")), "<script>".to_owned()),
            (Value::Json(Rc::from("[1, 2]")), "[1, 2]".to_owned()),
            (Value::packed_or_plain(&long), long.clone()),
        ];
        for (v, want) in cases {
            assert_eq!(value(&v), want);
        }
    }
}
