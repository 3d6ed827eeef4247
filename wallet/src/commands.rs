//! The `tern wallet` commands. Each talks to nodes over JSON-RPC with the typed client
//! through a [`Session`], which shows only what checks against the header chain the
//! wallet verified (unless `--trust-node`); secret keys never leave the wallet file
//! except as signatures.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::encoding;
use tern_chain::tx::Transaction;
use tern_chain::types::{Address, AddressPrefix, Amount, TxId};
use tern_rpc::chain::TernApiClient;
use tern_rpc::chain::TxStatus;
use tern_rpc::jsonrpsee::core::client::Error as ClientError;

use crate::answers::Inclusion;
use crate::error::WalletError;
use crate::keystore::Keystore;
use crate::session::Session;
use crate::status::{describe, now_ms};

/// How many development accounts `dev-accounts` lists and `import --dev` accepts.
const DEV_ACCOUNTS: u32 = 10;

/// How long `send --wait` waits for confirmations.
const WAIT_LIMIT: Duration = Duration::from_secs(300);

/// `tern wallet` options.
#[derive(Debug, Args)]
pub struct WalletArgs {
    /// The wallet file.
    #[arg(long, env = "TERN_WALLET", default_value_os_t = default_wallet_path())]
    pub wallet: PathBuf,
    /// A node's JSON-RPC URL. Repeat it (or separate URLs with commas in TERN_RPC) to
    /// follow the chain with the most work among several nodes.
    #[arg(long = "rpc", env = "TERN_RPC", value_delimiter = ',', default_values_t = [default_rpc_url()])]
    pub rpc: Vec<String>,
    /// Show what the first node says without checking it: no header chain, no proofs.
    #[arg(long)]
    pub trust_node: bool,
    /// The chain to verify against: `dev`, `testnet` or a chain spec file (default: the
    /// built-in chain whose genesis the first node names).
    #[arg(long)]
    pub chain: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: WalletCommand,
}

/// The wallet commands.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a new account with a fresh random key.
    New {
        /// A name for it.
        #[arg(long)]
        name: String,
    },
    /// Import an account from its secret key or a development account number.
    Import {
        /// A name for it.
        #[arg(long)]
        name: String,
        /// The 32-byte ed25519 secret key, hex.
        #[arg(long, conflicts_with = "dev", required_unless_present = "dev")]
        secret: Option<String>,
        /// Development account number (0 to 9): the dev chain's well-known funded keys.
        #[arg(long)]
        dev: Option<u32>,
    },
    /// List the wallet's accounts and addresses.
    List,
    /// Print an account's address.
    Address {
        /// The account's name.
        name: String,
    },
    /// Print the balance and nonces of an account (a name or an address).
    Balance {
        /// A name in the wallet, or an address.
        account: String,
    },
    /// Send coins: fetches the nonce, signs, submits, and optionally waits.
    Send {
        /// The sending account's name.
        #[arg(long)]
        from: String,
        /// The recipient: a name in the wallet, or an address.
        #[arg(long)]
        to: String,
        /// Base units to send.
        #[arg(long)]
        amount: String,
        /// Base units to pay the miner; if left out, the node's `fee_estimate` for
        /// `--within` blocks.
        #[arg(long)]
        fee: Option<String>,
        /// The blocks to be mined within, for the fee estimate (1 to 100).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100), conflicts_with = "fee")]
        within: u64,
        /// Wait until the transfer has this many confirmations.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Where a transaction stands, in words: pending and why, confirmed, or dropped and
    /// why.
    Status {
        /// The transaction id.
        txid: String,
    },
    /// Transactions touching an account, newest first.
    History {
        /// A name in the wallet, or an address.
        account: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// The development chain's funded accounts, with their secret keys.
    DevAccounts,
}

/// The URL of a node on this machine with the default RPC address.
fn default_rpc_url() -> String {
    format!("http://127.0.0.1:{}", tern_rpc::DEFAULT_PORT)
}

/// The default wallet file: `$HOME/.tern/wallet.json`.
fn default_wallet_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".tern")
        .join("wallet.json")
}

