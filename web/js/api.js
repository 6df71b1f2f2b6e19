// The gateway's HTTP API as the web application calls it: the same routes as any other client.
// The access token lives in memory only; the refresh token in sessionStorage (this tab, until it
// closes). Both travel in the Authorization header or a JSON body, never in a cookie, so a
// request another site makes the browser send carries no credential (no CSRF surface).

const REFRESH_KEY = "simasn.refresh";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || `http_${status}`;
    this.title = problem.title || "Permintaan gagal";
    this.field = problem.field || null;
    this.details = problem.errors || null;
    this.requestId = problem.request_id || null;
  }
}

let accessToken = null;
let refreshing = null;
const listeners = { expired: [] };

export const tokens = {
  set(answer) {
    accessToken = answer.access_token;
    if (answer.refresh_token) sessionStorage.setItem(REFRESH_KEY, answer.refresh_token);
  },
  clear() {
    accessToken = null;
    sessionStorage.removeItem(REFRESH_KEY);
  },
  has() { return accessToken !== null; },
  canResume() { return sessionStorage.getItem(REFRESH_KEY) !== null; },
  onExpired(fn) { listeners.expired.push(fn); },
};

function url(path, query) {
  const target = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, value);
  }
  return target.pathname + target.search;
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try { return await response.json(); } catch { /* an empty or broken body: generic below */ }
  }
  if (response.status === 502 || response.status === 503 || response.status === 504) {
    return { code: "service_unavailable", title: "Layanan sedang tidak tersedia",
             detail: "Server tidak dapat dihubungi. Coba lagi beberapa saat lagi." };
  }
  return { title: "Permintaan gagal", detail: `Server menjawab ${response.status}.` };
}

/** Ask identity for a new access token with the refresh token; one request at a time. */
export async function refresh() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  if (!refreshing) {
    refreshing = fetch("/api/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: token }), credentials: "omit",
    }).then(async (response) => {
      if (!response.ok) { tokens.clear(); return false; }
      tokens.set(await response.json());
      return true;
    }).catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function send(method, path, { query, body, raw, contentType, headers, as, retried } = {}) {
  const init = { method, headers: { Accept: "application/json", ...(headers || {}) },
                 credentials: "omit", cache: "no-store" };
  if (accessToken) init.headers.Authorization = `Bearer ${accessToken}`;
  if (raw !== undefined) {
    init.body = raw;
    init.headers["Content-Type"] = contentType || raw.type || "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch {
    throw new ApiError(0, { code: "network", title: "Tidak tersambung",
                            detail: "Periksa sambungan jaringan Anda, lalu coba lagi." });
  }
  if (response.status === 401 && accessToken && !retried && !path.startsWith("/api/auth/")) {
    if (await refresh()) return send(method, path, { query, body, raw, contentType, headers, as,
                                                     retried: true });
    listeners.expired.forEach((fn) => fn());
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (response.status === 204) return null;
  if (as === "blob") return response.blob();
  if (as === "response") return response;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

function idempotency() {
  return { "Idempotency-Key": crypto.randomUUID() };
}

export const api = {
  get: (path, query) => send("GET", path, { query }),
  post: (path, body, opts = {}) => send("POST", path, {
    body, headers: opts.idempotent ? idempotency() : undefined, query: opts.query }),
  put: (path, body) => send("PUT", path, { body }),
  del: (path) => send("DELETE", path),
  /** A file sent as the raw request body (the gateway's upload routes). */
  upload: (path, file, opts = {}) => send(opts.method || "POST", path, {
    raw: file, contentType: file.type || "application/octet-stream", query: opts.query,
    headers: opts.idempotent ? idempotency() : undefined }),
  /** A download (a PDF, an image, an export): a Blob for an object URL. */
  blob: (path, query) => send("GET", path, { query, as: "blob" }),
};
