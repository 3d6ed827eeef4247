// Bar charts in plain SVG: block intervals, transactions per block, the fee histogram.
// A few dozen bars need no charting library.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 140;
const AXIS = 18;

function svg(tag, attrs = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

/**
 * A bar chart of `bars` ([{label, value, title}]), left to right, titled `title`, with
 * the largest value written on the axis in `unit`.
 */
export function barChart(title, bars, unit) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title });
  const top = Math.max(1, ...bars.map((b) => b.value));
  const plot = HEIGHT - AXIS;
  const step = bars.length ? WIDTH / bars.length : WIDTH;
  bars.forEach((bar, i) => {
    const height = Math.max(bar.value > 0 ? 1 : 0, (bar.value / top) * (plot - 12));
    const rect = svg("rect", {
      x: (i * step + step * 0.1).toFixed(1),
      y: (plot - height).toFixed(1),
      width: (step * 0.8).toFixed(1),
      height: height.toFixed(1),
      class: "bar",
    });
    rect.append(svg("title", {}, bar.title ?? `${bar.label}: ${bar.value} ${unit}`));
    chart.append(rect);
    if (bars.length <= 24 || i % Math.ceil(bars.length / 12) === 0) {
      chart.append(svg("text", { x: (i * step + step / 2).toFixed(1), y: HEIGHT - 4, class: "tick" }, bar.label));
    }
  });
  chart.append(svg("line", { x1: 0, y1: plot, x2: WIDTH, y2: plot, class: "axis" }));
  chart.append(svg("text", { x: 2, y: 10, class: "top" }, `${Number.isInteger(top) ? top : top.toFixed(2)} ${unit}`));
  if (bars.length === 0) chart.append(svg("text", { x: WIDTH / 2, y: plot / 2, class: "empty" }, "nothing yet"));
  figure.append(caption, chart);
  return figure;
}
