// The sub-account's own pages: earnings (with the payout threshold) and watcher links.
import { ApiError, config, get, post, session } from "./api.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { btc, card, fail, h } from "./ui.js";

const HISTORY_DAYS = 30; // a page of the daily history

// 20231114 (BTC.COM's date) -> unix seconds of that UTC day's start
function dayStart(date) {
  const s = String(date);
  return Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8))) / 1000;
}

function writeForm(id, fields, label, submit) {
  const message = h("span", { class: "muted", "data-message": id });
  const form = h("form", { class: "signin", id, onsubmit: async (event) => {
    event.preventDefault();
    message.className = "muted";
    try {
      await submit();
      message.textContent = t("common.saved");
    } catch (error) {
      message.className = "error";
      message.textContent = error instanceof ApiError ? error.message : t("common.error");
    }
  } }, fields, h("button", { type: "submit" }, label), message);
  return form;
}

// A payout's transaction, linked to the operator's explorer (explorer_tx_url) when set.
function txLink(txid) {
  if (!txid) return "—";
  const short = `${txid.slice(0, 8)}…${txid.slice(-8)}`;
  if (!config.explorer_tx_url) return h("span", { title: txid }, short);
  const href = config.explorer_tx_url.replace("{txid}", encodeURIComponent(txid));
  return h("a", { href, title: txid, target: "_blank", rel: "noreferrer noopener" }, short);
}

// The five figures of /v1/account/earn-stats, exact BTC from its satoshi strings, into box.
export async function earningCards(box) {
  try {
    const e = await get("/v1/account/earn-stats");
    box.replaceChildren(
      ...[["earn.today", e.earnings_today], ["earn.yesterday", e.earnings_yesterday], ["earn.unpaid", e.unpaid],
        ["earn.pending", e.pending_payouts], ["earn.paid", e.total_paid]]
        .map(([k, v]) => card(t(k), btc(v), k.slice(5))));
  } catch (error) {
    fail(box, error);
  }
}

export function earningsPage(main) {
  const cards = h("div", { class: "cards", id: "earn-cards" });
  const table = h("div", { class: "scroll box", id: "earn-table" });
  const pager = h("div", { class: "toolbar" });
  let page = 1;
  const amount = h("input", { name: "amount", inputmode: "decimal", size: 12, "aria-label": t("earn.threshold") });
  const threshold = session.readOnly ? null : writeForm("pay-limit",
    [h("label", {}, `${t("earn.threshold")} `, amount)], t("common.save"),
    async () => {
      await post("/v1/account/pay/limit", { amount: amount.value.trim() });
      await refresh();
    });
  main.append(h("h1", {}, t("earn.title")), cards, threshold, h("h2", {}, t("earn.history")), table, pager);

  const limit = h("div", { class: "cards", id: "pay-limit-now" });
  cards.after(limit);

  async function refresh() {
    await earningCards(cards);
    try {
      const info = await get("/v1/account/info");
      limit.replaceChildren(card(t("earn.threshold_now"), `${info.pay_limit} BTC`, "pay-limit"));
    } catch (error) {
      fail(limit, error);
    }
    let days, rates;
    try {
      [days, rates] = await Promise.all([
        get("/v1/account/earn-history", { page, page_size: HISTORY_DAYS }),
        get("/v1/worker/share-history", { dimension: "1d", start_ts: -HISTORY_DAYS * page * 86400, count: HISTORY_DAYS * page + 1 }),
      ]);
    } catch (error) {
      return fail(table, error);
    }
    const factor = i18n.UNIT_FACTOR[rates.shares_unit] ?? 1;
    const rateOf = new Map(rates.tickers.filter((p) => p[1] !== null).map(([s, v]) => [Number(s), Number(v) * factor]));
    const head = ["earn.date", "overview.chart", "earn.amount", "earn.difficulty", "earn.mode", "earn.paid_at", "earn.tx"]
      .map((k, i) => h("th", { class: i === 0 ? "left" : null }, t(k)));
    if (!days.list.length) {
      table.replaceChildren(h("p", { class: "muted" }, t("earn.none")));
      pager.replaceChildren();
      return;
    }
    table.replaceChildren(h("table", {}, h("tr", {}, head), days.list.map((d) => h("tr", { "data-date": d.date },
      h("td", { class: "left" }, i18n.day(dayStart(d.date))),
      h("td", {}, rateOf.has(dayStart(d.date)) ? i18n.rate(rateOf.get(dayStart(d.date))) : "—"),
      h("td", {}, btc(d.earnings)),
      h("td", {}, i18n.integer(d.diff)),
      h("td", {}, d.payment_mode),
      h("td", {}, d.payment_time || "—"),
      h("td", { class: "tx" }, txLink(d.payment_tx))))));
    const pages = Math.max(1, days.page_count);
    pager.replaceChildren(
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page -= 1; refresh(); } }, t("workers.prev")),
      h("span", {}, t("workers.page", { page: i18n.integer(page), pages: i18n.integer(pages) })),
      h("button", { type: "button", disabled: page >= pages, onclick: () => { page += 1; refresh(); } }, t("workers.next")));
  }
  return refresh;
}

export function watchersPage(main) {
  const list = h("div", { class: "scroll box", id: "watcher-table" });
  const made = h("p", { id: "watcher-made" });
  const note = h("input", { name: "note", minlength: 2, maxlength: 20, required: true, "aria-label": t("watchers.note"),
    placeholder: t("watchers.note") });
  const create = session.readOnly ? null : writeForm("watcher-create", [note], t("watchers.create"), async () => {
    const link = await post("/v1/account/watcher/create", { note: note.value.trim() });
    const url = `${location.origin}/#/watch/${encodeURIComponent(link.watcher_key)}`;
    // shown this once, as the API shows the token once
    made.replaceChildren(t("watchers.made"), " ", h("input", { readonly: true, value: url, size: 60, "data-link": link.id }));
    note.value = "";
    await refresh();
  });
  main.append(h("h1", {}, t("watchers.title")), h("p", { class: "muted" }, t("watchers.hint")), create, made, list);

  async function refresh() {
    let links;
    try {
      links = await get("/v1/account/watcher/list");
    } catch (error) {
      return fail(list, error);
    }
    const head = ["watchers.note", "watchers.token", "watchers.created"].map((k, i) => h("th", { class: i === 0 ? "left" : null }, t(k)));
    list.replaceChildren(h("table", {}, h("tr", {}, head, h("th", {})), links.map((w) => h("tr", { "data-watcher": w.id },
      h("td", { class: "left" }, w.note), h("td", {}, w.watcher_key), h("td", {}, w.created_at),
      h("td", {}, session.readOnly ? null : h("button", { type: "button", "data-action": "revoke", onclick: async () => {
        try {
          await post("/v1/account/watcher/delete", { watcher_id: w.id });
          await refresh();
        } catch (error) {
          fail(list, error);
        }
      } }, t("watchers.revoke")))))));
  }
  return refresh;
}
