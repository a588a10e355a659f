// The collector's /v1 API as the dashboard calls it: the API key (kept in this browser) goes in the
// Authorization header of every call, downloads included, so a keyed collector works from here.

export function apiKey() { return localStorage.getItem("bakeoff-api-key") || ""; }

export function setApiKey(value) { localStorage.setItem("bakeoff-api-key", value); }

function headers(json) {
  const result = json ? { "Content-Type": "application/json" } : {};
  if (apiKey()) result.Authorization = `Bearer ${apiKey()}`;
  return result;
}

async function checked(response) {
  if (!response.ok) {
    let reason = response.statusText;
    try { reason = (await response.json()).error || reason; } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${reason}`);
  }
  return response;
}

export async function api(path, options = {}) {
  const response = await checked(await fetch(path, { ...options, headers: headers(true) }));
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

/** A caller of `api` that answers only its newest request: an answer that comes back after a later
 * request was sent resolves to null, so a slow reply to an earlier click never overwrites the page
 * of the last one. */
export function newestOnly() {
  let sent = 0;
  return async (path, options = {}) => {
    const mine = ++sent;
    const result = await api(path, options);
    return mine === sent ? result : null;
  };
}

/** `path?query` with the non-empty entries of `params`. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** Fetch `path` with the key and save it as `filename` (a link could not carry the header). */
export async function download(path, filename) {
  const response = await checked(await fetch(path, { headers: headers(false) }));
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
