// The dashboard: a client of poolstats' public API, as a script would be. Pages are built
// once when reached; their figures refresh on a timer without rebuilding the page, so a
// half-typed search or key is never wiped. A page is a function (main, params) that builds
// itself and returns its refresh, or nothing.
import { earningCards, earningsPage, watchersPage } from "./account.js";
import { alertsPage } from "./alerts.js";
import { ApiError, config, get, plain, session } from "./api.js";
import { groupsPage, workersPage } from "./farm.js";
import { historyChart, RANGES, WORKER_RANGES } from "./history.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { btc, card, fail, h, link } from "./ui.js";

// page -> [builder, needs a key or watcher token, owner only (no watcher token)]
const PAGES = {
  pool: [poolPage, false, false],
  signin: [signinPage, false, false],
  overview: [overviewPage, true, false],
  workers: [workersPage, true, false],
  worker: [workerPage, true, false],
  groups: [groupsPage, true, false],
  earnings: [earningsPage, true, false],
  alerts: [alertsPage, true, false],
  watchers: [watchersPage, true, true],
};
const NAV = ["overview", "workers", "groups", "earnings", "alerts", "watchers"];

const main = document.getElementById("main");
let refresh = null; // the current page's figures, fetched again every flush interval

// --- routes ---------------------------------------------------------------------------------

async function route() {
  const [path, query] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  // A link carrying a key (the demo prints one) or a watcher token: in the fragment, which
  // never reaches a server or a Referer; kept in this tab, then taken out of the address bar.
  if ((parts[0] === "key" || parts[0] === "watch") && parts[1]) {
    const secret = decodeURIComponent(parts[1]);
    if (parts[0] === "key") session.signIn(secret);
    else session.watch(secret);
    history.replaceState(null, "", "#/overview");
    return route();
  }
  let name = parts[0] || (session.signedIn ? "overview" : "pool");
  if (!(name in PAGES)) name = "pool";
  const [build, needsKey, ownerOnly] = PAGES[name];
  if (needsKey && !(await knowAccess())) return show("signin", signinPage);
  if (ownerOnly && session.access.watcher) return show("overview", overviewPage);
  const argument = name === "worker" ? parts[1] : new URLSearchParams(query || "");
  return show(name === "worker" ? "workers" : name, build, argument);
}

// What the key or token may do, asked once per sign-in; false when there is none that works.
async function knowAccess() {
  if (!session.signedIn) return false;
  if (session.access) return true;
  try {
    session.access = await get("/v1/account/access");
    return true;
  } catch (error) {
    if (error instanceof ApiError) session.signOut();
    return false;
  }
}

function show(current, build, argument) {
  nav(current);
  main.replaceChildren();
  refresh = build(main, argument) || null;
  if (refresh) refresh();
}

function nav(current) {
  const names = session.signedIn ? ["pool", ...NAV.filter((n) => !(session.access?.watcher && PAGES[n][2]))] : ["pool"];
  const links = names.map((n) => h("a", { href: `#/${n}`, "aria-current": n === current ? "page" : null }, t(`nav.${n}`)));
  if (session.signedIn) {
    links.push(h("a", { href: "#/pool", onclick: () => session.signOut() }, t("nav.signout")));
    if (session.readOnly) links.push(h("span", { class: "muted", id: "read-only" }, t("common.readonly")));
  } else {
    links.push(h("a", { href: "#/signin", "aria-current": current === "signin" ? "page" : null }, t("nav.signin")));
  }
  document.getElementById("nav").replaceChildren(...links);
}

// --- pages ----------------------------------------------------------------------------------

