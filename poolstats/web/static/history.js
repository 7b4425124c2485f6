// A history chart with its range buttons, over one of BTC.COM's share-history answers.
import { get } from "./api.js";
import { lineChart } from "./chart.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { fail, h } from "./ui.js";

// A chart range: the history's bucket (dimension) and how far back it reaches.
export const RANGES = {
  "1h": { dimension: "5m", seconds: 3600, period: 300 },
  "24h": { dimension: "1h", seconds: 86400, period: 3600 },
  "7d": { dimension: "1h", seconds: 7 * 86400, period: 3600 },
  "30d": { dimension: "1d", seconds: 30 * 86400, period: 86400 },
};
// A worker's history is kept hourly and daily: its last hour is one or two hourly points.
export const WORKER_RANGES = { ...RANGES, "1h": { dimension: "1h", seconds: 3600, period: 3600 } };

// A chart with range buttons over ``path``'s history (BTC.COM's share-history answers).
export function historyChart(path, ranges, unitField = "shares_unit") {
  let chosen = "24h";
  const buttons = Object.keys(ranges).map((name) =>
    h("button", { type: "button", "data-range": name, onclick: () => { chosen = name; draw(); } },
      t(`range.${name}`)));
  const box = h("div", { class: "box", "data-chart": path });
  const note = h("p", { class: "note" });
  const legend = h("div", { class: "legend" },
    h("span", { class: "k0" }, t("chart.accepted")), h("span", { class: "k1" }, t("chart.rejected")));
  async function draw() {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.range === chosen));
    const r = ranges[chosen];
    let data;
    try {
      data = await get(path, {
        dimension: r.dimension, start_ts: -r.seconds,
        count: Math.floor(r.seconds / r.period) + 1, real_point: 1,
      });
    } catch (error) {
      return fail(box, error);
    }
    const factor = i18n.UNIT_FACTOR[data[unitField]] ?? 1;
    const tickers = data.tickers;
    const accepted = tickers.map(([s, v]) => [Number(s), v === null ? null : Number(v) * factor]);
    const rejected = tickers.map(([s, v, pct]) => {
      if (v === null) return [Number(s), null];
      const f = Number(pct) / 100; // rejected / (accepted + rejected)
      return [Number(s), f < 1 ? (Number(v) * factor * f) / (1 - f) : null];
    });
    const from = tickers.length ? Number(tickers[0][0]) : 0;
    const to = tickers.length ? Number(tickers[tickers.length - 1][0]) + r.period : 1;
    const when = r.period >= 86400 ? i18n.day : (s, full) => (full || r.seconds > 86400 ? i18n.time(s) : i18n.clock(s));
    lineChart(box, {
      series: [{ label: t("chart.accepted"), points: accepted }, { label: t("chart.rejected"), points: rejected }],
      from, to, value: i18n.rate, when,
    });
    box.dataset.range = chosen;
    const firstData = accepted.find((p) => p[1] !== null);
    note.textContent = !firstData ? t("chart.empty")
      : firstData[0] > from + r.period ? t("chart.partial", { since: i18n.time(firstData[0]) }) : "";
  }
  return { node: h("section", {}, h("div", { class: "ranges" }, buttons), legend, box, note), draw };
}

