// The whole testnet on one page: every node (height, tip, peers, pool), the connections
// between them as a graph with the links' faults, and each new block's way through the
// network as it happens. The node list and links come from the testnet's control endpoint
// (`testnet_status`, read only); each node is then a client of its own public RPC.

import { NodeClient } from "../rpc.js";
import { el, count, short, links, table, notice } from "../format.js";
import { every } from "../live.js";

const LOOK_MS = 1000;
/** The latest blocks whose arrival at each node is shown. */
const PROPAGATION_BLOCKS = 8;
const SIZE = 420;
/** Where this tab remembers the control endpoint, so the menu's link finds it again. */
export const CONTROL_KEY = "tern.testnetControl";

/** A color per tip hash, so nodes on different tips stand apart at a glance. */
export function tipColor(hash) {
  if (!hash) return "#8a96a3";
  const hue = parseInt(hash.slice(0, 6), 16) % 360;
  return `hsl(${hue} 60% 40%)`;
}

export async function render(main, [given]) {
  main.append(el("h1", {}, "Network"));
  const control = given ?? sessionStorage.getItem(CONTROL_KEY);
  if (control) {
    sessionStorage.setItem(CONTROL_KEY, control);
    document.querySelector('nav a[data-section="network"]').href = `#/network/${control}`;
  }
  if (!control) {
    main.append(
      notice(
        "The network view shows a whole `tern testnet`: open the explorer link the testnet prints (it ends in #/network/<control address>).",
      ),
    );
    return;
  }
  const status = el("p", { id: "network-status" });
  const graph = el("section", { class: "graph", "aria-label": "peer graph" });
  const nodesTable = el("section", { "aria-label": "nodes" });
  const propagation = el("section", { "aria-label": "block propagation", id: "propagation" });
  main.append(status, el("div", { class: "network" }, graph, nodesTable), el("h2", {}, "Blocks reaching each node"), propagation);

  const controlClient = new NodeClient(`http://${control}`);
  const clients = new Map(); // rpc url -> {client, stop}
  // Block hash -> {height, firstSeen, at: Map(node -> ms after firstSeen)}.
  const arrivals = new Map();
  let latest = null;

  const watch = (nodeStatus) => {
    const url = nodeStatus.rpc.replace(/\/$/, "");
    if (clients.has(url)) return;
    const client = new NodeClient(url);
    const stop = client.follow("chain_subscribeHeads", () => [], (event) => {
      if (event.kind !== "connect") return;
      const now = performance.now();
      const hash = event.header.hash;
      let block = arrivals.get(hash);
      if (!block) {
        block = { height: event.header.height, firstSeen: now, at: new Map() };
        arrivals.set(hash, block);
        const oldest = [...arrivals.keys()].slice(0, Math.max(0, arrivals.size - PROPAGATION_BLOCKS));
        for (const old of oldest) arrivals.delete(old);
      }
      if (!block.at.has(nodeStatus.node)) block.at.set(nodeStatus.node, now - block.firstSeen);
      if (latest) drawPropagation(propagation, arrivals, latest.nodes);
    });
    clients.set(url, { client, stop });
  };

  const draw = async () => {
    const network = await controlClient.call("testnet_status");
    latest = network;
    for (const n of network.nodes) if (n.process === "running") watch(n);
    const running = network.nodes.filter((n) => n.view);
    const tips = new Set(running.map((n) => n.view.tip));
    status.textContent =
      `${count(network.nodes.length)} nodes, ${count(running.length)} answering; ` +
      (tips.size <= 1 ? "all on one tip." : `${tips.size} different tips: the network is split or still catching up.`);
    drawGraph(graph, network);
    nodesTable.replaceChildren(
      table(
        ["Node", "State", "Height", "Tip", "Peers", "Pool", "Link faults"],
        network.nodes.map((n) => [
          el("a", { href: `${n.rpc.replace(/\/$/, "")}/explorer/`, target: "_blank", rel: "noopener" }, `node ${n.node}`),
          n.view ? n.view.health : n.problem ?? n.process,
          n.view ? count(n.view.height) : "",
          n.view ? el("span", {}, swatch(tipColor(n.view.tip)), short(n.view.tip)) : "",
          n.view ? count(n.view.peers) : "",
          n.view ? count(n.view.mempool) : "",
          n.faults.join("; ") || "none",
        ]),
        { id: "network-nodes" },
      ),
    );
    drawPropagation(propagation, arrivals, network.nodes);
  };

  try {
    await draw();
  } catch (error) {
    controlClient.stop();
    main.append(notice(`The testnet's control endpoint at ${control} did not answer: ${error.message}. Is the testnet still running?`, "error"));
    return;
  }
  const stopLooking = every(LOOK_MS, draw);
  return () => {
    stopLooking();
    controlClient.stop();
    for (const { client, stop } of clients.values()) {
      stop();
      client.stop();
    }
  };
}