function poolPage(main) {
  const cards = h("div", { class: "cards", id: "pool-cards" });
  const chart = historyChart("/v1/pool/share-history", RANGES, "unit");
  const cluster = h("div", { id: "cluster" });
  const network = h("div", { class: "cards", id: "network" });
  const connect = h("div", { id: "connect" });
  const blocks = h("div", { class: "scroll box", id: "blocks" });
  main.append(h("h1", {}, t("pool.title")), cards, h("h2", {}, t("pool.chart")), chart.node,
    h("h2", {}, t("pool.network")), network, connect, h("h2", {}, t("pool.blocks")), blocks, cluster);
  return async () => {
    poolExtras(network, connect, blocks);
    try {
      const stats = await get("/public/v1/pool/stats");
      const factor = i18n.UNIT_FACTOR[stats.shares.shares_unit] ?? 1;
      cards.replaceChildren(
        ...["1m", "5m", "15m"].map((w) => card(t(`win.${w}`), i18n.rate(stats.shares[`shares_${w}`] * factor), `pool-${w}`)),
        card(t("pool.reject"), `${i18n.number(stats.reject["15m"] * 100, 3)} %`, "pool-reject"),
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

// The network as the pool sees it, where to point miners, and the blocks found.
async function poolExtras(network, connect, blocks) {
  try {
    const [status, regions, found] = await Promise.all([
      get("/v1/pool/status"), get("/v1/pool/url-config"), get("/v1/pool/blocks", { page_size: 10 }),
    ]);
    const factor = (unit) => i18n.UNIT_FACTOR[unit] ?? 1;
    network.replaceChildren(
      card(t("pool.network_hashrate"), status.network_hashrate === null ? "—"
        : i18n.rate(Number(status.network_hashrate) * factor(status.network_hashrate_unit)), "network-hashrate"),
      card(t("pool.pool_hashrate"), i18n.rate(status.pool_hashrate * factor(status.pool_hashrate_unit)), "pool-hashrate"),
      card(t("pool.pps"), status.mining_earnings === null ? "—" : `${status.mining_earnings} BTC`, "pps"),
    );
    connect.replaceChildren(...regions.filter((r) => r.config.length).map((r) =>
      h("p", { class: "muted" }, `${t("pool.connect")} (${r.region_name}): `,
        ...r.config.map((url) => h("code", {}, url, " ")))));
    blocks.replaceChildren(found.list.length ? h("table", {},
      h("tr", {}, ["pool.height", "pool.found_at", "pool.reward", "col.status"].map((k, i) => h("th", { class: i ? null : "left" }, t(k)))),
      found.list.map((b) => h("tr", { "data-height": b.height },
        h("td", { class: "left" }, i18n.integer(b.height)), h("td", {}, i18n.time(b.found_at)),
        h("td", {}, btc(b.reward)), h("td", {}, t(`block.${b.status}`)))))
      : h("p", { class: "muted" }, t("pool.no_blocks")));
  } catch (error) {
    fail(network, error);
  }
}

function signinPage(main) {
  const input = h("input", { type: "password", name: "access_key", autocomplete: "off", required: true,
    "aria-label": t("signin.key"), placeholder: t("signin.key") });
  const message = h("p", { class: "error", id: "signin-error" });
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    session.signIn(input.value.trim());
    try {
      session.access = await get("/v1/account/access");
    } catch (error) {
      session.signOut();
      message.textContent = error instanceof ApiError ? error.message : t("common.error");
      return;
    }
    // back to the page that asked for the key (the address may already name it)
    if (!location.hash.startsWith("#/signin") && location.hash.length > 2) route();
    else location.hash = "#/overview";
  } }, input, h("button", { type: "submit" }, t("signin.submit")));
  main.append(h("h1", {}, t("signin.title")), form, message, h("p", { class: "muted" }, t("signin.hint")));
}

function overviewPage(main) {
  const picker = h("div", { id: "subaccounts" });
  const cards = h("div", { class: "cards", id: "sub-cards" });
  const counts = h("div", { class: "cards", id: "sub-counts" });
  const earnings = h("div", { class: "cards", id: "earnings" });
  const chart = historyChart("/v1/worker/share-history", RANGES);
  main.append(h("h1", {}, t("overview.title")), picker, cards, h("h2", {}, t("overview.chart")),
    chart.node, h("h2", {}, link("#/workers", t("overview.workers"))), counts,
    h("h2", {}, link("#/earnings", t("earn.title"))), earnings);
  subaccountPicker(picker);
  return async () => {
    try {
      const [stats, full] = await Promise.all([get("/v1/worker/stats"), get("/v1/worker/full-stats")]);
      cards.replaceChildren(
        ...["1m", "5m", "15m", "1h", "1d"].map((w) => card(t(`win.${w}`), i18n.rate(Number(stats[`shares_${w}_pure`])), `sub-${w}`)),
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
    await earningCards(earnings);
  };
}

// A switch between the sub-accounts a key opens (a watcher token opens one).
async function subaccountPicker(box) {
  if (!session.access || session.access.puids.length < 2) return;
  let items = [];
  try {
    items = await get("/v1/account/sub-account/list");
  } catch {
    return;
  }
  const select = h("select", { "aria-label": t("common.subaccount"), onchange: () => {
    session.choose(select.value);
    route();
  } }, items.map((s) => h("option", { value: s.puid, selected: s.puid === session.access.puid },
    `${s.name} (${s.puid})`)));
  box.replaceChildren(h("label", {}, `${t("common.subaccount")} `, select));
}

function workerPage(main, id) {
  const facts = h("dl", { class: "facts box", id: "worker-facts" });
  const cards = h("div", { class: "cards", id: "worker-cards" });
  const chart = historyChart(`/v1/worker/${encodeURIComponent(id)}/share-history`, WORKER_RANGES);
  const title = h("h1", {}, t("worker.title"));
  main.append(h("p", {}, link("#/workers", t("worker.back"))), title, cards, h("h2", {}, t("overview.chart")),
    chart.node, h("h2", {}, t("worker.facts")), facts);
  return async () => {
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

// --- start ----------------------------------------------------------------------------------

async function start() {
  await i18n.load();
  try {
    Object.assign(config, await get("/v1/pool/dashboard-config"));
  } catch {
    // the defaults: a refresh every 10 s, no explorer link
  }
  const picker = document.getElementById("lang");
  picker.value = i18n.lang;
  picker.addEventListener("change", async () => {
    i18n.choose(picker.value);
    await i18n.load(picker.value);
    route();
  });
  window.addEventListener("hashchange", route);
  route();
  // figures change once a flush: polling faster would only fetch them again
  const every = Math.min(60, Math.max(2, config.refresh_s)) * 1000;
  setInterval(() => { if (refresh && !document.hidden) refresh(); }, every);
}


start();
