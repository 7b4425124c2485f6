// A farm's pages: the worker list (tabs, sort, search, groups, pages, selection, moves,
// CSV) and the groups. The server sorts, filters and pages (/v1/worker), so a sub-account of
// 100,000 workers lists as fast as one of ten.
import { ApiError, every, get, post, session } from "./api.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { csv, debounce, download, fail, h, link } from "./ui.js";

const STATUSES = ["all", "active", "inactive", "dead"];
const PAGE_SIZE = 50;
const DEFAULT_GID = "-1";
const DELETED_GID = "0"; // /v1/worker/update's "delete": the worker leaves every list until it mines
const COLUMNS = [
  // [sort key of /v1/worker or null, message key, cell, class]: "hide-narrow" ones are left
  // out on a phone, the rest scroll inside the table's box
  ["worker_name", "col.name", (w) => link(`#/worker/${w.worker_id}`, w.worker_name), "left"],
  ["shares_15m", "win.15m", (w) => i18n.rate(Number(w.shares_15m_pure))],
  ["shares_1h", "win.1h", (w) => i18n.rate(Number(w.shares_1h_pure)), "hide-narrow"],
  ["shares_1d", "win.1d", (w) => i18n.rate(Number(w.shares_1d_pure))],
  ["reject_percent", "col.reject", (w) => `${w.reject_percent} %`],
  ["status", "col.status", (w) => t(`status.${w.status}`)],
  ["last_share_time", "col.last_share", (w) => i18n.time(Number(w.last_share_time))],
  ["group", "col.group", (w) => w.group_name, "hide-narrow"],
  ["last_share_ip", "col.ip", (w) => w.last_share_ip, "hide-narrow"],
];
// The export: every field of /v1/worker's items that a spreadsheet wants, rates in H/s.
const CSV_FIELDS = [
  "worker_id", "worker_name", "group_name", "status", "shares_1m_pure", "shares_5m_pure",
  "shares_15m_pure", "shares_1h_pure", "shares_1d_pure", "reject_percent", "accept_count",
  "last_share_time", "last_share_ip", "first_share_time", "miner_agent",
];

export function workersPage(main, params) {
  const state = {
    status: STATUSES.includes(params.get("status")) ? params.get("status") : "all",
    order_by: params.get("order_by") || "shares_15m",
    asc: params.get("asc") === "1" ? 1 : 0,
    filter: params.get("filter") || "",
    page: Math.max(1, Number(params.get("page")) || 1),
    group: params.get("group") || "",
  };
  const writable = !session.readOnly;
  const chosen = new Set(); // worker ids selected, kept across pages and refreshes
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const search = h("input", { type: "search", value: state.filter, placeholder: t("workers.search"),
    "aria-label": t("workers.search"),
    oninput: debounce(() => { state.filter = search.value; state.page = 1; go(); }, 300) });
  const group = h("select", { "aria-label": t("workers.group"), "data-filter": "group",
    onchange: () => { state.group = group.value; state.page = 1; go(); } },
  h("option", { value: "" }, t("workers.group_all")));
  const target = h("select", { "aria-label": t("workers.move_to"), "data-target": "group" });
  const selected = h("span", { class: "muted", id: "selected" });
  const message = h("span", { class: "error", id: "bulk-error" });
  const bulk = writable ? h("div", { class: "toolbar", id: "bulk" }, selected,
    h("label", {}, `${t("workers.move_to")} `, target),
    h("button", { type: "button", "data-action": "move", onclick: () => act(target.value) }, t("workers.move")),
    h("button", { type: "button", "data-action": "delete", onclick: () => {
      if (confirm(t("workers.delete_confirm", { n: i18n.integer(chosen.size) }))) act(DELETED_GID);
    } }, t("workers.delete")), message) : null;
  const exporter = h("button", { type: "button", "data-action": "export", onclick: exportCsv }, t("workers.export"));
  const table = h("div", { class: "scroll box", id: "worker-table" });
  const pager = h("div", { class: "toolbar", id: "pager" });
  main.append(h("h1", {}, t("workers.title")), tabs,
    h("div", { class: "toolbar" }, search, group, exporter), bulk, table, pager);
  get("/v1/groups/simple").then((groups) => {
    for (const g of groups) {
      group.append(h("option", { value: g.gid, selected: String(g.gid) === state.group }, g.name));
      target.append(h("option", { value: g.gid }, g.name));
    }
  }).catch(() => {});

  function go() {
    const query = new URLSearchParams(Object.entries(state).filter(([, v]) => v !== "" && v !== null));
    history.replaceState(null, "", `#/workers?${query}`);
    refresh();
  }

  function showSelected() {
    selected.textContent = t("workers.selected", { n: i18n.integer(chosen.size) });
    for (const b of bulk ? bulk.querySelectorAll("button") : []) b.disabled = chosen.size === 0;
  }

  async function act(gid) {
    message.textContent = "";
    try {
      await post("/v1/worker/update", { worker_id: [...chosen].join(","), group_id: gid });
      chosen.clear();
      await refresh();
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : t("common.error");
    }
  }

  async function exportCsv() {
    const { page, ...filters } = state;
    const items = await every("/v1/worker", filters, "data");
    const name = `workers-${session.puid || "default"}.csv`;
    download(name, csv([CSV_FIELDS, ...items.map((w) => CSV_FIELDS.map((f) => w[f]))]));
  }

  async function refresh() {
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
    const ids = answer.data.map((w) => w.worker_id);
    const all = writable ? h("input", { type: "checkbox", "aria-label": t("workers.select_page"),
      "data-select": "page", checked: ids.length > 0 && ids.every((id) => chosen.has(id)),
      onchange: (event) => {
        for (const id of ids) event.target.checked ? chosen.add(id) : chosen.delete(id);
        for (const box of table.querySelectorAll("input[data-select=worker]")) box.checked = event.target.checked;
        showSelected();
      } }) : null;
    const rows = answer.data.map((w) => h("tr", { class: w.status, "data-worker": w.worker_id },
      writable ? h("td", {}, h("input", { type: "checkbox", "data-select": "worker", value: w.worker_id,
        "aria-label": w.worker_name, checked: chosen.has(w.worker_id),
        onchange: (event) => { event.target.checked ? chosen.add(w.worker_id) : chosen.delete(w.worker_id); showSelected(); },
      })) : null,
      COLUMNS.map(([, , cell, cls]) => h("td", { class: cls }, cell(w)))));
    table.replaceChildren(h("table", {}, h("tr", {}, writable ? h("th", {}, all) : null, head), rows));
    const pages = Math.max(1, answer.page_count);
    pager.replaceChildren(
      h("button", { type: "button", disabled: state.page <= 1, "data-page": "prev",
        onclick: () => { state.page -= 1; go(); } }, t("workers.prev")),
      h("span", { id: "page-of" }, t("workers.page", { page: i18n.integer(state.page), pages: i18n.integer(pages) })),
      h("button", { type: "button", disabled: state.page >= pages, "data-page": "next",
        onclick: () => { state.page += 1; go(); } }, t("workers.next")),
      h("span", { class: "muted" }, t("workers.count", { n: i18n.integer(answer.total_count) })),
    );
    if (writable) showSelected();
  }
  return refresh;
}

