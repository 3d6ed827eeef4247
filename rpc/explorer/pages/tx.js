// One transaction: where it is and why, in words, from the node's transaction lifecycle
// (tx_get), kept current by tx_subscribeStatus.

import { node } from "../rpc.js";
import { el, amount, count, ago, links, facts, notice } from "../format.js";

/** Confirmations the status subscription follows before it ends. */
const FOLLOWED_CONFIRMATIONS = 100;

/** A status in one sentence a wallet user would understand. */
export function statusInWords(status) {
  switch (status.status) {
    case "confirmed":
      return `Confirmed: ${count(status.confirmations)} confirmation${status.confirmations === 1 ? "" : "s"}, in block ${count(status.height)}.` + (status.reorgedOut ? " A reorg took it out of the chain once; it was mined again." : "");
    case "pending":
      return `Pending: ${waiting(status.why)}`;
    case "dropped":
      return `Dropped: ${dropped(status.why)}`;
    default:
      return "Unknown: this node has not seen it, or dropped it more than an hour ago.";
  }
}

function waiting(why) {
  switch (why.reason) {
    case "nonce_gap":
      return `it waits for its sender's nonce ${why.missingNonce}, which the node has not seen; nothing after a gap can be mined.`;
    case "fee_too_low_for_next_block":
      return `its fee is too low for the next block; a fee of ${amount(why.suggestedFee)} would get it in (resubmit with the same nonce).`;
    case "queued":
      return why.position === 0 ? "it is first in line for the next block." : `${count(why.position)} transaction${why.position === 1 ? "" : "s"} go before it in the next block.`;
    default:
      return why.reason;
  }
}

function dropped(why) {
  switch (why.reason) {
    case "replaced":
      return el("span", {}, "replaced by ", links.tx(why.by), ", which pays at least 10% more for the same nonce.");
    case "evicted":
      return `the pool was full and it paid least; the minimum fee right after was ${amount(why.minimumFee)}.`;
    case "expired":
      return "it waited longer than the pool keeps a transaction (three hours).";
    case "conflict":
      return "a block included another transaction of its sender that used its nonce or the funds it needed.";
    case "reorg":
      return "a reorg took out its block, and on the new chain it no longer applies.";
    default:
      return why.reason;
  }
}

export async function render(main, [id]) {
  const txid = id.toLowerCase();
  main.append(el("h1", {}, "Transaction"), el("p", { class: "mono" }, txid));
  const body = el("div");
  main.append(body);
  const draw = (status) => {
    const t = status.transaction;
    const rows = [["Status", el("span", { id: "tx-status", "data-status": status.status }, statusInWords(status))]];
    if (status.status === "confirmed") rows.push(["Block", links.block(status.blockHash, status.blockHash)]);
    if (status.why?.since) rows.push([status.status === "pending" ? "Pending since" : "Dropped", ago(status.why.since)]);
    if (status.why?.expires) rows.push(["Expires", ago(status.why.expires)]);
    if (t) {
      rows.push(
        ["From", links.address(t.from, t.from)],
        ["To", links.address(t.to, t.to)],
        ["Amount", amount(t.amount)],
        ["Fee", amount(t.fee)],
        ["Nonce", count(t.nonce)],
        ["Signed hash", el("span", { class: "mono" }, t.signedHash)],
      );
    }
    body.replaceChildren(facts(rows));
  };
  const first = await node.call("tx_get", [txid]);
  draw(first);
  if (first.status === "unknown") body.append(notice("Search again once it was submitted: this page does not follow an unknown transaction."));
  if (first.status === "unknown") return;
  return node.follow("tx_subscribeStatus", () => [txid, FOLLOWED_CONFIRMATIONS], draw);
}
