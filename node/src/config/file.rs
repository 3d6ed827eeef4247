//! Reading a configuration file: bounded, and every error one line naming the file, the
//! line and the key, so that a typo never falls back to a default unnoticed (unknown
//! keys are errors).

use std::path::Path;

use super::Settings;
use crate::cli_error::CliError;

/// The largest configuration file read; a real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads and checks `path`. Errors are one line naming the file and the line.
pub fn load(path: &Path) -> Result<Settings, CliError> {
    let error = |e: &dyn std::fmt::Display| CliError(format!("config {}: {e}", path.display()));
    let text = tern_state::persist::read_bounded(path, MAX_CONFIG_BYTES)
        .map_err(|e| error(&e))?
        .ok_or_else(|| error(&"no such file"))?;
    parse(&text, &path.display().to_string())
}

/// Parses TOML `text` from `origin`.
pub fn parse(text: &str, origin: &str) -> Result<Settings, CliError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| {
            let before = text.get(..span.start).unwrap_or_default();
            before.matches('\n').count() + 1
        });
        let message = e.message().replace('\n', " ");
        match line {
            Some(line) => CliError(format!("config {origin} line {line}: {message}")),
            None => CliError(format!("config {origin}: {message}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_parses_back_to_the_defaults() {
        let printed = super::super::default_toml();
        assert_eq!(parse(&printed, "default").unwrap(), Settings::default());
    }

    #[test]
    fn an_unknown_key_is_a_one_line_error_naming_file_and_line() {
        let error = parse("genesis = \"dev\"\n[p2p]\noutbund = 3\n", "node.toml").unwrap_err();
        assert!(
            error
                .0
                .starts_with("config node.toml line 3: unknown field `outbund`"),
            "{}",
            error.0
        );
        assert!(!error.0.contains('\n'));
    }

    #[test]
    fn a_wrong_type_names_the_line() {
        let error = parse("[rpc]\naddr = 12\n", "node.toml").unwrap_err();
        assert!(error.0.contains("line 2"), "{}", error.0);
    }

    #[test]
    fn an_unknown_sync_mode_names_the_choices() {
        let error = parse("sync = \"fast\"\n", "node.toml").unwrap_err();
        assert!(error.0.contains("line 1"), "{}", error.0);
        assert!(error.0.contains("`full`"), "{}", error.0);
    }
}
