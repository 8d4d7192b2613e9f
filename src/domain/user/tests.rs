use super::*;
use serde_json::json;

#[test]
fn a_signup_is_trimmed_and_lowercased() {
    let user = NewUser::from_json(
        &json!({"name": " Ann ", "email": " Ann@Example.COM ", "password": "correct horse"}),
    )
    .unwrap();
    assert_eq!(user.name, "Ann");
    assert_eq!(user.email.as_str(), "ann@example.com");
    assert_eq!(user.password.expose(), "correct horse");
    assert!(
        !format!("{user:?}").contains("horse"),
        "Debug must hide the password"
    );
}

#[test]
fn operator_objects_are_not_coerced() {
    let err =
        NewUser::from_json(&json!({"name": "a", "email": {"$ne": ""}, "password": "12345678"}))
            .unwrap_err();
    assert_eq!(err.0[0].field, "email");
    assert_eq!(err.0[0].message, "must be a string");
}

#[test]
fn names_with_control_characters_are_refused() {
    for bad in [
        "Ann\r\nBcc: x@evil.example",
        "Ann\0",
        "\u{7f}Ann",
        "A\u{85}nn",
    ] {
        let err =
            NewUser::from_json(&json!({"name": bad, "email": "a@b.co", "password": "12345678"}))
                .unwrap_err();
        assert_eq!(err.0[0].field, "name", "{bad:?}");
        assert_eq!(err.0[0].message, "must not contain control characters");
    }
    let ok = json!({"name": "Zoë 🙂 O'Brien", "email": "a@b.co", "password": "12345678"});
    assert!(NewUser::from_json(&ok).is_ok());
}

#[test]
fn names_that_would_deceive_a_mail_reader_are_refused() {
    let cases = [
        ("=?utf-8?b?YWRtaW5AZXhhbXBsZS5jb20=?=", "MIME encoded words"),
        ("Ann =?UTF-8?Q?=E2=80=AE?= Lee", "MIME encoded words"),
        ("Ann\u{202E}gnp.exe", "bidirectional"),
        ("\u{202A}Ann", "bidirectional"),
        ("Ann\u{2066}", "bidirectional"),
        ("An\u{2069}n", "bidirectional"),
        ("Ann\u{200E}", "bidirectional"),
        ("Ann\u{200F}", "bidirectional"),
        ("Ann\u{061C}", "bidirectional"),
        ("A\u{200B}nn", "zero-width"),
        ("A\u{200C}nn", "zero-width"),
        ("A\u{200D}nn", "zero-width"),
        ("A\u{2060}nn", "zero-width"),
        ("A\u{FEFF}nn", "zero-width"),
    ];
    for (bad, why) in cases {
        let err =
            NewUser::from_json(&json!({"name": bad, "email": "a@b.co", "password": "12345678"}))
                .unwrap_err();
        assert_eq!(err.0[0].field, "name", "{bad:?}");
        assert!(
            err.0[0].message.contains(why),
            "{bad:?}: {}",
            err.0[0].message
        );
        let err = ProfilePatch::from_json(&json!({"name": bad})).unwrap_err();
        assert_eq!(err.0[0].field, "name", "{bad:?}");
    }
    for ok in [
        "Ann = Lee?",
        "Is it =? no",
        "Ann ?= Lee",
        "Zoë 🙂 O'Brien",
        "محمد",
        "José Ñúñez",
        "李小龙",
    ] {
        assert_eq!(name_problem(ok), None, "{ok:?}");
    }
}

#[test]
fn mass_assignment_is_refused() {
    let err = NewUser::from_json(
        &json!({"name": "a", "email": "a@b.co", "password": "12345678", "role": "admin"}),
    )
    .unwrap_err();
    assert_eq!(err.0[0].field, "role");
}

#[test]
fn emails_must_look_like_emails() {
    for bad in [
        "",
        "a",
        "a@",
        "@b.co",
        "a@b",
        "a b@c.de",
        "a@b..co",
        "a@-b.co",
        "a..b@c.de",
        "a@b.co\n",
    ] {
        if bad.ends_with('\n') {
            assert!(Email::parse(bad).is_ok(), "trailing whitespace is trimmed");
            continue;
        }
        assert!(Email::parse(bad).is_err(), "{bad:?}");
    }
    assert!(Email::parse("first.last+tag@mail.example.org").is_ok());
}

#[test]
fn passwords_are_bounded() {
    let short = NewUser::from_json(&json!({"name": "a", "email": "a@b.co", "password": "short"}))
        .unwrap_err();
    assert_eq!(short.0[0].field, "password");
    let long = "x".repeat(129);
    assert!(
        NewUser::from_json(&json!({"name": "a", "email": "a@b.co", "password": long})).is_err()
    );
}

#[test]
fn a_user_serializes_without_secrets() {
    let user = User::register(
        "a".into(),
        Email::parse("a@b.co").unwrap(),
        Role::User,
        Timestamp::from_millis(0),
    );
    let shown = serde_json::to_value(&user).unwrap();
    // Sorted: key order depends on serde_json's `preserve_order`, which bson turns on.
    let mut keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "deletedAt",
            "email",
            "id",
            "name",
            "role",
            "updatedAt"
        ]
    );
}