/// The wallet's error for a failed call.
pub(crate) fn rpc_error(error: ClientError) -> WalletError {
    match error {
        ClientError::Call(e) => WalletError::Refused {
            message: e.message().to_owned(),
            data: e.data().map(|data| data.get().to_owned()),
        },
        ClientError::Transport(e) => WalletError::Unreachable(e.to_string()),
        other => WalletError::Call(other.to_string()),
    }
}

fn password() -> Result<String, WalletError> {
    if let Ok(password) = std::env::var("TERN_WALLET_PASSWORD") {
        return Ok(password);
    }
    rpassword::prompt_password("Wallet password: ").map_err(WalletError::Prompt)
}

/// The password for a key being added. A new wallet file's password is asked twice: a
/// typo would otherwise lock the key away for good.
fn password_for(wallet: &std::path::Path) -> Result<String, WalletError> {
    if wallet.exists() || std::env::var_os("TERN_WALLET_PASSWORD").is_some() {
        return password();
    }
    eprintln!("Creating a new wallet file at {}", wallet.display());
    let first = rpassword::prompt_password("New wallet password: ").map_err(WalletError::Prompt)?;
    let again = rpassword::prompt_password("Repeat the password: ").map_err(WalletError::Prompt)?;
    if first != again {
        return Err(WalletError::PasswordsDiffer(wallet.to_path_buf()));
    }
    Ok(first)
}

/// Prints a note about the nodes (passed over, refused) on stderr.
fn note(line: String) {
    eprintln!("note: {line}");
}

/// Opens a command's session: verifying, unless `trust`.
async fn open_session(
    rpc: &[String],
    trust: bool,
    chain: Option<&str>,
    wallet: &std::path::Path,
) -> Result<Session, WalletError> {
    Session::open(rpc, trust, chain, wallet, &mut note).await
}

/// A wallet name or an address.
fn resolve(
    store: &Keystore,
    prefix: &AddressPrefix,
    account: &str,
) -> Result<Address, WalletError> {
    if let Some(found) = store.accounts()?.into_iter().find(|a| a.name == account) {
        return found
            .address()
            .ok_or_else(|| WalletError::BadStoredKey(account.to_owned()));
    }
    Address::from_bech32(account, prefix).map_err(|e| WalletError::UnknownAccount {
        account: account.to_owned(),
        reason: e.to_string(),
    })
}

