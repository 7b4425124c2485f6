// The public API, as scripts call it; the key travels in a header (X-Access-Key), never in a
// URL, and lives in this tab's sessionStorage only. A watcher link's token
// (X-Watcher-Token) opens one sub-account read-only.
const KEY = "poolstats.key";
const WATCHER = "poolstats.watcher";
const PUID = "poolstats.puid";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get watcher() { return sessionStorage.getItem(WATCHER); },
  get puid() { return sessionStorage.getItem(PUID); },
  get signedIn() { return Boolean(this.key || this.watcher); },
  // what the key may do (/v1/account/access), read once it is known to work
  access: null,
  get readOnly() { return !this.key || !this.access || this.access.read_only; },
  signIn(key) { this.access = null; sessionStorage.clear(); sessionStorage.setItem(KEY, key); },
  watch(token) { this.access = null; sessionStorage.clear(); sessionStorage.setItem(WATCHER, token); },
  choose(puid) { sessionStorage.setItem(PUID, String(puid)); },
  signOut() { this.access = null; sessionStorage.clear(); },
};

// /v1/pool/dashboard-config, read at start: how often figures change, the explorer's link
export const config = { refresh_s: 10, explorer_tx_url: "" };

export class ApiError extends Error {
  constructor(errNo, message) {
    super(message);
    this.errNo = errNo;
  }
}

function headers() {
  const h = {};
  if (session.key) h["X-Access-Key"] = session.key;
  else if (session.watcher) h["X-Watcher-Token"] = session.watcher;
  return h;
}

// GET path with params; the envelope's data, or ApiError with err_no and err_msg.
export async function get(path, params = {}) {
  const query = new URLSearchParams();
  if (session.puid && session.signedIn) query.set("puid", session.puid);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const answer = await fetch(`${path}?${query}`, { headers: headers() });
  const body = await answer.json();
  if (body.err_no !== 0) throw new ApiError(body.err_no, body.err_msg);
  return body.data;
}

// POST path with params as a form (a write: BTC.COM's writes are POSTs); the envelope's data.
export async function post(path, params = {}) {
  const body = new URLSearchParams();
  if (session.puid) body.set("puid", session.puid);
  for (const [name, value] of Object.entries(params)) body.set(name, String(value));
  const answer = await fetch(path, {
    method: "POST", body,
    headers: { ...headers(), "Content-Type": "application/x-www-form-urlencoded" },
  });
  const data = await answer.json();
  if (data.err_no !== 0) throw new ApiError(data.err_no, data.err_msg);
  return data.data;
}

// Every item of a paged BTC.COM list (page_size 1000 a request), for exports.
export async function every(path, params, field) {
  const items = [];
  for (let page = 1; ; page++) {
    const answer = await get(path, { ...params, page, page_size: 1000 });
    items.push(...answer[field]);
    if (page >= answer.page_count) return items;
  }
}

// The body-less JSON of /healthz and the like.
export async function plain(path) {
  const answer = await fetch(path);
  return answer.json();
}