export function groupsPage(main) {
  const writable = !session.readOnly;
  const list = h("div", { class: "scroll box", id: "group-table" });
  const message = h("p", { class: "error", id: "group-error" });
  const name = h("input", { name: "group_name", maxlength: 20, required: true, placeholder: t("groups.name"),
    "aria-label": t("groups.name") });
  const create = writable ? h("form", { class: "signin", id: "group-create", onsubmit: async (event) => {
    event.preventDefault();
    if (await attempt(() => post("/v1/groups/create", { group_name: name.value.trim() }))) name.value = "";
  } }, name, h("button", { type: "submit" }, t("groups.create"))) : null;
  main.append(h("h1", {}, t("groups.title")), create, message, list);

  async function attempt(write) {
    message.textContent = "";
    try {
      await write();
      await refresh();
      return true;
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : t("common.error");
      return false;
    }
  }

  function controls(g) {
    if (!writable || String(g.gid) === DEFAULT_GID) return h("td", {});
    const rename = h("input", { value: g.name, maxlength: 20, "aria-label": t("groups.rename"), "data-rename": g.gid });
    return h("td", { class: "left" }, rename,
      h("button", { type: "button", "data-action": "rename",
        onclick: () => attempt(() => post(`/v1/groups/update/${g.gid}`, { group_name: rename.value.trim() })) },
      t("groups.rename")),
      h("button", { type: "button", "data-action": "delete-group", onclick: () => {
        if (confirm(t("groups.delete_confirm", { name: g.name }))) attempt(() => post(`/v1/groups/delete/${g.gid}`));
      } }, t("groups.delete")));
  }

  async function refresh() {
    let groups;
    try {
      groups = await every("/v1/worker/groups", {}, "list");
    } catch (error) {
      return fail(list, error);
    }
    const head = ["col.group", "win.15m", "win.1d", "status.ACTIVE", "status.INACTIVE", "status.DEAD", "status.all"]
      .map((k, i) => h("th", { class: i === 0 ? "left" : null }, t(k)));
    list.replaceChildren(h("table", {}, h("tr", {}, head, h("th", {})), groups.map((g) => h("tr", { "data-group": g.gid },
      h("td", { class: "left" }, link(`#/workers?group=${g.gid}`, g.name)),
      h("td", {}, i18n.rate(Number(g.shares_15m_pure))),
      h("td", {}, i18n.rate(Number(g.shares_1d_pure))),
      ...["active", "inactive", "dead", "total"].map((s) => h("td", {}, i18n.integer(g[`workers_${s}`]))),
      controls(g)))));
  }
  return refresh;
}