/// Runs a wallet command, printing its result.
pub async fn run(args: WalletArgs) -> Result<(), WalletError> {
    let store = Keystore::new(&args.wallet);
    let WalletArgs {
        wallet,
        rpc,
        trust_node,
        chain,
        command,
    } = args;
    let session = || open_session(&rpc, trust_node, chain.as_deref(), &wallet);
    match command {
        WalletCommand::New { name } => {
            let mut seed = [0u8; 32];
            chacha20poly1305::aead::rand_core::RngCore::fill_bytes(
                &mut chacha20poly1305::aead::OsRng,
                &mut seed,
            );
            let key = SecretKey::from_bytes(seed);
            store.add(&name, &key, &password_for(&wallet)?)?;
            println!(
                "created {name}: public key {}",
                hex::encode(key.address().as_bytes())
            );
        }
        WalletCommand::Import { name, secret, dev } => {
            let key = match (secret, dev) {
                (Some(secret), _) => {
                    let seed: [u8; 32] = hex::decode(secret.trim())
                        .ok()
                        .and_then(|s| s.try_into().ok())
                        .ok_or(WalletError::BadSecret)?;
                    SecretKey::from_bytes(seed)
                }
                (None, Some(index)) if index < DEV_ACCOUNTS => dev_secret_key(index),
                (None, Some(index)) => {
                    return Err(WalletError::DevAccountOutOfRange {
                        index,
                        max: DEV_ACCOUNTS - 1,
                    })
                }
                (None, None) => return Err(WalletError::NoKeyGiven),
            };
            store.add(&name, &key, &password_for(&wallet)?)?;
            println!(
                "imported {name}: public key {}",
                hex::encode(key.address().as_bytes())
            );
        }
        WalletCommand::List => {
            let session = session().await?;
            for account in store.accounts()? {
                let address = account
                    .address()
                    .map(|a| a.to_bech32(&session.prefix))
                    .unwrap_or_else(|| "(bad key)".into());
                println!("{}\t{address}", account.name);
            }
        }
        WalletCommand::Address { name } => {
            let session = session().await?;
            println!(
                "{}",
                resolve(&store, &session.prefix, &name)?.to_bech32(&session.prefix)
            );
        }
        WalletCommand::Balance { account } => {
            let session = session().await?;
            let address = resolve(&store, &session.prefix, &account)?;
            let text = address.to_bech32(&session.prefix);
            let (proven, provenance) = session.account(&address, &mut note).await?;
            let proven = proven.unwrap_or_default();
            let pending = session
                .node()
                .client
                .account_get(text.clone())
                .await
                .map_err(rpc_error)?;
            println!(
                "{text}\nbalance {}\nnonce {}\npending balance {} (the node's mempool, which nothing proves)\nnext nonce {}\n{provenance}",
                proven.balance,
                proven.nonce,
                pending.pending_balance,
                pending.pending_nonce.max(proven.nonce),
            );
        }
        WalletCommand::Send {
            from,
            to,
            amount,
            fee,
            within,
            wait,
        } => {
            let fee = match fee {
                Some(fee) => Fee::Given(fee),
                None => Fee::Estimate { within },
            };
            let mut session = session().await?;
            send(&mut session, &store, &from, &to, &amount, fee, wait).await?
        }
        WalletCommand::Status { txid } => {
            let mut session = session().await?;
            let id: TxId = txid
                .parse()
                .map_err(|e: tern_chain::types::HexError| WalletError::BadTxid(e.to_string()))?;
            let (status, inclusion) = session.transaction(&id, &mut note).await?;
            println!("{}", describe(&proven(status, inclusion), now_ms()));
            println!("{}", what_checks(&session, inclusion.is_some()));
        }
        WalletCommand::History { account, limit } => {
            let mut session = session().await?;
            let address = resolve(&store, &session.prefix, &account)?.to_bech32(&session.prefix);
            let page = session
                .node()
                .client
                .account_history(address, None, Some(limit.clamp(1, 100)))
                .await
                .map_err(rpc_error)?;
            for entry in page.entries {
                let shown = if session.verifies() {
                    let id: TxId =
                        entry
                            .txid
                            .parse()
                            .map_err(|e: tern_chain::types::HexError| WalletError::BadAnswer {
                                what: "txid",
                                reason: e.to_string(),
                            })?;
                    let (_, inclusion) = session.transaction(&id, &mut note).await?;
                    match inclusion {
                        Some(i)
                            if i.height.value() == entry.height && i.position == entry.position =>
                        {
                            format!("{} confirmations", i.confirmations)
                        }
                        _ => {
                            return Err(WalletError::UnprovenHistory {
                                node: session.node().url.clone(),
                                txid: entry.txid,
                                height: entry.height,
                            })
                        }
                    }
                } else {
                    "unverified".to_owned()
                };
                println!(
                    "{}\theight {}\tposition {}\t{shown}",
                    entry.txid, entry.height, entry.position
                );
            }
            if session.verifies() {
                println!("verified: each entry proven in a block of the chain with the most work; nothing commits to an address's history, so a node can leave entries out (the balance and nonce above are proven)");
            } else {
                println!(
                    "not verified (--trust-node): the word of {}",
                    session.node().url
                );
            }
        }
        WalletCommand::DevAccounts => {
            let session = session().await?;
            for index in 0..DEV_ACCOUNTS {
                let key = dev_secret_key(index);
                let (account, _) = session.account(&key.address(), &mut note).await?;
                println!(
                    "{index}\t{}\t{}\tbalance {}",
                    key.address().to_bech32(&session.prefix),
                    hex::encode(key.to_bytes()),
                    account.unwrap_or_default().balance
                );
            }
            println!("{}", what_checks(&session, true));
        }
    }
    Ok(())
}

/// `status` with the figures proven in place of the node's: the block, its height and
/// the confirmations counted on the verified chain.
fn proven(status: TxStatus, inclusion: Option<Inclusion>) -> TxStatus {
    match (status, inclusion) {
        (
            TxStatus::Confirmed {
                transaction,
                reorged_out,
                ..
            },
            Some(inclusion),
        ) => TxStatus::Confirmed {
            transaction,
            height: inclusion.height.value(),
            block_hash: inclusion.block.to_string(),
            confirmations: inclusion.confirmations,
            reorged_out,
        },
        (status, _) => status,
    }
}

