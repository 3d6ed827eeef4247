// The chain at a glance, live: the tip, the latest blocks, and charts of their intervals
// and sizes. Redrawn on every tip change the node reports (chain_subscribeHeads).

import { node } from "../rpc.js";
import { el, amount, count, short, ago, links, table, facts } from "../format.js";
import { barChart } from "../charts.js";

/** How many of the latest blocks the page lists and charts. */
const RECENT_BLOCKS = 20;
/** Tip changes closer together than this are drawn once (automine can make hundreds). */
const REDRAW_MS = 200;

export async function render(main) {
  const summary = el("section", { "aria-label": "tip" });
  const charts = el("section", { class: "charts" });
  const recent = el("section", { "aria-label": "latest blocks" });
  main.append(el("h1", {}, "Chain"), summary, charts, el("h2", {}, "Latest blocks"), recent);

  let drawing = false;
  let again = false;
  async function draw() {
    if (drawing) {
      again = true;
      return;
    }
    drawing = true;
    try {
      const info = await node.call("chain_info");
      const low = Math.max(0, info.height - RECENT_BLOCKS);
      const heights = [];
      for (let h = info.height; h >= low; h--) heights.push(h);
      const blocks = (await Promise.all(heights.map((h) => node.call("chain_getBlock", [h])))).filter(Boolean);
      summary.replaceChildren(
        facts([
          ["Chain", `${info.name} (id ${info.chainId})`],
          ["Height", el("span", { id: "tip-height" }, count(info.height))],
          ["Tip", links.block(info.bestHash, info.bestHash)],
          ["Cumulative work", amount(info.cumulativeWork)],
          ["Syncing", info.syncing ? "yes" : "no"],
        ]),
      );
      drawCharts(charts, blocks);
      recent.replaceChildren(
        table(
          ["Height", "Hash", "Mined", "Transactions", "Size", "Miner"],
          blocks.map((b) => [links.block(b.height), links.block(b.hash), ago(b.timestamp), count(b.transactions.length), `${count(b.size)} B`, links.address(b.miner)]),
          { id: "recent-blocks" },
        ),
      );
    } finally {
      drawing = false;
      if (again) {
        again = false;
        setTimeout(draw, REDRAW_MS);
      }
    }
  }

  await draw();
  let pending = null;
  let since = null;
  const stop = node.follow(
    "chain_subscribeHeads",
    () => (since ? [since] : []),
    (event) => {
      since = { epoch: event.epoch, seq: event.seq, tip: event.kind === "connect" ? event.header.hash : event.header.parent };
      if (pending === null) pending = setTimeout(() => ((pending = null), draw().catch(console.error)), REDRAW_MS);
    },
    // A point the node no longer has: start again from now.
    () => {
      since = null;
      draw().catch(console.error);
    },
  );
  return () => {
    stop();
    clearTimeout(pending);
  };
}

/** Block intervals and transactions per block, oldest on the left. */
function drawCharts(section, blocks) {
  const oldestFirst = [...blocks].reverse();
  const intervals = [];
  for (let i = 1; i < oldestFirst.length; i++) {
    const b = oldestFirst[i];
    // Genesis carries the chain's birth date, not a mining time.
    if (oldestFirst[i - 1].height === 0) continue;
    const seconds = (b.timestamp - oldestFirst[i - 1].timestamp) / 1000;
    intervals.push({ label: String(b.height), value: Math.max(0, seconds), title: `block ${b.height}: ${seconds.toFixed(2)} s after its parent (${short(b.hash)})` });
  }
  const sizes = oldestFirst.map((b) => ({ label: String(b.height), value: b.transactions.length, title: `block ${b.height}: ${b.transactions.length} transactions` }));
  section.replaceChildren(barChart("Seconds between blocks", intervals, "s"), barChart("Transactions per block", sizes, "txs"));
}
