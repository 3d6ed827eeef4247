// One block, by height or hash: its header, work, reward, whether it is on the canonical
// chain, and its transactions. Confirmations follow the tip live.

import { node } from "../rpc.js";
import { el, amount, count, ago, links, facts, table, notice } from "../format.js";

export async function render(main, [id]) {
  const key = /^\d+$/.test(id) ? Number(id) : id.toLowerCase();
  const block = await node.call("chain_getBlock", [key, true]);
  if (!block) {
    const what = typeof key === "number" ? `at height ${count(key)}` : key;
    main.append(el("h1", {}, "Block"), notice(`No block ${what} is known to this node.`, "error"));
    return;
  }
  const confirmations = el("span", { id: "confirmations" });
  const header = el("h1", {}, `Block ${count(block.height)}`);
  main.append(header);
  if (!block.canonical) {
    main.append(
      notice(
        "Not on the canonical chain: a reorg took this block out, or its branch never won. Its transactions are not confirmed by it.",
        "warning",
      ),
    );
  }
  const nav = el(
    "p",
    { class: "pager" },
    block.height > 0 ? el("a", { href: `#/block/${block.parent}`, rel: "prev" }, "← parent") : null,
    " ",
    block.canonical ? el("a", { href: `#/block/${block.height + 1}`, rel: "next", id: "next-block" }, "next →") : null,
  );
  main.append(
    nav,
    facts([
      ["Hash", el("span", { class: "mono", id: "block-hash" }, block.hash)],
      ["Height", count(block.height)],
      ["Status", el("span", { id: "block-status" }, block.canonical ? "canonical" : "reorged out")],
      block.canonical ? ["Confirmations", confirmations] : null,
      ["Mined", ago(block.timestamp)],
      ["Parent", block.height > 0 ? links.block(block.parent, block.parent) : "none: this is the genesis block"],
      ["Miner", links.address(block.miner, block.miner)],
      ["Miner reward", `${amount(block.minerReward)} (of which fees ${amount(block.fees)})`],
      ["Transactions", count(block.transactions.length)],
      ["Size", `${count(block.size)} bytes`],
      ["Work", `${amount(block.work)} hashes expected`],
      ["Cumulative work", amount(block.cumulativeWork)],
      ["Target", el("span", { class: "mono" }, block.target)],
      ["Merkle root", el("span", { class: "mono" }, block.merkleRoot)],
      ["State root", el("span", { class: "mono", id: "block-state-root" }, block.stateRoot)],
      ["Nonce", block.nonce],
      ["Version", block.version],
    ]),
    el("h2", {}, "Transactions"),
    block.transactions.length === 0
      ? notice("No transactions: the block pays only its miner.")
      : table(
          ["#", "Transaction", "From", "To", "Amount", "Fee"],
          block.transactions.map((t, i) => [i, links.tx(t.id), links.address(t.from), links.address(t.to), amount(t.amount), amount(t.fee)]),
          { id: "block-transactions" },
        ),
  );
  if (!block.canonical) return;
  const showConfirmations = async () => {
    const info = await node.call("chain_info");
    confirmations.textContent = count(info.height - block.height + 1);
  };
  await showConfirmations();
  return node.follow("chain_subscribeHeads", () => [], () => showConfirmations().catch(console.error));
}
