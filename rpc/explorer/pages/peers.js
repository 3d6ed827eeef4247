// The node among its peers: its health, sync progress with rate and time left, and each
// connected peer (direction, address, tip, latency, bytes). Looked at every second.

import { node } from "../rpc.js";
import { el, count, bytes, duration, short, links, facts, table, notice } from "../format.js";
import { every } from "../live.js";

const LOOK_MS = 1000;

export async function render(main) {
  const health = el("section", { "aria-label": "health" });
  const sync = el("section", { "aria-label": "sync", id: "sync" });
  const list = el("section", { "aria-label": "peers" });
  main.append(el("h1", {}, "Peers"), health, el("h2", {}, "Sync"), sync, el("h2", {}, "Connected peers"), list);

  const draw = async () => {
    const [info, state, progress, peers] = await Promise.all([
      node.call("net_info"),
      node.call("node_health"),
      node.call("chain_syncStatus"),
      node.call("net_peers"),
    ]);
    health.replaceChildren(
      facts([
        ["Health", el("span", { id: "health", "data-status": state.status }, `${state.status}: ${state.reason}`)],
        ["Node id", el("span", { class: "mono" }, info.nodeId)],
        ["Accepts peers at", info.listenAddress ?? "nowhere: outbound only"],
        ["Connections", `${count(info.outbound)} outbound, ${count(info.inbound)} inbound`],
        ["Known addresses", count(info.knownAddresses)],
        ["Bans in force", count(info.bans)],
      ]),
    );
    sync.replaceChildren(syncProgress(progress));
    list.replaceChildren(
      peers.length === 0
        ? notice("No peer is connected.")
        : table(
            ["Peer", "Direction", "Address", "Height", "Tip", "Latency", "Received", "Sent", "Connected", "Software"],
            peers.map((p) => [
              el("span", { class: "mono", title: p.nodeId }, short(p.nodeId)),
              p.direction,
              p.listenAddress ?? p.address,
              count(p.bestHeight),
              links.block(p.bestHash),
              p.rttMs === null ? "…" : `${p.rttMs.toFixed(1)} ms`,
              bytes(p.bytesIn),
              bytes(p.bytesOut),
              duration(p.connectedSecs),
              p.userAgent,
            ]),
            { id: "peer-list" },
          ),
    );
  };
  await draw();
  return every(LOOK_MS, draw);
}

/** A progress bar from our height to the best our peers showed, with rate and ETA. */
function syncProgress(s) {
  if (s.phase === "state" && s.state !== null) {
    const st = s.state;
    const share = st.chunksTotal === 0 ? 0 : Math.min(1, st.chunksDone / st.chunksTotal);
    const words =
      `Joining by snapshot: fetching the state at block ${count(st.pivotHeight)} from peers, ` +
      `${count(st.chunksDone)} of about ${count(st.chunksTotal)} chunks, ${count(st.accounts)} accounts ` +
      `(${bytes(st.bytes)}), ${st.accountsPerSec.toFixed(0)} accounts/s` +
      (st.etaSecs === null ? "." : `, about ${duration(st.etaSecs)} left.`);
    return el("div", {}, el("progress", { max: 1, value: share.toFixed(4) }), el("p", { id: "sync-words" }, words));
  }
  if (s.phase === "headers") {
    return el("div", {}, el("progress", {}), el("p", { id: "sync-words" }, "Joining by snapshot: fetching headers to choose the block whose state to take."));
  }
  const share = s.targetHeight === 0 ? 1 : Math.min(1, s.currentHeight / s.targetHeight);
  const after = s.phase === "blocks" ? " after the snapshot" : "";
  const words = s.syncing
    ? `Catching up${after}: ${count(s.currentHeight)} of ${count(s.targetHeight)} blocks, ${s.blocksPerSec.toFixed(1)} blocks/s (${s.txsPerSec.toFixed(0)} tx/s)` +
      (s.etaSecs === null ? ", not moving" : `, about ${duration(s.etaSecs)} left`) +
      `, from ${count(s.peers)} peer${s.peers === 1 ? "" : "s"}.`
    : `In step with the network at height ${count(s.currentHeight)}.`;
  return el("div", {}, el("progress", { max: 1, value: share.toFixed(4) }), el("p", { id: "sync-words" }, words));
}
