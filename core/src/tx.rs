//! Transactions.
//!
//! A transaction moves `amount` from `from` to `to` and pays `fee` to the block's miner.
//! It is signed with ed25519 over a domain-separated message, `SIGNING_TAG || encoding`, so
//! a signature over a transaction can never be mistaken for a signature over anything
//! else, and since the encoding begins with the chain id, never replayed on another chain.
//!
//! # Two hashes
//!
//! A sender can sign one transfer in several valid ways (another nonce; under the
//! cofactored rule of [`crate::crypto`], a nonce point with a small-order component), so
//! the bytes of a signature say nothing about which transfer it is. A transaction has
//! two hashes, as Zcash's do since ZIP 244:
//!
//! - its id, [`TxId`], hashes the unsigned transaction: every valid encoding of one
//!   transfer has the same id, which the mempool, the chain's index, wallets and relay
//!   announcements use. Two encodings of one transfer are one transaction.
//! - its [`SignedTxHash`] hashes the exact signed bytes: blocks commit to it (so a block's
//!   header fixes its bytes) and the signature cache is keyed by it (a cached verdict is
//!   about exactly these bytes).

use sha2::{Digest, Sha256};

use crate::crypto::{self, SecretKey, Signature};
use crate::encoding::{self, Decode, DecodeError, Encode, Reader, Writer};
use crate::error::TxError;
use crate::types::{Address, Amount, ChainId, SignedTxHash, TxId};

/// The domain tag prefixed to a transaction's encoding to form its signing message.
pub const SIGNING_TAG: &[u8] = b"tern/transaction/v1";

/// The encoded size of a [`Transaction`]: chain id, two keys, amount, fee, nonce.
pub const TRANSACTION_LEN: usize = 4 + 32 + 32 + 8 + 8 + 8;

/// The encoded size of a [`SignedTransaction`]: the transaction and a 64-byte signature.
pub const SIGNED_TRANSACTION_LEN: usize = TRANSACTION_LEN + 64;

/// The fields a sender signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// The chain this transaction is valid on.
    pub chain_id: ChainId,
    /// The sender's public key, which is also its address.
    pub from: Address,
    /// The recipient.
    pub to: Address,
    /// What the recipient receives.
    pub amount: Amount,
    /// What the block's miner receives.
    pub fee: Amount,
    /// The sender's transaction count before this one: nonces are strictly sequential.
    pub nonce: u64,
}

impl Transaction {
    /// The exact bytes the sender signs: [`SIGNING_TAG`] followed by the encoding.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut message = Vec::new();
        self.write_signing_message(&mut message);
        message
    }

    /// Appends [`Self::signing_message`] to `out`: a batch builds all its messages in one
    /// buffer instead of two allocations a transaction.
    pub fn write_signing_message(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(SIGNING_TAG);
        encoding::encode_into(self, out);
    }

    /// The id: SHA-256 of the encoding, which every signed copy shares.
    pub fn id(&self) -> TxId {
        TxId::from_bytes(Sha256::digest(encoding::encode(self)).into())
    }

    /// Signs the transaction. The signature only verifies if `key` is the key of `from`.
    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_message());
        SignedTransaction::new(self, signature)
    }

    /// `amount + fee`: what the sender's balance must cover.
    pub fn total_cost(&self) -> Result<Amount, TxError> {
        self.amount
            .checked_add(self.fee)
            .map_err(|_| TxError::AmountPlusFeeOverflow)
    }
}

impl Encode for Transaction {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.chain_id.0);
        w.array(self.from.as_bytes());
        w.array(self.to.as_bytes());
        w.u64(self.amount.base_units());
        w.u64(self.fee.base_units());
        w.u64(self.nonce);
    }
}

impl Decode for Transaction {
    const MAX_ENCODED_LEN: usize = TRANSACTION_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            chain_id: ChainId(r.u32("chain_id")?),
            from: Address::from_bytes(r.array("from")?),
            to: Address::from_bytes(r.array("to")?),
            amount: Amount::from_base_units(r.u64("amount")?),
            fee: Amount::from_base_units(r.u64("fee")?),
            nonce: r.u64("nonce")?,
        })
    }
}

/// A transaction with its signature, and its two hashes computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    tx: Transaction,
    signature: Signature,
    id: TxId,
    signed_hash: SignedTxHash,
}

