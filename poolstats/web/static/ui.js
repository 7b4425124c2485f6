// Small DOM helpers shared by the pages.
import { ApiError } from "./api.js";
import { t } from "./i18n.js";

// h("a", {href, onclick}, ...children): an element; on* attributes become listeners, false
// and null ones are left out, true ones are present and empty.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function link(href, text) {
  return h("a", { href }, text);
}

export function card(label, value, id) {
  return h("div", { class: "card", "data-figure": id }, label, h("b", {}, value));
}

// An API error in place of what could not be shown: its message names the field.
export function fail(box, error) {
  const message = error instanceof ApiError ? `${error.message} (${error.errNo})` : t("common.error");
  box.replaceChildren(h("p", { class: "error" }, message));
}

// Satoshis (the API's integer strings) as BTC with all eight decimals: exact, no float.
export function btc(sat) {
  const s = String(sat).replace(/^-/, "").padStart(9, "0");
  return `${String(sat).startsWith("-") ? "-" : ""}${s.slice(0, -8)}.${s.slice(-8)} BTC`;
}

export function debounce(fn, ms) {
  let timer;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

// A file the browser saves, made here (no request): CSV exports.
export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
export function csv(rows) {
  const field = (v) => (/[",\r\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return rows.map((r) => r.map(field).join(",")).join("\r\n") + "\r\n";
}
