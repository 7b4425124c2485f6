// The dashboard: a client of poolstats' public API, as a script would be. Pages are built
// once when reached; their figures refresh on a timer without rebuilding the page, so a
// half-typed search or key is never wiped.
import { ApiError, get, plain, session } from "./api.js";
import { lineChart } from "./chart.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";

const REFRESH_MS = 10_000;
// A chart range: the history's bucket (dimension) and how far back it reaches.
const RANGES = {
  "1h": { dimension: "5m", seconds: 3600, period: 300 },
  "24h": { dimension: "1h", seconds: 86400, period: 3600 },
  "7d": { dimension: "1h", seconds: 7 * 86400, period: 3600 },
  "30d": { dimension: "1d", seconds: 30 * 86400, period: 86400 },
};
// A worker's history is kept hourly and daily: its last hour is one or two hourly points.
const WORKER_RANGES = { ...RANGES, "1h": { dimension: "1h", seconds: 3600, period: 3600 } };
const STATUSES = ["all", "active", "inactive", "dead"];
const PAGE_SIZE = 50;
const COLUMNS = [
  // [sort key of /v1/worker or null, message key, cell, class]: "hide-narrow" ones are left
  // out on a phone, the rest scroll inside the table's box
  ["worker_name", "col.name", (w) => link(`#/worker/${w.worker_id}`, w.worker_name), "left"],
  ["shares_15m", "win.15m", (w) => i18n.rate(Number(w.shares_15m_pure))],
  [null, "win.1h", (w) => i18n.rate(Number(w.shares_1h_pure)), "hide-narrow"],
  ["shares_1d", "win.1d", (w) => i18n.rate(Number(w.shares_1d_pure))],
  ["reject_percent", "col.reject", (w) => `${w.reject_percent} %`],
  [null, "col.status", (w) => t(`status.${w.status}`)],
  ["last_share_time", "col.last_share", (w) => i18n.time(Number(w.last_share_time))],
  [null, "col.ip", (w) => w.last_share_ip, "hide-narrow"],
];

const main = document.getElementById("main");
let refresh = null; // the current page's figures, fetched again every REFRESH_MS

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

function link(href, text) {
  return h("a", { href }, text);
}

function card(label, value, id) {
  return h("div", { class: "card", "data-figure": id }, label, h("b", {}, value));
}

function fail(box, error) {
  const message = error instanceof ApiError ? `${error.message} (${error.errNo})` : t("common.error");
  box.replaceChildren(h("p", { class: "error" }, message));
}

// --- routes ---------------------------------------------------------------------------------

function route() {
  const [path, query] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  // A link carrying a key (the demo prints one) or a watcher token: in the fragment, which
  // never reaches a server or a Referer; kept in this tab, then taken out of the address bar.
  if ((parts[0] === "key" || parts[0] === "watch") && parts[1]) {
    const secret = decodeURIComponent(parts[1]);
    if (parts[0] === "key") session.signIn(secret);
    else session.watch(secret);
    history.replaceState(null, "", "#/overview");
    return route();
  }
  const page = parts[0] || (session.signedIn ? "overview" : "pool");
  const needsKey = ["overview", "workers", "worker"].includes(page);
  if (needsKey && !session.signedIn) return show("signin", signinPage);
  if (page === "pool") return show(page, poolPage);
  if (page === "signin") return show(page, signinPage);
  if (page === "overview") return show(page, overviewPage);
  if (page === "workers") return show(page, () => workersPage(params));
  if (page === "worker") return show("workers", () => workerPage(parts[1]));
  return show("pool", poolPage);
}

function show(current, build) {
  refresh = null;
  nav(current);
  main.replaceChildren();
  build();
  if (refresh) refresh();
}