impl SignedTransaction {
    /// Joins a transaction and a signature (which is not checked here).
    pub fn new(tx: Transaction, signature: Signature) -> SignedTransaction {
        let unhashed = SignedTransaction::unhashed(tx, signature);
        let encoded = encoding::encode(&unhashed);
        unhashed.hashed(&encoded)
    }

    /// The fields, with both hashes still to be computed by [`Self::hashed`].
    fn unhashed(tx: Transaction, signature: Signature) -> SignedTransaction {
        SignedTransaction {
            tx,
            signature,
            id: TxId::ZERO,
            signed_hash: SignedTxHash::ZERO,
        }
    }

    /// Sets both hashes from `encoded`, this transaction's signed encoding: one encoding
    /// (or none, when decoding, which hashes the bytes it read) serves both, since the
    /// signed encoding begins with the unsigned one (see `Encode` below).
    fn hashed(mut self, encoded: &[u8]) -> SignedTransaction {
        let unsigned = encoded.get(..TRANSACTION_LEN).unwrap_or(encoded);
        self.id = TxId::from_bytes(Sha256::digest(unsigned).into());
        self.signed_hash = SignedTxHash::from_bytes(Sha256::digest(encoded).into());
        self
    }

    /// The signed fields.
    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The id: SHA-256 of the unsigned transaction's encoding (see the module docs).
    pub fn id(&self) -> TxId {
        self.id
    }

    /// SHA-256 of the signed transaction's encoding: these exact bytes.
    pub fn signed_hash(&self) -> SignedTxHash {
        self.signed_hash
    }

    /// The checks that need no state and no signature verification: chain id and
    /// `amount + fee` overflow. Cheap; run them before [`Self::verify_signature`].
    pub fn check_fields(&self, chain_id: ChainId) -> Result<(), TxError> {
        if self.tx.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id,
                found: self.tx.chain_id,
            });
        }
        self.tx.total_cost().map(|_| ())
    }

    /// Verifies the signature alone (see [`crate::crypto`] for the rule). For many
    /// transactions use [`crate::crypto::verify_batch`] with [`Self::signing_message`].
    pub fn verify_signature(&self) -> Result<(), TxError> {
        crypto::verify(&self.tx.from, &self.signing_message(), &self.signature)
            .map_err(TxError::BadSignature)
    }

    /// Every stateless check: [`Self::check_fields`] then [`Self::verify_signature`].
    pub fn check_stateless(&self, chain_id: ChainId) -> Result<(), TxError> {
        self.check_fields(chain_id)?;
        self.verify_signature()
    }

    /// The bytes the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        self.tx.signing_message()
    }
}

impl Encode for SignedTransaction {
    fn encode(&self, w: &mut Writer) {
        self.tx.encode(w);
        w.array(self.signature.as_bytes());
    }
}

impl Decode for SignedTransaction {
    const MAX_ENCODED_LEN: usize = SIGNED_TRANSACTION_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.position();
        let tx = Transaction::decode(r)?;
        let signature = Signature::from_bytes(r.array("signature")?);
        // The bytes just read are the signed encoding: hash them rather than encode again.
        Ok(SignedTransaction::unhashed(tx, signature).hashed(r.read_since(start)))
    }
}

