//! `tern config default`: the whole configuration file with its defaults, every key
//! under its doc comment, made from [`Settings`] itself so that it cannot drift from
//! what the node reads.

use clap::{Args, Command};
use serde::Serialize;

use super::Settings;

/// How wide the printed comments are.
const COMMENT_WIDTH: usize = 88;

/// The full default configuration, with a comment on every key.
pub fn default_toml() -> String {
    let defaults = defaults_table(&Settings::default());
    let command = Settings::augment_args(Command::new("tern node"));
    let mut out = String::from(
        "# Tern node configuration. Every key is optional; these are the defaults.\n\
         # A flag given to `tern node` wins over its key here.\n",
    );
    let mut section = "";
    for arg in command.get_arguments() {
        let path = arg.get_id().as_str();
        let (table, key) = path.split_once('.').unwrap_or(("", path));
        if table != section {
            section = table;
            out.push_str(&format!("\n[{table}]\n"));
        }
        out.push('\n');
        let doc = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|d| d.to_string());
        out.push_str(&comment(doc.as_deref().unwrap_or_default()));
        match default_text(&defaults, path) {
            Some(value) => out.push_str(&format!("{key} = {value}\n")),
            // No default: a commented line shows what goes there.
            None => {
                let placeholder = arg
                    .get_value_names()
                    .and_then(|names| names.first())
                    .map_or_else(|| "VALUE".to_owned(), ToString::to_string);
                out.push_str(&format!("# {key} = {placeholder}\n"));
            }
        }
    }
    out
}

/// `settings` as a TOML table, to look keys up in.
pub(super) fn defaults_table(settings: &impl Serialize) -> toml::Table {
    // Settings are tables of plain values: serializing them cannot fail.
    toml::Table::try_from(settings).unwrap_or_default()
}

/// The TOML text of the value at `path` (`genesis`, `rpc.addr`) in `table`, if it has
/// one.
pub(super) fn default_text(table: &toml::Table, path: &str) -> Option<String> {
    let (section, key) = match path.split_once('.') {
        Some((section, key)) => (table.get(section)?.as_table()?, key),
        None => (table, path),
    };
    section.get(key).map(ToString::to_string)
}

/// `text` as `# ` comment lines at most [`COMMENT_WIDTH`] wide, paragraphs apart, each
/// ending its sentence (clap drops the full stop of a one-line help).
fn comment(text: &str) -> String {
    let mut out = String::new();
    for (i, paragraph) in text.split("\n\n").enumerate() {
        let paragraph = paragraph.trim_end();
        let stop = if paragraph.ends_with('.') { "" } else { "." };
        let paragraph = format!("{paragraph}{stop}");
        if i > 0 {
            out.push_str("#\n");
        }
        let mut line = String::from("#");
        for word in paragraph.split_whitespace() {
            if line.len() + 1 + word.len() > COMMENT_WIDTH && line.len() > 1 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}