function nav(current) {
  const items = [["pool", "#/pool", "nav.pool"]];
  if (session.signedIn) {
    items.push(["overview", "#/overview", "nav.overview"], ["workers", "#/workers", "nav.workers"]);
  }
  const links = items.map(([id, href, key]) =>
    h("a", { href, "aria-current": id === current ? "page" : null }, t(key)));
  if (session.signedIn) {
    links.push(h("a", { href: "#/pool", onclick: () => session.signOut() }, t("nav.signout")));
    if (session.readOnly) links.push(h("span", { class: "muted" }, t("common.readonly")));
  } else {
    links.push(h("a", { href: "#/signin", "aria-current": current === "signin" ? "page" : null },
      t("nav.signin")));
  }
  document.getElementById("nav").replaceChildren(...links);
}

// --- charts ---------------------------------------------------------------------------------

// A chart with range buttons over ``path``'s history (BTC.COM's share-history answers).
function historyChart(path, ranges, unitField = "shares_unit") {
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

// --- pages ----------------------------------------------------------------------------------

function poolPage() {
  const cards = h("div", { class: "cards", id: "pool-cards" });
  const chart = historyChart("/v1/pool/share-history", RANGES, "unit");
  const cluster = h("div", { id: "cluster" });
  main.append(h("h1", {}, t("pool.title")), cards, h("h2", {}, t("pool.chart")), chart.node, cluster);
  refresh = async () => {
    try {
      const stats = await get("/public/v1/pool/stats");
      const factor = i18n.UNIT_FACTOR[stats.shares.shares_unit] ?? 1;
      cards.replaceChildren(
        ...["1m", "5m", "15m"].map((w) => card(t(`win.${w}`), i18n.rate(stats.shares[`shares_${w}`] * factor), `pool-${w}`)),
        card(t("col.reject") + " 15m", `${i18n.number(stats.reject["15m"] * 100, 3)} %`, "pool-reject"),
        card(t("pool.workers"), i18n.integer(stats.workers), "pool-workers"),
        card(t("pool.users"), i18n.integer(stats.users), "pool-users"),
      );
    } catch (error) {
      fail(cards, error);
    }
    chart.draw();
    const health = await plain("/healthz");
    const parts = health.partitions || [];
    cluster.replaceChildren(...(parts.length ? [
      h("h2", {}, t("pool.cluster")),
      h("div", { class: "scroll box" }, h("table", {},
        h("tr", {}, ["pool.partition", "pool.holder", "pool.last_flush", "pool.state"].map((k) => h("th", {}, t(k)))),
        parts.map((p) => h("tr", { "data-partition": p.partition },
          h("td", {}, String(p.partition)),
          h("td", {}, (p.lease ? p.lease.holder : t("pool.none")) + (p.lease && p.lease.expired ? ` (${t("pool.expired")})` : "")),
          h("td", {}, p.last_flush ? i18n.time(p.last_flush) : t("common.never")),
          h("td", {}, t(p.stale ? "pool.stale" : "pool.ok")))))),
      health.served_by ? h("p", { class: "muted" }, t("pool.served_by", { process: health.served_by })) : null,
    ] : []));
  };
}

function signinPage() {
  const input = h("input", { type: "password", name: "access_key", autocomplete: "off", required: true,
    "aria-label": t("signin.key"), placeholder: t("signin.key") });
  const message = h("p", { class: "error", id: "signin-error" });
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    session.signIn(input.value.trim());
    try {
      await get("/v1/worker/stats");
      // back to the page that asked for the key (the address may already name it)
      if (!location.hash.startsWith("#/signin") && location.hash.length > 2) route();
      else location.hash = "#/overview";
    } catch (error) {
      session.signOut();
      message.textContent = error instanceof ApiError ? error.message : t("common.error");
    }
  } }, input, h("button", { type: "submit" }, t("signin.submit")));
  main.append(h("h1", {}, t("signin.title")), form, message, h("p", { class: "muted" }, t("signin.hint")));
}

