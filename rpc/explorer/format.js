// How the explorer writes numbers, hashes, times and links, and builds elements. Amounts
// arrive as decimal strings (a u64 does not fit a JavaScript number) and stay exact.

/** An element `tag` with attributes `attrs` and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** An exact decimal string with thousands separated: "1234567" -> "1,234,567". */
export function amount(decimal) {
  const text = String(decimal);
  if (!/^\d+$/.test(text)) return text;
  return text.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A count, separated the same way. */
export function count(n) {
  return amount(String(n));
}

/** A hash shortened for a table: its first 10 and last 6 digits. */
export function short(hash) {
  return hash.length > 20 ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : hash;
}

/** Bytes in B, kB or MB. */
export function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}

/** A time in milliseconds since 1970 as "12 s ago" (or "in 3 min"), with the full date as its title. */
export function ago(millis, now = Date.now()) {
  const seconds = Math.round((now - millis) / 1000);
  const span = Math.abs(seconds);
  const text =
    span < 60 ? `${span} s` : span < 3600 ? `${Math.round(span / 60)} min` : span < 86400 ? `${(span / 3600).toFixed(1)} h` : `${(span / 86400).toFixed(1)} d`;
  const words = seconds >= 0 ? `${text} ago` : `in ${text}`;
  return el("time", { datetime: new Date(millis).toISOString(), title: new Date(millis).toLocaleString() }, words);
}

/** A duration in seconds, in words. */
export function duration(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export const links = {
  block: (id, text = null) => el("a", { href: `#/block/${id}`, class: "mono" }, text ?? (typeof id === "number" ? count(id) : short(id))),
  tx: (id, text = null) => el("a", { href: `#/tx/${id}`, class: "mono" }, text ?? short(id)),
  address: (address, text = null) => el("a", { href: `#/address/${address}`, class: "mono" }, text ?? short(address)),
};

/** A two-column table of facts: rows of [label, value]. */
export function facts(rows) {
  return el(
    "table",
    { class: "facts" },
    el("tbody", {}, rows.filter(Boolean).map(([label, value]) => el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, value)))),
  );
}

/** A table with a header row and rows of cells. */
export function table(headings, rows, attrs = {}) {
  return el(
    "table",
    { class: "list", ...attrs },
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
  );
}

/** A message in place of a page: why there is nothing to show. */
export function notice(text, kind = "info") {
  return el("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
