// The alert settings, contacts and log of /v1/alert/* (docs/alerts.md): editable with a
// read-write key, shown as text otherwise; a watcher link sees no contacts (they often hold
// secrets of their own: webhook URLs).
import { ApiError, get, post, session } from "./api.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { fail, h } from "./ui.js";

const UNITS = ["H", "K", "M", "G", "T", "P", "E", "Z"];
const unitText = (u) => (u === "H" ? "H/s" : `${u}H/s`); // the API's "H" is the bare unit

function saving(form, message, write, after) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.className = "muted";
    try {
      await write();
      message.textContent = t("common.saved");
      if (after) await after();
    } catch (error) {
      message.className = "error";
      message.textContent = error instanceof ApiError ? error.message : t("common.error");
    }
  });
  return form;
}

export function alertsPage(main) {
  const writable = !session.readOnly;
  const settings = h("div", { class: "box", id: "alert-settings" });
  const contacts = h("div", { class: "scroll box", id: "alert-contacts" });
  const log = h("div", { class: "scroll box", id: "alert-log" });
  const watcher = Boolean(session.access && session.access.watcher);
  main.append(h("h1", {}, t("alerts.title")), settings,
    ...(watcher ? [] : [h("h2", {}, t("alerts.contacts")), contacts]), h("h2", {}, t("alerts.log")), log);
  let built = false;

  function showSettings(a) {
    if (!writable) {
      settings.replaceChildren(h("dl", { class: "facts" },
        h("dt", {}, t("alerts.hashrate")), h("dd", {}, a.hashrate_alert ? `< ${a.hashrate_value} ${unitText(a.hashrate_unit)}` : t("alerts.off")),
        h("dt", {}, t("alerts.miners")), h("dd", {}, a.miner_alert ? `< ${a.miner_value}` : t("alerts.off")),
        h("dt", {}, t("alerts.interval")), h("dd", {}, t("alerts.hours", { n: a.alert_interval }))));
      return;
    }
    if (built) return; // a form being edited is never refilled under the user's hands
    built = true;
    const hashrate = h("input", { name: "hashrate", value: a.hashrate_value, inputmode: "decimal", size: 8, "aria-label": t("alerts.hashrate") });
    const unit = h("select", { name: "unit", "aria-label": t("alerts.unit") },
      UNITS.map((u) => h("option", { value: u, selected: u === a.hashrate_unit }, unitText(u))));
    const hashrateOn = h("input", { type: "checkbox", name: "hashrate_enabled", checked: Boolean(a.hashrate_alert) });
    const miners = h("input", { name: "miners", type: "number", min: 0, value: a.miner_value, "aria-label": t("alerts.miners") });
    const minersOn = h("input", { type: "checkbox", name: "miners_enabled", checked: Boolean(a.miner_alert) });
    const interval = h("input", { name: "interval", type: "number", min: 2, max: 24, value: a.alert_interval, "aria-label": t("alerts.interval") });
    const message = h("span", { class: "muted", "data-message": "alert-settings" });
    settings.replaceChildren(saving(h("form", { class: "facts", id: "alert-form" },
      h("label", {}, hashrateOn, ` ${t("alerts.hashrate")}`), h("span", {}, hashrate, " ", unit),
      h("label", {}, minersOn, ` ${t("alerts.miners")}`), miners,
      h("label", {}, t("alerts.interval")), interval,
      h("button", { type: "submit" }, t("common.save")), message), message,
    () => post("/v1/alert/setting/update", {
      hashrate: hashrate.value.trim(), unit: unit.value, hashrate_enabled: hashrateOn.checked ? 1 : 0,
      miners: miners.value, miners_enabled: minersOn.checked ? 1 : 0, interval: interval.value,
    })));
  }

  async function showContacts() {
    const mine = await get("/v1/alert/contacts/my");
    const note = h("input", { name: "note", maxlength: 64, placeholder: t("alerts.note"), "aria-label": t("alerts.note") });
    const email = h("input", { name: "email", type: "email", maxlength: 254, placeholder: t("alerts.email"), "aria-label": t("alerts.email") });
    const hook = h("input", { name: "webhook_url", type: "url", placeholder: t("alerts.webhook"), "aria-label": t("alerts.webhook") });
    const message = h("span", { class: "muted", "data-message": "contact-create" });
    const head = ["alerts.note", "alerts.email", "alerts.webhook"].map((k, i) => h("th", { class: i ? null : "left" }, t(k)));
    contacts.replaceChildren(h("table", {}, h("tr", {}, head, h("th", {})), mine.map((c) => h("tr", { "data-contact": c.id },
      h("td", { class: "left" }, c.note), h("td", {}, c.email || "—"), h("td", {}, c.webhook_url || "—"),
      h("td", {}, writable ? h("button", { type: "button", "data-action": "delete-contact", onclick: async () => {
        try {
          await post("/v1/alert/contacts/delete", { id: c.id });
          await showContacts();
        } catch (error) {
          fail(contacts, error);
        }
      } }, t("groups.delete")) : null)))),
    writable ? saving(h("form", { class: "signin", id: "contact-create" }, note, email, hook,
      h("button", { type: "submit" }, t("alerts.add")), message), message,
    () => post("/v1/alert/contacts/create", { note: note.value.trim(), email: email.value.trim(), webhook_url: hook.value.trim() }),
    showContacts) : null);
  }

  return async () => {
    try {
      showSettings((await get("/v1/account/info")).alert);
      if (!watcher && !contacts.querySelector("form:focus-within")) await showContacts();
      const entries = await get("/v1/alert/get", { page: 1, page_size: 20 });
      const items = Array.isArray(entries) ? entries : entries.list || [];
      log.replaceChildren(items.length ? h("table", {}, items.map((e) => h("tr", { "data-alert": e.id },
        h("td", { class: "left" }, i18n.time(e.created_at)), h("td", {}, t(`alert_type.${e.type}`)),
        h("td", {}, t(`alert_event.${e.event}`)),
        h("td", { class: "left" }, e.message)))) : h("p", { class: "muted" }, t("alerts.none")));
    } catch (error) {
      fail(log, error);
    }
  };
}
