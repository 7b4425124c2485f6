// Messages, numbers and dates in the reader's language: English or Chinese (zh-CN), from the
// switch once chosen (kept in localStorage), else from the browser's languages.
export const LANGUAGES = ["en", "zh-CN"];
const CHOSEN = "poolstats.lang";
let messages = {};
export let lang = "en";

function preferred() {
  const chosen = localStorage.getItem(CHOSEN);
  if (LANGUAGES.includes(chosen)) return chosen;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    if (l.toLowerCase().startsWith("zh")) return "zh-CN";
    if (l.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

export async function load(wanted) {
  lang = LANGUAGES.includes(wanted) ? wanted : preferred();
  const answer = await fetch(`/static/i18n/${lang}.json`);
  messages = await answer.json();
  document.documentElement.lang = lang;
}

export function choose(l) {
  localStorage.setItem(CHOSEN, l);
}

// t("workers.page", {page: 2, pages: 9}): the message with its {names} filled in; a missing
// key shows as itself, which the catalogue test would have caught.
export function t(key, vars = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

const UNITS = ["", "K", "M", "G", "T", "P", "E", "Z"];
export const UNIT_FACTOR = Object.fromEntries(UNITS.map((u, i) => [u, 1000 ** i]));

export function number(value, digits = 4) {
  return new Intl.NumberFormat(lang, { maximumSignificantDigits: digits }).format(value);
}

export function integer(value) {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: 0 }).format(value);
}

// 4.504e15 -> "4.504 PH/s": the largest unit that leaves a value of 1 or more.
export function rate(hs) {
  let i = 0;
  while (i < UNITS.length - 1 && Math.abs(hs) >= 1000 ** (i + 1)) i++;
  return `${number(hs / 1000 ** i)} ${UNITS[i]}H/s`;
}

export function time(unixSeconds) {
  if (!unixSeconds) return t("common.never");
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(unixSeconds * 1000));
}

export function day(unixSeconds) {
  return new Intl.DateTimeFormat(lang, { month: "short", day: "numeric" })
    .format(new Date(unixSeconds * 1000));
}

export function clock(unixSeconds) {
  return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" })
    .format(new Date(unixSeconds * 1000));
}
