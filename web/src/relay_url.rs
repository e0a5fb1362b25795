//! Where the relay is: `?relay=ws://host:port/ws` in the page's URL first, then the relay saved
//! in the settings, then same-origin `/ws`. The token likewise (`?token=`, then the saved one).
//! `since` is added when resuming.

use crate::settings::Settings;

/// The WebSocket URL to open. `protocol` is `location.protocol` (`http:` / `https:`), `host`
/// `location.host`, `search` `location.search` (`?relay=...&token=...` or empty), `saved` the
/// user's settings.
pub fn relay_url(
    protocol: &str,
    host: &str,
    search: &str,
    saved: &Settings,
    since: Option<u64>,
) -> String {
    let param = |name: &str| {
        search
            .trim_start_matches('?')
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
            .filter(|v| !v.is_empty())
    };
    let saved_relay = Some(saved.relay.clone()).filter(|r| !r.is_empty());
    let base = match param("relay")
        .map(|r| crate::route::percent_decode(&r))
        .or(saved_relay)
    {
        Some(r) => r,
        None => {
            let scheme = if protocol == "https:" { "wss" } else { "ws" };
            format!("{scheme}://{host}/ws")
        }
    };
    let mut extra = Vec::new();
    if let Some(s) = since {
        extra.push(format!("since={s}"));
    }
    if let Some(t) = param("token") {
        extra.push(format!("token={t}")); // still percent-encoded as the user typed it
    } else if !saved.token.is_empty() {
        extra.push(format!("token={}", crate::route::encode(&saved.token)));
    }
    if extra.is_empty() {
        return base;
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", extra.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cases = [
            (("http:", "h:8080", "", None), "ws://h:8080/ws"),
            (("https:", "h", "", Some(42)), "wss://h/ws?since=42"),
            (("http:", "h", "?relay=ws://r:9/ws", None), "ws://r:9/ws"),
            (
                (
                    "http:",
                    "h",
                    "?x=1&relay=ws%3A%2F%2Fr%3A9%2Fws&token=a%2Bb",
                    Some(7),
                ),
                "ws://r:9/ws?since=7&token=a%2Bb",
            ),
            (
                ("http:", "h", "?relay=ws://r/ws?x=1", Some(1)),
                "ws://r/ws?x=1&since=1",
            ),
            (("http:", "h", "?relay=", None), "ws://h/ws"),
        ];
        let none = Settings::default();
        for ((p, h, s, since), want) in cases {
            assert_eq!(relay_url(p, h, s, &none, since), want, "{s}");
        }
    }

    #[test]
    fn saved_settings_come_after_the_page_url() {
        let saved = Settings {
            relay: "wss://saved/ws".into(),
            token: "a b".into(),
            ..Settings::default()
        };
        assert_eq!(
            relay_url("http:", "h", "", &saved, Some(3)),
            "wss://saved/ws?since=3&token=a%20b"
        );
        assert_eq!(
            relay_url("http:", "h", "?relay=ws://url/ws&token=x", &saved, None),
            "ws://url/ws?token=x"
        );
    }
}