function overviewPage() {
  const picker = h("div", { id: "subaccounts" });
  const cards = h("div", { class: "cards", id: "sub-cards" });
  const counts = h("div", { class: "cards", id: "sub-counts" });
  const earnings = h("div", { class: "cards", id: "earnings" });
  const chart = historyChart("/v1/worker/share-history", RANGES);
  main.append(h("h1", {}, t("overview.title")), picker, cards, h("h2", {}, t("overview.chart")),
    chart.node, h("h2", {}, t("overview.workers")), counts, h("h2", {}, t("earn.title")), earnings);
  if (!session.readOnly) subaccountPicker(picker);
  refresh = async () => {
    try {
      const [stats, full] = await Promise.all([get("/v1/worker/stats"), get("/v1/worker/full-stats")]);
      const day = Number(stats.shares_1d_pure);
      cards.replaceChildren(
        ...["1m", "5m", "15m"].map((w) => card(t(`win.${w}`), i18n.rate(Number(stats[`shares_${w}_pure`])), `sub-${w}`)),
        card(t("win.1h"), i18n.rate(Number(stats.shares_1h_pure)), "sub-1h"),
        card(t("win.1d"), i18n.rate(day), "sub-1d"),
      );
      counts.replaceChildren(
        ...["active", "inactive", "dead"].map((s) =>
          card(t(`status.${s.toUpperCase()}`), i18n.integer(full[`workers_${s}`]), `count-${s}`)),
        card(t("status.all"), i18n.integer(full.workers_total), "count-all"),
      );
    } catch (error) {
      fail(cards, error);
    }
    chart.draw();
    try {
      const e = await get("/v1/account/earn-stats");
      earnings.replaceChildren(
        ...[["earn.today", e.earnings_today], ["earn.yesterday", e.earnings_yesterday], ["earn.unpaid", e.unpaid],
          ["earn.pending", e.pending_payouts], ["earn.paid", e.total_paid]]
          .map(([k, v]) => card(t(k), `${v} BTC`, k.slice(5))));
    } catch (error) {
      fail(earnings, error);
    }
  };
}

async function subaccountPicker(box) {
  let list;
  try {
    list = await get("/v1/account/sub-account/list");
  } catch {
    return;
  }
  const items = Array.isArray(list) ? list : list.list || list.data || [];
  if (items.length < 2) return;
  const select = h("select", { "aria-label": t("common.subaccount"), onchange: () => {
    session.choose(select.value);
    route();
  } }, items.map((s) => h("option", { value: s.puid, selected: String(s.puid) === session.puid },
    `${s.name || s.worker_name || s.puid} (${s.puid})`)));
  box.replaceChildren(h("label", {}, `${t("common.subaccount")} `, select));
}

