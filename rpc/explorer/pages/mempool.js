// The pool: how much waits, the fee it takes now and for the next blocks, the fees as a
// histogram, and the best-paying transactions. Looked at twice a second.

import { node } from "../rpc.js";
import { el, amount, count, bytes, links, facts, table, notice } from "../format.js";
import { barChart } from "../charts.js";
import { every } from "../live.js";

const LOOK_MS = 500;
/** Best-paying transactions listed. */
const LISTED = 50;

export async function render(main) {
  const summary = el("section", { "aria-label": "pool" });
  const chart = el("section", { class: "charts" });
  const list = el("section", { "aria-label": "pending transactions" });
  main.append(el("h1", {}, "Mempool"), summary, chart, el("h2", {}, `Best-paying ${LISTED}`), list);

  const draw = async () => {
    const [info, next, soon, pending] = await Promise.all([
      node.call("mempool_info"),
      node.call("fee_estimate", [1]),
      node.call("fee_estimate", [6]),
      node.call("mempool_list", [LISTED]),
    ]);
    const refused = Object.entries(info.rejections)
      .map(([reason, n]) => `${reason} ${count(n)}`)
      .join(", ");
    summary.replaceChildren(
      facts([
        ["Pending", el("span", { id: "mempool-count" }, count(info.count))],
        ["Size", bytes(info.bytes)],
        ["Minimum fee now", amount(info.minimumFee)],
        ["Fee for the next block", amount(next.fee)],
        ["Fee within 6 blocks", amount(soon.fee)],
        ["Refused so far", refused || "none"],
      ]),
    );
    // Lowest fees on the left, as fee charts are read.
    const bars = [...info.feeHistogram].reverse().map((b) => ({
      label: amount(b.minFee),
      value: b.count,
      title: `fees ${amount(b.minFee)} to ${amount(b.maxFee)}: ${count(b.count)} transactions, ${bytes(b.bytes)}`,
    }));
    chart.replaceChildren(barChart("Pending transactions by fee", bars, "txs"));
    list.replaceChildren(
      pending.length === 0
        ? notice("The pool is empty.")
        : table(
            ["Transaction", "Fee", "From", "To", "Amount", "Nonce"],
            pending.map((t) => [links.tx(t.txid), amount(t.fee), links.address(t.sender), links.address(t.recipient), amount(t.amount), count(t.nonce)]),
            { id: "mempool-transactions" },
          ),
    );
  };
  await draw();
  return every(LOOK_MS, draw);
}
