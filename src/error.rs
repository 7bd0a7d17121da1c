//! The library's error type: every way hardway can refuse, each carrying where the problem is.

use std::fmt;

/// One problem found while validating a topology: a dotted field path and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not well-formed YAML, or a value has the wrong type / an unknown field.
    #[error("{file}:{line}:{column}: {message}")]
    Parse { file: String, line: u64, column: u64, message: String },

    /// The file could not be used at all (empty, too big, not UTF-8).
    #[error("{file}: {message}")]
    Input { file: String, message: String },

    /// Semantic problems, all of them at once.
    #[error("{file}: {n} problem{s} found:\n{list}", n = problems.len(), s = if problems.len() == 1 { "" } else { "s" }, list = list(problems))]
    Invalid { file: String, problems: Vec<Problem> },

    /// The secret seed file is unusable. Never carries any of its content.
    #[error("{file}: {message}")]
    Secret { file: String, message: String },

    /// The output path is unusable or writing failed.
    #[error("{path}: {message}")]
    Output { path: String, message: String },

    /// A bundle does not fit a limit (the message names what is too large).
    #[error("{0}")]
    Limit(String),

    /// `check --at`: certificates, CAs or bootstrap tokens have expired at that moment.
    #[error("{file}: expired at the moment checked:\n{list}", list = what.iter().map(|w| format!("  - {w}")).collect::<Vec<_>>().join("\n"))]
    Expired { file: String, what: Vec<String> },

    /// `hardway plan` found transitions the running cluster would not survive (the plan names them).
    #[error("{count} unsafe transition(s); the plan says the safe steps")]
    UnsafePlan { count: usize },

    /// Standard output was closed by its reader (a pipe into `head`): the command stops quietly.
    #[error("standard output closed")]
    StdoutClosed,

    /// An internal failure of the crypto or template layer; a bug if it happens.
    #[error("internal error while rendering {what}: {message}")]
    Internal { what: String, message: String },
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

impl Error {
    pub fn internal(what: impl Into<String>, message: impl fmt::Display) -> Error {
        Error::Internal { what: what.into(), message: message.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
