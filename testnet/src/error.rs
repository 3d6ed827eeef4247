//! How a testnet command fails: one line for the user, which the `tern` binary prints
//! before it exits non-zero.

/// A failed testnet command, as one line for the user. Any error that displays converts
/// into one, as the `tern` binary's own command error does; it is not itself an
/// [`std::error::Error`], so that the conversion can be that general.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestnetError(pub String);

impl<E: std::fmt::Display> From<E> for TestnetError {
    fn from(error: E) -> Self {
        TestnetError(error.to_string())
    }
}
