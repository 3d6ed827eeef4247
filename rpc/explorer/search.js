// The search box: a block height or hash, a transaction id or an address goes to its
// page; anything else, or something the node does not know, gets a message saying so.

import { node, RpcError } from "./rpc.js";

/** What `query` looks like, before asking the node. */
export function classify(query) {
  const text = query.trim();
  if (text === "") return { kind: "empty" };
  if (/^\d+$/.test(text)) return { kind: "height", height: Number(text), text };
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(text)) return { kind: "hash", hash: text.replace(/^0x/, "").toLowerCase() };
  // Bech32: a prefix, the separator 1, then data characters; one case only.
  if (/^[a-z0-9]+1[02-9ac-hj-np-z]{6,}$/.test(text) || /^[A-Z0-9]+1[02-9AC-HJ-NP-Z]{6,}$/.test(text)) {
    return { kind: "address", address: text.toLowerCase() };
  }
  return { kind: "unknown", text };
}

/** The route `query` leads to, or an error message for the reader. */
export async function resolve(query) {
  const q = classify(query);
  switch (q.kind) {
    case "empty":
      return { error: "Type a block height or hash, a transaction id or an address." };
    case "height": {
      const info = await node.call("chain_info");
      if (!Number.isSafeInteger(q.height) || q.height > info.height) {
        return { error: `There is no block at height ${q.text} yet: the tip is at ${info.height}.` };
      }
      return { route: `/block/${q.height}` };
    }
    case "hash": {
      const block = await node.call("chain_getHeader", [q.hash]);
      if (block) return { route: `/block/${q.hash}` };
      const tx = await node.call("tx_get", [q.hash]);
      if (tx.status !== "unknown") return { route: `/tx/${q.hash}` };
      return { error: `No block or transaction ${q.hash} is known to this node.` };
    }
    case "address":
      try {
        await node.call("account_get", [q.address]);
        return { route: `/address/${q.address}` };
      } catch (error) {
        if (error instanceof RpcError) return { error: `Not an address of this chain: ${error.message}` };
        throw error;
      }
    default:
      return { error: `“${q.text}” is not a block height, block hash, transaction id or address.` };
  }
}

/** Makes `form` (an input named q and a message element) search on submit. */
export function attachSearch(form) {
  const input = form.querySelector("input[name=q]");
  const message = document.getElementById("search-error");
  input.addEventListener("input", () => {
    message.hidden = true;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.hidden = true;
    let found;
    try {
      found = await resolve(input.value);
    } catch (error) {
      found = { error: `The search failed: ${error.message}` };
    }
    if (found.route) {
      location.hash = `#${found.route}`;
      input.value = "";
    } else {
      message.textContent = found.error;
      message.hidden = false;
    }
  });
}