/** A dot of `color` (set through the CSSOM: the page's policy refuses inline styles). */
function swatch(color) {
  const dot = el("span", { class: "swatch" });
  dot.style.background = color;
  return dot;
}

function svg(tag, attrs = {}, text = null) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

/** Nodes on a circle; an edge per pair with a connection open; faults drawn on the links. */
function drawGraph(section, network) {
  const nodes = network.nodes.filter((n) => n.process !== "removed");
  const center = SIZE / 2;
  const radius = SIZE / 2 - 40;
  const position = new Map(
    nodes.map((n, i) => {
      const angle = (2 * Math.PI * i) / Math.max(1, nodes.length) - Math.PI / 2;
      return [n.node, [center + radius * Math.cos(angle), center + radius * Math.sin(angle)]];
    }),
  );
  const chart = svg("svg", { viewBox: `0 0 ${SIZE} ${SIZE}`, role: "img", "aria-label": "peer graph" });
  // The testnet's default profile is the one most links have; any other is a fault.
  const profiles = new Map();
  for (const link of network.links) {
    const profile = JSON.stringify(link.profile);
    profiles.set(profile, (profiles.get(profile) ?? 0) + 1);
  }
  const usual = [...profiles.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  // One edge per unordered pair: cut if either way is cut, shaped if either way differs.
  const pairs = new Map();
  for (const link of network.links) {
    const key = [Math.min(link.from, link.to), Math.max(link.from, link.to)].join("-");
    const pair = pairs.get(key) ?? { a: Math.min(link.from, link.to), b: Math.max(link.from, link.to), open: false, cut: false, shaped: false };
    pair.open ||= link.connections > 0;
    pair.cut ||= link.cut;
    pair.shaped ||= JSON.stringify(link.profile) !== usual;
    pairs.set(key, pair);
  }
  for (const pair of pairs.values()) {
    if (!(pair.open || pair.cut) || !position.has(pair.a) || !position.has(pair.b)) continue;
    const [x1, y1] = position.get(pair.a);
    const [x2, y2] = position.get(pair.b);
    const kind = pair.cut ? "edge cut" : pair.shaped ? "edge slow" : "edge";
    const line = svg("line", { x1, y1, x2, y2, class: kind });
    line.append(svg("title", {}, `node ${pair.a} ↔ node ${pair.b}${pair.cut ? ": cut" : pair.shaped ? ": shaped" : ""}`));
    chart.append(line);
  }
  for (const n of nodes) {
    const [x, y] = position.get(n.node);
    const group = svg("g", { class: n.view ? "node" : "node down" });
    group.append(svg("circle", { cx: x, cy: y, r: 18, fill: tipColor(n.view?.tip) }));
    group.append(svg("text", { x, y: y + 4 }, String(n.node)));
    group.append(svg("text", { x, y: y + 32, class: "label" }, n.view ? `h ${n.view.height}` : n.process));
    group.append(svg("title", {}, n.view ? `node ${n.node}: height ${n.view.height}, tip ${short(n.view.tip)}, ${n.view.peers} peers` : `node ${n.node}: ${n.process}`));
    chart.append(group);
  }
  section.replaceChildren(chart);
}

/** For each recent block: when each node connected it, after the first. */
function drawPropagation(section, arrivals, nodes) {
  if (arrivals.size === 0) {
    section.replaceChildren(notice("Waiting for the next block…"));
    return;
  }
  const blocks = [...arrivals.entries()].reverse();
  section.replaceChildren(
    table(
      ["Block", "Height", ...nodes.map((n) => `node ${n.node}`)],
      blocks.map(([hash, block]) => [
        links.block(hash),
        count(block.height),
        ...nodes.map((n) => (block.at.has(n.node) ? `+${Math.round(block.at.get(n.node))} ms` : "…")),
      ]),
      { id: "propagation-table" },
    ),
  );
}
