use super::*;

const T: &str = "2026-11-29T10:42:07.123Z";
const ORIGIN: Origin<'static> = Origin {
    program: "api",
    instance: 1,
    pid: Some(4242),
};

fn line(text: &str, stream: Stream) -> (Value, Level, String) {
    let mut out = Vec::new();
    let level = format_line(&mut out, text.as_bytes(), stream, 0, ORIGIN, T);
    let raw = String::from_utf8(out).unwrap();
    assert!(
        raw.ends_with("}\n") && raw.matches('\n').count() == 1,
        "{raw:?}"
    );
    (serde_json::from_str(&raw).unwrap(), level, raw)
}

#[test]
fn plain_text_is_wrapped_with_the_stream_level() {
    let (record, level, raw) = line("hello \"world\"\r\n", Stream::Stdout);
    assert_eq!(level, Level::Info);
    assert_eq!(
        raw,
        "{\"time\":\"2026-11-29T10:42:07.123Z\",\"level\":\"info\",\"msg\":\"hello \\\"world\\\"\",\"program\":\"api\",\"instance\":1,\"pid\":4242}\n"
    );
    assert_eq!(record["msg"], "hello \"world\"");
    let (record, level, _) = line("boom", Stream::Stderr);
    assert_eq!(level, Level::Error);
    assert_eq!(record["level"], "error");
    assert_eq!(record["stream"], "stderr");
}

#[test]
fn invalid_utf8_and_json_lookalikes_are_wrapped_not_lost() {
    let mut out = Vec::new();
    format_line(&mut out, b"caf\xe9 {", Stream::Stdout, 0, ORIGIN, T);
    let record: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(record["msg"], "caf\u{fffd} {");
    for text in ["{not json}", "[1,2]", "{\"a\":1} trailing", "42"] {
        let (record, _, _) = line(text, Stdout);
        assert_eq!(record["msg"], text);
    }
}
use Stream::Stdout;

#[test]
fn a_json_line_keeps_its_fields_and_gets_its_origin() {
    let (record, level, raw) = line(
        r#"{"level":"WARN","message":"slow","timestamp":"2026-11-29T11:42:07.5+01:00","pid":1,"program":"x","durationMs":812,"nested":{"a":[1,2]},"reqId":"r-1"}"#,
        Stdout,
    );
    assert_eq!(level, Level::Warn);
    assert!(raw.starts_with("{\"time\":\"2026-11-29T10:42:07.500Z\",\"level\":\"warn\",\"msg\":\"slow\",\"program\":\"api\",\"instance\":1,\"pid\":4242,\"requestId\":\"r-1\","), "{raw}");
    assert_eq!(record["durationMs"], 812);
    assert_eq!(record["nested"]["a"][1], 2);
    assert!(record.get("timestamp").is_none() && record.get("message").is_none());
    assert!(record.get("reqId").is_none());
}

#[test]
fn pino_numbers_become_names_and_times() {
    let (record, level, _) = line(
        r#"{"level":50,"time":1764412927123,"msg":"failed","requestId":"abc","hostname":"h"}"#,
        Stdout,
    );
    assert_eq!(level, Level::Error);
    assert_eq!(record["time"], "2025-11-29T10:42:07.123Z");
    assert_eq!(record["requestId"], "abc");
    assert_eq!(record["hostname"], "h");
}

#[test]
fn unknown_levels_and_times_are_kept_beside_the_normalised_ones() {
    let (record, level, _) = line(
        r#"{"level":"chatty","time":"yesterday","msg":{"k":1},"message":"also"}"#,
        Stream::Stderr,
    );
    assert_eq!(level, Level::Error);
    assert_eq!(record["levelName"], "chatty");
    assert_eq!(record["originalTime"], "yesterday");
    assert_eq!(record["time"], T);
    assert_eq!(record["msg"]["k"], 1);
    assert_eq!(record["message"], "also");
    assert_eq!(record["stream"], "stderr");
}

#[test]
fn pieces_of_a_long_line_are_numbered_text() {
    let mut out = Vec::new();
    format_line(&mut out, b"{\"a\":", Stdout, 2, ORIGIN, T);
    let record: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(record["msg"], "{\"a\":");
    assert_eq!(record["part"], 2);
    // A cut right after a `\r` keeps it: the pieces join back to the line.
    let mut out = Vec::new();
    format_line(&mut out, b"ab\r", Stdout, 1, ORIGIN, T);
    let record: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(record["msg"], "ab\r");
}

#[test]
fn strings_are_escaped_as_serde_json_does() {
    let long = "a".repeat(31) + "\"" + &"b".repeat(40);
    for text in [
        "",
        "plain",
        "tab\there",
        "quote\"",
        "back\\slash",
        "é ☃ 🎉",
        "\u{7f}\u{1f}",
        &long,
    ] {
        let mut out = Vec::new();
        json_str(&mut out, text);
        assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
    }
}

#[test]
fn a_character_to_escape_is_found_wherever_it_is_in_a_line_of_any_length() {
    // Lines are checked 16 bytes at a time: try every length around the blocks and every place.
    for len in 1..50 {
        for at in 0..len {
            for special in ["\"", "\\", "\t", "\u{1}", "é"] {
                let mut text = "x".repeat(len - 1);
                text.insert_str(at, special);
                let (record, _, _) = line(&text, Stream::Stdout);
                assert_eq!(record["msg"], text.as_str(), "{text:?}");
                let mut out = Vec::new();
                json_str(&mut out, &text);
                assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
            }
        }
    }
}

#[test]
fn events_are_tagged_as_the_daemons() {
    let mut out = Vec::new();
    let origin = Origin {
        pid: None,
        ..ORIGIN
    };
    format_event(&mut out, "exited with code 3", Level::Error, origin, T);
    let record: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(record["source"], "svc");
    assert_eq!(record["pid"], Value::Null);
    assert_eq!(record["msg"], "exited with code 3");
}

#[test]
fn levels_parse_loosely_from_children_and_strictly_from_users() {
    assert_eq!(Level::parse_loose("FATAL"), Some(Level::Error));
    assert_eq!(Level::parse_loose("Warning"), Some(Level::Warn));
    assert_eq!(Level::parse_loose("loud"), None);
    assert_eq!(Level::from_number(30.0), Some(Level::Info));
    assert_eq!(Level::from_number(60.0), Some(Level::Error));
    assert!("WARN".parse::<Level>().is_err());
    assert_eq!("warn".parse::<Level>(), Ok(Level::Warn));
}
