// A line chart drawn as SVG: one path per series (broken where a point is missing), a dot per
// point carrying its exact time and value (data-t, data-v), and a tip showing the points
// nearest the pointer. No library: about a hundred lines do what these charts need.
const NS = "http://www.w3.org/2000/svg";
const H = 240, L = 78, R = 14, TOP = 10, B = 26; // pixels: the text keeps its size

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// series: [{label, points: [[unix seconds, value or null], ...]}]; the x axis spans from..to.
export function lineChart(box, { series, from, to, value, when }) {
  box.replaceChildren();
  box.classList.add("chart");
  const W = Math.max(300, Math.round(box.clientWidth || 640)); // as wide as its box
  const values = series.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
  const top = Math.max(...values, 0) * 1.1 || 1;
  const x = (t) => L + ((t - from) / Math.max(to - from, 1)) * (W - L - R);
  const y = (v) => TOP + (1 - v / top) * (H - TOP - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    svg.append(el("line", { class: "axis", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, value(v)));
  }
  const ticks = W < 500 ? [[from, "start"], [to, "end"]] : [[from, "start"], [(from + to) / 2, "middle"], [to, "end"]];
  for (const [t, anchor] of ticks) {
    svg.append(el("text", { x: x(t), y: H - 8, "text-anchor": anchor }, when(t)));
  }
  series.forEach((s, i) => {
    let d = "";
    let drawing = false;
    for (const [t, v] of s.points) {
      if (v === null) { drawing = false; continue; }
      d += `${drawing ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      drawing = true;
    }
    svg.append(el("path", { class: `s${i}`, d }));
    for (const [t, v] of s.points) {
      if (v === null) continue;
      svg.append(el("circle", { class: `s${i}`, cx: x(t), cy: y(v), r: 2.5, "data-t": t, "data-v": v }));
    }
  });
  const tip = document.createElement("div");
  tip.className = "tip";
  box.append(svg, tip);
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  svg.addEventListener("pointermove", (event) => {
    if (!times.length) return;
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    const t = times.reduce((best, c) => (Math.abs(x(c) - at.x) < Math.abs(x(best) - at.x) ? c : best));
    const lines = series.map((s) => {
      const p = s.points.find((q) => q[0] === t);
      return `${s.label}: ${p && p[1] !== null ? value(p[1]) : "—"}`;
    });
    tip.replaceChildren(...[when(t, true), ...lines].map((line) => {
      const div = document.createElement("div");
      div.textContent = line;
      return div;
    }));
    tip.style.display = "block";
    const rect = box.getBoundingClientRect();
    const left = Math.min(event.clientX - rect.left + 12, rect.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${event.clientY - rect.top + 12}px`;
  });
  svg.addEventListener("pointerleave", () => { tip.style.display = "none"; });
}
