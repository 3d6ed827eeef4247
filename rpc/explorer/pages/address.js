// An address: its balance and nonce, its pending transfers (sent and received, from the
// pool), and its confirmed history a page at a time. Pending transfers appear as the pool
// takes them; the rest is redrawn at each tip change.

import { node } from "../rpc.js";
import { el, amount, count, links, facts, table, notice } from "../format.js";
import { every } from "../live.js";

/** History entries per page. */
const PAGE = 25;
/** How often the pool is asked for the address's pending transfers. */
const POOL_LOOK_MS = 250;
/** Pending transfers shown at most. */
const PENDING_SHOWN = 100;

export async function render(main, [text]) {
  const address = text.toLowerCase();
  main.append(el("h1", {}, "Address"), el("p", { class: "mono", id: "address" }, address));
  const account = el("section", { "aria-label": "account" });
  const pending = el("section", { "aria-label": "pending", id: "pending" });
  const history = el("section", { "aria-label": "history", id: "history" });
  const more = el("button", { type: "button", hidden: true }, "Older transactions");
  main.append(account, el("h2", {}, "Pending"), pending, el("h2", {}, "Confirmed"), history, more);

  const drawAccount = async () => {
    const a = await node.call("account_get", [address]);
    account.replaceChildren(
      facts([
        ["Balance", el("span", { id: "balance" }, amount(a.balance))],
        ["Balance once pending transfers are mined", amount(a.pendingBalance)],
        ["Nonce", count(a.nonce)],
        ["Next nonce to use", count(a.pendingNonce)],
      ]),
    );
  };

  // Whether the pending list changed since it was last drawn.
  let lastPending = null;
  const drawPending = async () => {
    const list = await node.call("mempool_list", [PENDING_SHOWN, address]);
    const key = list.map((t) => t.txid).join();
    if (key === lastPending) return false;
    lastPending = key;
    pending.replaceChildren(
      list.length === 0
        ? notice("Nothing pending.")
        : table(
            ["Transaction", "Direction", "Counterparty", "Amount", "Fee", "Nonce"],
            list.map((t) => {
              const sent = t.sender === address;
              return [links.tx(t.txid), sent ? "out" : "in", links.address(sent ? t.recipient : t.sender), amount(t.amount), amount(t.fee), count(t.nonce)];
            }),
            { id: "pending-transactions" },
          ),
    );
    return true;
  };

  // History, newest first; `cursor` is where the next page starts.
  let cursor = null;
  let rows = [];
  const historyPage = async (from) => {
    const page = await node.call("account_history", [address, from, PAGE]);
    const statuses = await Promise.all(page.entries.map((e) => node.call("tx_get", [e.txid])));
    const pageRows = page.entries.map((entry, i) => {
      const t = statuses[i].transaction ?? {};
      const sent = t.from === address;
      return [links.tx(entry.txid), links.block(entry.height), sent ? "out" : "in", t.from ? links.address(sent ? t.to : t.from) : "", amount(t.amount ?? ""), amount(t.fee ?? "")];
    });
    return { rows: pageRows, next: page.nextCursor ?? null };
  };
  const drawHistory = () => {
    history.replaceChildren(
      rows.length === 0
        ? notice("No confirmed transactions.")
        : table(["Transaction", "Block", "Direction", "Counterparty", "Amount", "Fee"], rows, { id: "history-transactions" }),
    );
    more.hidden = cursor === null;
  };
  const firstHistoryPage = async () => {
    const page = await historyPage(null);
    // Pages the reader loaded beyond the first stay; the first is read afresh.
    rows = page.rows.concat(rows.slice(PAGE));
    if (rows.length <= PAGE) cursor = page.next;
    drawHistory();
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await historyPage(cursor);
      rows = rows.concat(page.rows);
      cursor = page.next;
      drawHistory();
    } catch (error) {
      console.error(error);
    } finally {
      more.disabled = false;
    }
  });

  await Promise.all([drawAccount(), drawPending(), firstHistoryPage()]);

  // The pending balance and next nonce move with the pool.
  const stopLooking = every(POOL_LOOK_MS, async () => {
    if (await drawPending()) await drawAccount();
  });
  const stopHeads = node.follow("chain_subscribeHeads", () => [], () => {
    Promise.all([drawAccount(), drawPending(), firstHistoryPage()]).catch(console.error);
  });
  return () => {
    stopLooking();
    stopHeads();
  };
}
