// The explorer's frame: the route in the URL's hash picks a page, which draws itself into
// <main> and returns how to stop its live updates when the reader moves on.

import { node } from "./rpc.js";
import { notice } from "./format.js";
import { attachSearch } from "./search.js";
import * as home from "./pages/home.js";
import * as block from "./pages/block.js";
import * as tx from "./pages/tx.js";
import * as address from "./pages/address.js";
import * as mempool from "./pages/mempool.js";
import * as peers from "./pages/peers.js";
import * as network from "./pages/network.js";

/** Route patterns (on the hash, without `#`) and their pages. */
const ROUTES = [
  [/^\/?$/, home, "home"],
  [/^\/block\/([^/]+)$/, block, "chain"],
  [/^\/tx\/([^/]+)$/, tx, "chain"],
  [/^\/address\/([^/]+)$/, address, "chain"],
  [/^\/mempool$/, mempool, "mempool"],
  [/^\/peers$/, peers, "peers"],
  [/^\/network(?:\/(.+))?$/, network, "network"],
];

const main = document.getElementById("page");
let stopPage = () => {};
let generation = 0;

async function show() {
  stopPage();
  stopPage = () => {};
  const mine = ++generation;
  const route = decodeURIComponent(location.hash.replace(/^#/, ""));
  main.replaceChildren();
  main.setAttribute("aria-busy", "true");
  for (const link of document.querySelectorAll("nav a[data-section]")) link.removeAttribute("aria-current");
  const match = ROUTES.map(([pattern, page, section]) => [route.match(pattern), page, section]).find(([m]) => m);
  if (!match) {
    main.append(notice(`There is no page “${route}”.`, "error"));
    main.removeAttribute("aria-busy");
    return;
  }
  const [groups, page, section] = match;
  document.querySelector(`nav a[data-section="${section}"]`)?.setAttribute("aria-current", "page");
  try {
    const stop = await page.render(main, groups.slice(1), { isCurrent: () => mine === generation });
    if (mine === generation) stopPage = stop ?? (() => {});
    else stop?.();
  } catch (error) {
    if (mine !== generation) return;
    main.replaceChildren(notice(`This page could not be shown: ${error.message}`, "error"));
    console.error(error);
  } finally {
    if (mine === generation) main.removeAttribute("aria-busy");
  }
}

/** The connection's state, in the footer: a reader knows when figures stop moving. */
function showConnection() {
  const status = document.getElementById("connection");
  node.onStatus((state) => {
    status.dataset.state = state;
    status.textContent = { open: "live", connecting: "connecting…", closed: "disconnected: retrying" }[state];
  });
}

async function showChainName() {
  try {
    const info = await node.call("chain_info");
    document.getElementById("chain-name").textContent = info.name;
    document.title = `${info.name} explorer`;
  } catch (error) {
    console.error(error);
  }
}

window.addEventListener("hashchange", show);
const control = sessionStorage.getItem(network.CONTROL_KEY);
if (control) document.querySelector('nav a[data-section="network"]').href = `#/network/${control}`;
attachSearch(document.getElementById("search"));
showConnection();
showChainName();
show();
