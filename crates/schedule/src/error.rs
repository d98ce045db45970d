use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One broken rule of a plan, addressed by the field's path in the plan file (`lr.init`,
/// `phases.freeze_epochs`) so the page can mark the input and the CLI can name the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Dotted path of the field in the plan file.
    pub field: &'static str,
    /// The rule in words, e.g. "must be greater than 0".
    pub rule: String,
    /// The offending value as the user wrote it (or as it was computed).
    pub value: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (got {})", self.field, self.rule, self.value)
    }
}

/// Why a plan was refused. There is one error type for the whole crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The plan parsed, but one or more fields break a rule; every violation is listed so a
    /// form can mark all of them at once.
    #[error("invalid plan: {}", join(.0))]
    Invalid(Vec<Violation>),
    /// The plan file is not valid TOML or does not have the plan's shape.
    #[error("plan file: {0}")]
    Parse(String),
}

impl PlanError {
    /// The violations, empty for a parse error.
    pub fn violations(&self) -> &[Violation] {
        match self {
            PlanError::Invalid(v) => v,
            PlanError::Parse(_) => &[],
        }
    }
}

fn join(v: &[Violation]) -> String {
    let mut out = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&alloc::format!("{x}"));
    }
    out
}
