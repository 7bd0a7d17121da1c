//! The library's error type: every way hardway can refuse, each carrying where the problem is.

use std::fmt;

/// One problem found while validating a topology: a dotted field path and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Dotted field path, e.g. `nodes[2].internalIP` (empty for the file as a whole).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
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

/// Every way hardway refuses; each variant prints once, with where the problem is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not well-formed YAML, or a value has the wrong type / an unknown field.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The topology file.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong there.
        message: String,
    },

    /// The file could not be used at all (empty, too big, not UTF-8).
    #[error("{file}: {message}")]
    Input {
        /// The file.
        file: String,
        /// Why it cannot be used.
        message: String,
    },

    /// Semantic problems, all of them at once.
    #[error("{file}: {n} problem{s} found:\n{list}", n = problems.len(), s = if problems.len() == 1 { "" } else { "s" }, list = list(problems))]
    Invalid {
        /// The topology file.
        file: String,
        /// Every problem, in field order.
        problems: Vec<Problem>,
    },

    /// The secret seed file is unusable. Never carries any of its content.
    #[error("{file}: {message}")]
    Secret {
        /// The seed file.
        file: String,
        /// Why it is unusable (never its content).
        message: String,
    },

    /// The output path is unusable or writing failed.
    #[error("{path}: {message}")]
    Output {
        /// The output path (or the file being written).
        path: String,
        /// What failed.
        message: String,
    },

    /// User-data over its budget even gzipped: one line per node (its sizes and largest files) and
    /// the ways out that apply to this topology. `predicted` when `check` learnt it from stand-in keys;
    /// `file` is the topology when the command knows it.
    #[error("{}{}user-data of {n} node{s} is over the budget of {budget} bytes (userData.budgetBytes) even gzipped:\n{list}\nways out: {ways}",
        file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default(),
        if *predicted { "predicted from the sizes of keys and certificates: " } else { "" },
        n = nodes.len(), s = if nodes.len() == 1 { "" } else { "s" },
        list = nodes.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"),
        ways = ways.join("; "))]
    OverBudget {
        /// The topology file, when the command knows it.
        file: Option<String>,
        /// `userData.budgetBytes`.
        budget: usize,
        /// One line per node over it: its sizes and largest files.
        nodes: Vec<String>,
        /// The ways out that apply to this topology.
        ways: Vec<String>,
        /// Learnt from stand-in keys (`check`), not from a render.
        predicted: bool,
    },

    /// A bundle read back (`inspect`, `plan`, `cloudformation`) cannot be used as it is.
    #[error("{path}: {message}")]
    Bundle {
        /// The bundle (directory or zip), or the file in it.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// `inspect` found problems in a bundle (its report lists them).
    #[error("{path}: {count} problem(s) found")]
    BundleProblems {
        /// The bundle.
        path: String,
        /// How many problems its report lists.
        count: usize,
    },

    /// `check --at`: certificates, CAs or bootstrap tokens have expired at that moment.
    #[error("{file}: expired at the moment checked:\n{list}", list = what.iter().map(|w| format!("  - {w}")).collect::<Vec<_>>().join("\n"))]
    Expired {
        /// The topology file.
        file: String,
        /// One line per expired certificate, CA or token.
        what: Vec<String>,
    },

    /// `hardway plan` found transitions the running cluster would not survive (the plan names them).
    #[error("{count} unsafe transition(s); the plan says the safe steps")]
    UnsafePlan {
        /// How many unsafe transitions the plan names.
        count: usize,
    },

    /// Standard output was closed by its reader (a pipe into `head`): the command stops quietly.
    #[error("standard output closed")]
    StdoutClosed,

    /// An internal failure of the crypto or template layer; a bug if it happens.
    #[error("internal error while rendering {what}: {message}")]
    Internal {
        /// What was being rendered.
        what: String,
        /// The underlying failure.
        message: String,
    },
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

impl Error {
    /// The process exit code for this error: 0 for a closed standard output (a reader that went away is
    /// not a failure), 1 for everything else (usage errors, 2, are clap's).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::StdoutClosed => 0,
            _ => 1,
        }
    }

    /// An internal failure of `what` (a bug if it happens).
    pub fn internal(what: impl Into<String>, message: impl fmt::Display) -> Error {
        Error::Internal { what: what.into(), message: message.to_string() }
    }
}

/// hardway's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
