//! How a `tern` command fails: one line for the user, and a non-zero exit.

/// A failed command, as one line for the user.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(error: E) -> Self {
        CliError(error.to_string())
    }
}
