use super::user::stuck_hint;
use super::*;

fn args(url: &str, timeout: &str, domain: &str) -> SmokeArgs {
    SmokeArgs {
        url: url.into(),
        timeout: timeout.into(),
        email_domain: domain.into(),
        cacert: None,
    }
}

#[test]
fn lines_align_and_name_the_step() {
    assert_eq!(
        line(Step::WelcomeEmail, &Outcome::Ok("done".into())),
        "ok    welcome-email  done"
    );
    assert_eq!(
        line(Step::Health, &Outcome::fail("down")),
        "FAIL  health         down"
    );
    assert_eq!(
        line(Step::Login, &Outcome::Skip("sign-up failed".into())),
        "skip  login          sign-up failed"
    );
    let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "health",
            "ready",
            "sign-up",
            "login",
            "welcome-email",
            "cleanup"
        ]
    );
}

#[test]
fn a_user_left_behind_is_named_for_an_admin() {
    let user = LeftBehind {
        id: "0123456789abcdef01234567".into(),
        email: "smoke-1@example.com".into(),
        reason: "the login failed".into(),
    };
    let text = user.error().to_string();
    assert!(
        text.starts_with(
            "error: the throw-away user 0123456789abcdef01234567 <smoke-1@example.com> \
             was not deleted: the login failed"
        ),
        "{text}"
    );
    assert!(
        text.contains("an admin must remove it: DELETE /api/users/0123456789abcdef01234567"),
        "{text}"
    );
}

#[test]
fn arguments_are_validated() {
    assert!(Plan::from_args(&args("http://127.0.0.1:3000/", "30s", "example.com")).is_ok());
    for (url, timeout, domain) in [
        ("localhost:3000", "30s", "example.com"),
        ("http://h", "soon", "example.com"),
        ("http://h", "0s", "example.com"),
        ("http://h", "2h", "example.com"),
        ("http://h", "30s", "not a domain"),
        ("http://h", "30s", "localhost"),
    ] {
        let error = Plan::from_args(&args(url, timeout, domain)).unwrap_err();
        assert_eq!(
            error.kind,
            crate::cli::exit::ExitKind::Usage,
            "{url} {timeout} {domain}"
        );
    }
}

#[test]
fn a_stuck_job_gets_a_hint_for_its_state() {
    assert!(stuck_hint("waiting").contains("svc worker"));
    assert!(stuck_hint("notQueued").contains("svc worker"));
    assert!(stuck_hint("active").contains("SMTP_URL"));
}