/// Verifies the signatures of `txs` in one batch, with the verdict of checking each alone
/// in order (see [`crate::crypto::verify_batch`]): the error names the first bad one by
/// its position in `txs`.
pub fn verify_signatures<'a>(
    txs: impl IntoIterator<Item = &'a SignedTransaction>,
) -> Result<(), crypto::BatchError> {
    let txs: Vec<&SignedTransaction> = txs.into_iter().collect();
    let mut messages = Vec::new();
    let spans: Vec<std::ops::Range<usize>> = txs
        .iter()
        .map(|t| {
            let start = messages.len();
            t.tx.write_signing_message(&mut messages);
            start..messages.len()
        })
        .collect();
    let items: Vec<crypto::SignedMessage<'_>> = txs
        .iter()
        .zip(spans)
        .map(|(t, span)| crypto::SignedMessage {
            key: &t.tx.from,
            message: messages.get(span).unwrap_or_default(),
            signature: &t.signature,
        })
        .collect();
    crypto::verify_batch(&items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::dev_secret_key;
    use crate::crypto::SignatureError;
    use proptest::prelude::*;

    const CHAIN: ChainId = ChainId(7);

    fn transfer(nonce: u64) -> Transaction {
        Transaction {
            chain_id: CHAIN,
            from: dev_secret_key(0).address(),
            to: dev_secret_key(1).address(),
            amount: Amount::from_base_units(1_000),
            fee: Amount::from_base_units(10),
            nonce,
        }
    }

    #[test]
    fn a_signed_transaction_passes_stateless_checks() {
        let signed = transfer(0).sign(&dev_secret_key(0));
        assert_eq!(signed.check_stateless(CHAIN), Ok(()));
        assert_eq!(encoding::encode(&signed).len(), SIGNED_TRANSACTION_LEN);
    }

    #[test]
    fn wrong_chain_is_rejected() {
        let signed = transfer(0).sign(&dev_secret_key(0));
        assert_eq!(
            signed.check_stateless(ChainId(8)),
            Err(TxError::WrongChain {
                expected: ChainId(8),
                found: CHAIN
            })
        );
    }

    #[test]
    fn a_signature_cannot_move_to_another_chain_or_field() {
        let signed = transfer(0).sign(&dev_secret_key(0));
        let mut moved = *signed.tx();
        moved.chain_id = ChainId(8);
        let replayed = SignedTransaction::new(moved, *signed.signature());
        assert_eq!(
            replayed.check_stateless(ChainId(8)),
            Err(TxError::BadSignature(SignatureError::Mismatch))
        );
        let mut raised = *signed.tx();
        raised.amount = Amount::from_base_units(1_001);
        let forged = SignedTransaction::new(raised, *signed.signature());
        assert_eq!(
            forged.check_stateless(CHAIN),
            Err(TxError::BadSignature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn signing_is_domain_separated() {
        let tx = transfer(0);
        let key = dev_secret_key(0);
        let raw = key.sign(&encoding::encode(&tx));
        let untagged = SignedTransaction::new(tx, raw);
        assert_eq!(
            untagged.verify_signature(),
            Err(TxError::BadSignature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn another_valid_signature_keeps_the_id_but_not_the_bytes() {
        let signed = transfer(0).sign(&dev_secret_key(0));
        assert_eq!(signed.id(), signed.tx().id());
        for torsion in 1..8 {
            let shifted = dev_secret_key(0)
                .sign_with_shifted_nonce(&signed.signing_message(), torsion)
                .unwrap();
            let copy = SignedTransaction::new(*signed.tx(), shifted);
            assert_eq!(copy.check_stateless(CHAIN), Ok(()));
            assert_eq!(copy.id(), signed.id());
            assert_ne!(copy.signed_hash(), signed.signed_hash());
        }
        let other = transfer(1).sign(&dev_secret_key(0));
        assert_ne!(other.id(), signed.id());
    }

    #[test]
    fn amount_plus_fee_overflow_is_rejected() {
        let mut tx = transfer(0);
        tx.amount = Amount::MAX;
        let signed = tx.sign(&dev_secret_key(0));
        assert_eq!(
            signed.check_stateless(CHAIN),
            Err(TxError::AmountPlusFeeOverflow)
        );
    }

    #[test]
    fn a_signature_by_someone_else_is_rejected() {
        let signed = transfer(0).sign(&dev_secret_key(1));
        assert_eq!(
            signed.verify_signature(),
            Err(TxError::BadSignature(SignatureError::Mismatch))
        );
    }

    proptest! {
        #[test]
        fn encoding_round_trips(chain: u32, from: [u8; 32], to: [u8; 32], amount: u64, fee: u64, nonce: u64, sig in proptest::array::uniform32(any::<u8>()).prop_flat_map(|a| proptest::array::uniform32(any::<u8>()).prop_map(move |b| [a, b].concat()))) {
            let tx = Transaction {
                chain_id: ChainId(chain),
                from: Address::from_bytes(from),
                to: Address::from_bytes(to),
                amount: Amount::from_base_units(amount),
                fee: Amount::from_base_units(fee),
                nonce,
            };
            let signature = Signature::from_bytes(sig.try_into().unwrap());
            let signed = SignedTransaction::new(tx, signature);
            let bytes = encoding::encode(&signed);
            prop_assert_eq!(bytes.len(), SIGNED_TRANSACTION_LEN);
            // Both hashes as their definitions say, whether built or decoded.
            prop_assert_eq!(signed.id(), tx.id());
            prop_assert_eq!(signed.signed_hash(), SignedTxHash::from_bytes(Sha256::digest(&bytes).into()));
            prop_assert_eq!(encoding::decode::<SignedTransaction>(&bytes), Ok(signed));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = encoding::decode::<SignedTransaction>(&bytes);
        }
    }
}
