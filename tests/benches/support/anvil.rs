//! anvil (Foundry's development node), the reference the RPC benches hold Tern against:
//! started on a free port of 127.0.0.1 and stopped with its handle, and Ethereum's own
//! signed transfer (a legacy EIP-155 transaction: RLP, Keccak-256, secp256k1), so that
//! one load client floods both nodes the same way.
//!
//! Given as `TERN_BENCH_ANVIL=<binary>`; `npm install @foundry-rs/anvil` fetches one.
// Each bench includes this file and uses its part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_rlp::Encodable;
use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};
use tern_tests::http::KeepAlive;

/// anvil's chain id unless told otherwise.
pub(crate) const CHAIN_ID: u64 = 31_337;

/// A running anvil, killed when dropped.
pub(crate) struct Anvil {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Anvil {
    /// Starts `binary` with `args` besides its address, and waits until it answers.
    pub(crate) async fn start(binary: &str, args: &[&str]) -> Anvil {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while KeepAlive::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "anvil did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Anvil { child, addr }
    }

    /// CPU seconds anvil has used, from `/proc/PID/stat` (in the kernel's `USER_HZ` of
    /// 100 a second); zero off Linux.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        let pid = self.child.id();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0.0;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (ticks(11) + ticks(12)) as f64 / 100.0
    }

    /// One call's answer, asserting it succeeded.
    pub(crate) async fn call(&self, method: &str, params: &str) -> String {
        let mut connection = KeepAlive::connect(self.addr).await.unwrap();
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        let (status, answer) = connection.post_json(&body).await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert!(answer.contains("\"result\""), "{method}: {answer}");
        answer
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keccak(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// An Ethereum account's key.
pub(crate) struct EthKey {
    key: SigningKey,
    pub(crate) address: [u8; 20],
}

impl EthKey {
    /// The key drawn from `seed`, the same on every run.
    pub(crate) fn from_seed(seed: u64) -> EthKey {
        let key = SigningKey::from_slice(&keccak(&seed.to_be_bytes())).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let mut address = [0; 20];
        address.copy_from_slice(&keccak(&point.as_bytes()[1..])[12..]);
        EthKey { key, address }
    }

    /// The address as anvil writes it, `0x` and 40 hex digits.
    pub(crate) fn address_hex(&self) -> String {
        format!("0x{}", hex::encode(self.address))
    }

    /// A transfer of `value` wei to `to`, signed: what `eth_sendRawTransaction` takes.
    pub(crate) fn transfer(
        &self,
        nonce: u64,
        to: &[u8; 20],
        value: u64,
        gas_price: u64,
    ) -> Vec<u8> {
        const GAS: u64 = 21_000;
        let data: &[u8] = &[];
        // EIP-155: the chain id and two zeros stand where the signature will.
        let unsigned: [&dyn Encodable; 9] = [
            &nonce, &gas_price, &GAS, to, &value, &data, &CHAIN_ID, &0u8, &0u8,
        ];
        let mut message = Vec::new();
        alloy_rlp::encode_list::<_, dyn Encodable>(&unsigned, &mut message);
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(&keccak(&message))
            .unwrap();
        let v = u64::from(recovery.to_byte()) + CHAIN_ID * 2 + 35;
        let (r, s) = (signature.r().to_bytes(), signature.s().to_bytes());
        // r and s are integers: no leading zeros.
        let integer = |bytes: &[u8]| -> Vec<u8> {
            let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            bytes[first..].to_vec()
        };
        let (r, s) = (integer(&r), integer(&s));
        let (r, s) = (r.as_slice(), s.as_slice());
        let signed: [&dyn Encodable; 9] = [&nonce, &gas_price, &GAS, to, &value, &data, &v, &r, &s];
        let mut raw = Vec::new();
        alloy_rlp::encode_list::<_, dyn Encodable>(&signed, &mut raw);
        raw
    }
}
