//! The steps of a smoke run and the one line each prints.

use std::fmt;

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Health,
    Ready,
    SignUp,
    Login,
    WelcomeEmail,
    Cleanup,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Health,
        Step::Ready,
        Step::SignUp,
        Step::Login,
        Step::WelcomeEmail,
        Step::Cleanup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Health => "health",
            Step::Ready => "ready",
            Step::SignUp => "sign-up",
            Step::Login => "login",
            Step::WelcomeEmail => "welcome-email",
            Step::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    Fail {
        reason: String,
        hint: Option<String>,
    },
    Skip(String),
}

impl Outcome {
    pub(super) fn fail(reason: impl Into<String>) -> Self {
        Outcome::Fail {
            reason: reason.into(),
            hint: None,
        }
    }

    pub(super) fn fail_with_hint(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Outcome::Fail {
            reason: reason.into(),
            hint: Some(hint.into()),
        }
    }
}

/// One output line: `ok    health         GET /health: 200 in 3ms`.
pub fn line(step: Step, outcome: &Outcome) -> String {
    let (mark, text) = match outcome {
        Outcome::Ok(text) => ("ok", text),
        Outcome::Fail { reason, .. } => ("FAIL", reason),
        Outcome::Skip(text) => ("skip", text),
    };
    format!("{mark:<5} {:<14} {text}", step.name())
}