function workersPage(params) {
  const state = {
    status: STATUSES.includes(params.get("status")) ? params.get("status") : "all",
    order_by: params.get("order_by") || "shares_15m",
    asc: params.get("asc") === "1" ? 1 : 0,
    filter: params.get("filter") || "",
    page: Math.max(1, Number(params.get("page")) || 1),
    group: params.get("group") || "",
  };
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const search = h("input", { type: "search", value: state.filter, placeholder: t("workers.search"),
    "aria-label": t("workers.search"), oninput: debounce(() => { state.filter = search.value; state.page = 1; go(); }, 300) });
  const group = h("select", { "aria-label": t("workers.group"), onchange: () => { state.group = group.value; state.page = 1; go(); } },
    h("option", { value: "" }, t("workers.group_all")));
  const table = h("div", { class: "scroll box", id: "worker-table" });
  const pager = h("div", { class: "toolbar", id: "pager" });
  main.append(h("h1", {}, t("workers.title")), tabs, h("div", { class: "toolbar" }, search, group), table, pager);
  get("/v1/groups/simple").then((groups) => {
    for (const g of groups) group.append(h("option", { value: g.gid, selected: String(g.gid) === state.group }, g.name));
  }).catch(() => {});

  function go() {
    const query = new URLSearchParams(Object.entries(state).filter(([, v]) => v !== "" && v !== null));
    history.replaceState(null, "", `#/workers?${query}`);
    refresh();
  }
  refresh = async () => {
    let answer, stats;
    try {
      [answer, stats] = await Promise.all([
        get("/v1/worker", { ...state, page_size: PAGE_SIZE }),
        get("/v1/worker/full-stats"),
      ]);
    } catch (error) {
      return fail(table, error);
    }
    tabs.replaceChildren(...STATUSES.map((s) => h("button", {
      type: "button", role: "tab", "data-status": s, "aria-pressed": String(s === state.status),
      onclick: () => { state.status = s; state.page = 1; go(); },
    }, `${t(s === "all" ? "status.all" : `status.${s.toUpperCase()}`)} (${i18n.integer(s === "all" ? stats.workers_total : stats[`workers_${s}`])})`)));
    const head = COLUMNS.map(([key, label, , cls]) => h("th", { class: cls },
      key ? h("button", {
        type: "button", "data-sort": key,
        "aria-sort": state.order_by === key ? (state.asc ? "ascending" : "descending") : null,
        onclick: () => {
          state.asc = state.order_by === key ? 1 - state.asc : (key === "worker_name" ? 1 : 0);
          state.order_by = key; state.page = 1; go();
        },
      }, t(label)) : t(label)));
    const rows = answer.data.map((w) => h("tr", { class: w.status, "data-worker": w.worker_id },
      COLUMNS.map(([, , cell, cls]) => h("td", { class: cls }, cell(w)))));
    table.replaceChildren(h("table", {}, h("tr", {}, head), rows));
    const pages = Math.max(1, answer.page_count);
    pager.replaceChildren(
      h("button", { type: "button", disabled: state.page <= 1, "data-page": "prev",
        onclick: () => { state.page -= 1; go(); } }, t("workers.prev")),
      h("span", { id: "page-of" }, t("workers.page", { page: i18n.integer(state.page), pages: i18n.integer(pages) })),
      h("button", { type: "button", disabled: state.page >= pages, "data-page": "next",
        onclick: () => { state.page += 1; go(); } }, t("workers.next")),
      h("span", { class: "muted" }, t("workers.count", { n: i18n.integer(answer.total_count) })),
    );
  };
}

function workerPage(id) {
  const facts = h("dl", { class: "facts box", id: "worker-facts" });
  const cards = h("div", { class: "cards", id: "worker-cards" });
  const chart = historyChart(`/v1/worker/${encodeURIComponent(id)}/share-history`, WORKER_RANGES);
  const title = h("h1", {}, t("worker.title"));
  main.append(h("p", {}, link("#/workers", t("worker.back"))), title, cards, h("h2", {}, t("overview.chart")),
    chart.node, h("h2", {}, t("worker.facts")), facts);
  refresh = async () => {
    let w;
    try {
      w = await get(`/v1/worker/${encodeURIComponent(id)}`);
    } catch (error) {
      return fail(cards, error);
    }
    title.textContent = w.worker_name;
    cards.replaceChildren(
      ...["1m", "5m", "15m", "1h", "1d"].map((win) => card(t(`win.${win}`), i18n.rate(Number(w[`shares_${win}_pure`])), `worker-${win}`)),
    );
    const rows = [
      ["col.status", h("span", { class: w.worker_status }, t(`status.${w.worker_status}`))],
      ["col.reject", `${w.reject_percent} %`],
      ["col.last_share", i18n.time(w.last_share_time)],
      ["col.ip", w.last_share_ip || "—"],
      ["worker.first_share", i18n.time(w.first_share_time)],
      ["worker.agent", w.miner_agent || t("worker.unknown")],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]));
    chart.draw();
  };
}

function debounce(fn, ms) {
  let timer;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

// --- start ----------------------------------------------------------------------------------

async function start() {
  await i18n.load();
  const picker = document.getElementById("lang");
  picker.value = i18n.lang;
  picker.addEventListener("change", async () => {
    i18n.choose(picker.value);
    await i18n.load(picker.value);
    route();
  });
  window.addEventListener("hashchange", route);
  route();
  setInterval(() => { if (refresh && !document.hidden) refresh(); }, REFRESH_MS);
}

start();