/// The line that says what of a command's output was checked.
fn what_checks(session: &Session, proven: bool) -> String {
    match (session.verifies(), proven) {
        (false, _) => format!(
            "not verified (--trust-node): the word of {}",
            session.node().url
        ),
        (true, true) => "verified: proven against the header chain this wallet checked".to_owned(),
        (true, false) => {
            "not in a block: only the node's word, which nothing proves until a block includes it"
                .to_owned()
        }
    }
}

/// The fee a send pays.
enum Fee {
    /// `--fee`, as typed.
    Given(String),
    /// The node's estimate to be mined within this many blocks.
    Estimate { within: u64 },
}

async fn send(
    session: &mut Session,
    store: &Keystore,
    from: &str,
    to: &str,
    amount: &str,
    fee: Fee,
    wait: u64,
) -> Result<(), WalletError> {
    let amount: Amount = amount.parse().map_err(|e| WalletError::BadAmount {
        flag: "--amount",
        reason: format!("{e}"),
    })?;
    let to = resolve(store, &session.prefix, to)?;
    // The node would refuse it too; a wallet says so before asking for the password.
    tern_chain::crypto::check_recipient(&to).map_err(|rule| WalletError::NotAKey {
        address: to.to_bech32(&session.prefix),
        rule,
    })?;
    let keys = store.unlock(&password()?)?;
    let key = keys
        .into_iter()
        .find(|(name, _)| name == from)
        .map(|(_, key)| key)
        .ok_or_else(|| WalletError::NoSuchSender(from.to_owned()))?;
    let sender = key.address().to_bech32(&session.prefix);
    let node = &session.node().client;
    let fee: Amount = match fee {
        Fee::Given(fee) => fee.parse().map_err(|e| WalletError::BadAmount {
            flag: "--fee",
            reason: format!("{e}"),
        })?,
        Fee::Estimate { within } => node
            .fee_estimate(within)
            .await
            .map_err(rpc_error)?
            .fee
            .parse()
            .map_err(|e| WalletError::BadAnswer {
                what: "fee estimate",
                reason: format!("{e}"),
            })?,
    };
    // The proven nonce, or past it the node's pending transactions of this sender: a
    // node that claims fewer than the chain proves is not believed.
    let (account, _) = session.account(&key.address(), &mut note).await?;
    let proven_nonce = account.unwrap_or_default().nonce;
    let nonce = node
        .account_get(sender)
        .await
        .map_err(rpc_error)?
        .pending_nonce
        .max(proven_nonce);
    let tx = Transaction {
        chain_id: session.chain_id,
        from: key.address(),
        to,
        amount,
        fee,
        nonce,
    }
    .sign(&key);
    let txid = session
        .node()
        .client
        .tx_submit(hex::encode(encoding::encode(&tx)))
        .await
        .map_err(rpc_error)?;
    println!("submitted {txid} (amount {amount}, fee {fee}, nonce {nonce})");
    if wait == 0 {
        return Ok(());
    }
    let id: TxId =
        txid.parse()
            .map_err(|e: tern_chain::types::HexError| WalletError::BadAnswer {
                what: "txid",
                reason: e.to_string(),
            })?;
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        // New blocks are new headers to check before they count as confirmations.
        session.refresh(&mut note).await?;
        let (status, inclusion) = session.transaction(&id, &mut note).await?;
        let status = proven(status, inclusion);
        let confirmed = match (&status, inclusion) {
            (TxStatus::Confirmed { confirmations, .. }, _) if !session.verifies() => *confirmations,
            (_, Some(inclusion)) => inclusion.confirmations,
            _ => 0,
        };
        if confirmed >= wait {
            println!("{}", describe(&status, now_ms()));
            println!("{}", what_checks(session, inclusion.is_some()));
            return Ok(());
        }
        if let TxStatus::Dropped { .. } = &status {
            return Err(WalletError::Dropped {
                txid,
                why: describe(&status, now_ms()),
            });
        }
        if tokio::time::Instant::now() > deadline {
            return Err(WalletError::NotConfirmed {
                txid,
                wait,
                secs: WAIT_LIMIT.as_secs(),
                last: describe(&status, now_ms()),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
