//! [`Given`]: the flags a user gave on the command line (or in their environment
//! variables), kept apart from the flags left out, so that they can be laid over the
//! configuration file without a flag's absence reading as its default.
//!
//! A settings struct declares each setting once, as a field that is both a flag and a
//! key. Clap would make every field that is not an `Option` a required flag, and give a
//! switch (a `bool`) the value false when it is left out; `Given` declares the same flags
//! as optional and makes a switch set true only when given. Its [`Given::over`] then
//! asks clap's own `update_from_arg_matches` to write exactly the flags that were given
//! over a lower layer, so that a setting's flag needs no code of its own anywhere.

use std::marker::PhantomData;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde::Serialize;

use super::print::{default_text, defaults_table};

/// The flags of settings `T` that were given, to lay over a lower layer.
#[derive(Debug, Clone)]
pub struct Given<T> {
    matches: ArgMatches,
    settings: PhantomData<T>,
}

impl<T: FromArgMatches> Given<T> {
    /// `lower` with every given flag written over its key.
    pub fn over(&self, mut lower: T) -> Result<T, clap::Error> {
        lower.update_from_arg_matches(&self.matches)?;
        Ok(lower)
    }
}

impl<T: Args + Default + Serialize> Args for Given<T> {
    fn augment_args(command: Command) -> Command {
        let defaults = defaults_table(&T::default());
        let own = T::augment_args(Command::new("settings"));
        let ids: Vec<clap::Id> = own.get_arguments().map(|a| a.get_id().clone()).collect();
        let mut command = T::augment_args(command);
        for id in ids {
            let shown = default_text(&defaults, id.as_str());
            command = command.mut_arg(id, |arg| as_given(arg, shown));
        }
        command
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

/// `arg` as a flag that is never required and writes its key only when given, its help
/// ending with `default`, if the key has one.
fn as_given(arg: Arg, default: Option<String>) -> Arg {
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    // A switch is off unless given, whatever its key's default; an empty list says
    // nothing.
    let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    let default = default
        .filter(|value| !switch && value != "[]")
        .map(|value| value.trim_matches('"').to_owned());
    let arg = match arg.get_action() {
        // A switch sets its key to true when given and leaves it alone otherwise: as
        // clap's SetTrue it would also write false when left out.
        ArgAction::SetTrue => arg
            .action(ArgAction::Set)
            .num_args(0)
            .default_missing_value("true"),
        // A negating switch (`--no-rpc`) likewise sets false. Its doc comment speaks of
        // the key, which is true when on, so its flag's help is its own `help` alone.
        ArgAction::SetFalse => arg
            .action(ArgAction::Set)
            .num_args(0)
            .default_missing_value("false")
            .long_help(None::<&str>),
        _ => arg,
    };
    // The default comes from the settings' `Default`, not from a second copy in the
    // help text; nor from clap's own defaults, which it would take for given values.
    let arg = match (default, arg.get_long_help().map(ToString::to_string)) {
        (Some(value), Some(long)) => arg
            .help(format!("{help} [default: {value}]"))
            .long_help(format!("{long}\n\n[default: {value}]")),
        (Some(value), None) => arg.help(format!("{help} [default: {value}]")),
        (None, _) => arg,
    };
    arg.required(false)
}

impl<T> FromArgMatches for Given<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Given {
            matches: matches.clone(),
            settings: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.matches = matches.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::print::{default_text, defaults_table};
    use crate::config::{file, P2pSettings, Settings};

    fn given(flags: &[&str]) -> Given<Settings> {
        let command = Given::<Settings>::augment_args(Command::new("node"));
        let matches = command
            .try_get_matches_from(std::iter::once("node").chain(flags.iter().copied()))
            .unwrap();
        Given::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn a_flag_given_wins_over_the_file_and_one_left_out_leaves_the_files_key() {
        let file = file::parse(
            "[p2p]\noutbound = 5\nmax_inbound = 7\n[rpc]\nexplorer = true\n\
             [mining]\nautomine = true\n",
            "node.toml",
        )
        .unwrap();
        let settings = given(&["--outbound", "3", "--no-rpc", "--mine"])
            .over(file)
            .unwrap();
        assert_eq!(settings.p2p.outbound, 3);
        assert!(!settings.rpc.enabled);
        assert!(settings.mining.enabled);
        // Left out: the file's, even where it differs from the default.
        assert_eq!(settings.p2p.max_inbound, 7);
        assert!(settings.rpc.explorer);
        assert!(settings.mining.automine);
        // In neither: the default.
        let defaults = P2pSettings::default();
        assert_eq!(settings.p2p.max_inbound_per_ip, defaults.max_inbound_per_ip);
        assert!(settings.p2p.listen);
    }

    #[test]
    fn no_flags_leave_every_key_as_the_file_sets_it() {
        let mut file = Settings::default();
        file.p2p.listen = false;
        file.rpc.enabled = false;
        file.rpc.admin = true;
        file.mining.threads = 3;
        file.prune = Some(500);
        assert_eq!(given(&[]).over(file.clone()).unwrap(), file);
    }

    #[test]
    fn a_repeated_flag_replaces_the_files_list() {
        let file = file::parse("[p2p]\npeers = [\"a:1\"]\n", "node.toml").unwrap();
        let settings = given(&["--peer", "b:2", "--peer", "c:3"])
            .over(file)
            .unwrap();
        assert_eq!(settings.p2p.peers, ["b:2", "c:3"]);
    }

    /// Each flag's id is the path of its key: `tern config default` prints the key under
    /// it and `--help` shows its default, so an id that names no key, or a key with no
    /// flag, fails here.
    #[test]
    fn every_key_has_a_flag_whose_id_is_its_path() {
        let mut all = Settings {
            datadir: Some("/d".into()),
            prune: Some(300),
            ..Settings::default()
        };
        all.p2p.dial_from = Some([127, 0, 0, 1].into());
        all.mining.reward = Some("tdev1".into());
        all.mining.block_time = Some(5);
        all.metrics.addr = Some(([127, 0, 0, 1], 9645).into());
        let table = defaults_table(&all);
        let keys: usize = table
            .values()
            .map(|value| value.as_table().map_or(1, toml::Table::len))
            .sum();
        let command = Settings::augment_args(Command::new("node"));
        let ids: Vec<&str> = command
            .get_arguments()
            .map(|a| a.get_id().as_str())
            .collect();
        for id in &ids {
            assert!(default_text(&table, id).is_some(), "flag {id} names no key");
        }
        assert_eq!(ids.len(), keys, "{ids:?}");
    }

    #[test]
    fn help_shows_the_defaults_of_the_settings() {
        let command = Given::<Settings>::augment_args(Command::new("node"));
        let help = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_help().unwrap().to_string()
        };
        assert!(
            help("p2p.outbound").ends_with("[default: 8]"),
            "{}",
            help("p2p.outbound")
        );
        assert!(
            help("genesis").ends_with("[default: dev]"),
            "{}",
            help("genesis")
        );
        assert!(
            !help("rpc.enabled").contains("default"),
            "{}",
            help("rpc.enabled")
        );
    }
}
