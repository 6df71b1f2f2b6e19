// The application shell: who is logged in, the menu of their roles, the hash router
// (#/pegawai/usulan/…), the clear-screen lock and the notification poll. Pages live in
// ./pages/*.js and register their routes in ./pages/index.js.

import { api, ApiError, refresh, tokens } from "./api.js";
import { routes } from "./pages/index.js";
import { button, clear, errorBox, field, h, notify, values } from "./ui.js";

// `unsigned`: a fasilitator/administrator role held without its integrity pact (pages/pacts.js)
const STAFF = ["administrator", "fasilitator", "auditor", "unsigned"];
const TOTP_ROLES = STAFF;
const ROLE_NAMES = { pegawai: "Pegawai", fasilitator: "Fasilitator", administrator: "Administrator BKD",
                     auditor: "Auditor", unsigned: "Menunggu pakta integritas" };
const ROLE_ORDER = ["administrator", "fasilitator", "auditor", "pegawai", "unsigned"];
const LOCK_KEY = "simasn.locked";

const main = () => document.getElementById("main");

export const ctx = {
  me: null,
  config: { idle_lock_seconds: { staff: 900, pegawai: 1800 }, poll_seconds: 30 },
  roles() { return this.me ? this.me.roles || [] : []; },
  has(role) { return this.roles().includes(role); },
  isStaff() { return this.roles().some((r) => STAFF.includes(r)); },
  navigate(path) {
    if (window.location.pathname !== "/") window.history.replaceState(null, "", `/#${path}`);
    if (window.location.hash === `#${path}`) render(); else window.location.hash = path;
  },
  refreshBadge() { pollInbox(); },
  /** The principal again after the caller's own roles changed (an integrity pact). */
  async refreshMe() { await loadMe(); renderChrome(); },
  home() { return homePath(); },
  async signedIn(answer) {
    tokens.set(answer);
    sessionStorage.removeItem(LOCK_KEY);
    await loadMe();
    startWatching();
    ctx.navigate(homePath());
  },
  async logout(message) {
    try { if (tokens.has()) await api.post("/api/auth/logout", {}); } catch { /* already ended */ }
    tokens.clear();
    sessionStorage.removeItem(LOCK_KEY);
    ctx.me = null;
    inboxCursor = null;
    unread = 0;
    stopWatching();
    hideLock();
    renderChrome();
    ctx.navigate("/masuk");
    if (message) notify(message, "warn");
  },
};

// -- routing ---------------------------------------------------------------------------------

function compile(path) {
  const names = [];
  const pattern = path.replace(/:[a-zA-Z_]+/g, (m) => { names.push(m.slice(1)); return "([^/]+)"; });
  return { regex: new RegExp(`^${pattern}$`), names };
}
const table = routes.map((route) => ({ ...route, ...compile(route.path) }));

function match(path) {
  for (const route of table) {
    const found = route.regex.exec(path);
    if (found) {
      const params = {};
      route.names.forEach((name, i) => { params[name] = decodeURIComponent(found[i + 1]); });
      return { route, params };
    }
  }
  return null;
}

function currentPath() {
  // the QR code opens /verifikasi/<id>: a real address, not a hash route
  const verify = /^\/verifikasi\/([^/]+)$/.exec(window.location.pathname);
  if (verify && !window.location.hash) return `/verifikasi/${verify[1]}`;
  const hash = window.location.hash;
  if (!hash.startsWith("#/")) return "/";
  const [path, query] = hash.slice(1).split("?");
  ctx.query = new URLSearchParams(query || "");
  return path || "/";
}

/** Whether a page is in `role`'s menu: its `menuRole` (one or a list), else its first role. */
function inMenu(route, role) {
  if (!route.menu || !route.roles || !route.roles.includes(role)) return false;
  return route.menuRole ? [].concat(route.menuRole).includes(role)
    : route.roles[0] === role || route.roles.length === 1;
}

/** The first page of the first menu of the account's roles (staff roles before pegawai). */
export function homePath() {
  if (!ctx.me) return "/masuk";
  const role = ROLE_ORDER.find((r) => ctx.has(r));
  const first = routes.find((r) => inMenu(r, role));
  return first ? first.path : "/akun";
}

let renderId = 0;
async function render() {
  const id = ++renderId;
  if (isLocked()) { showLock(); return; }
  let path = currentPath();
  if (path === "/") path = homePath();
  const found = match(path);
  const el = main();
  if (!found) {
    clear(el, h("h1", {}, "Halaman tidak ditemukan"),
      h("p", {}, "Alamat ini tidak ada. "), h("a", { href: `#${homePath()}` }, "Kembali ke beranda"));
    document.title = "Tidak ditemukan – SIMASN Jatim";
    return;
  }
  const { route, params } = found;
  if (route.roles && !ctx.me) {
    sessionStorage.setItem("simasn.after-login", path);
    ctx.navigate("/masuk");
    return;
  }
  if (route.roles && !route.roles.some((r) => ctx.has(r))) {
    clear(el, h("h1", {}, "Tidak berwenang"),
      h("p", {}, "Peran Anda tidak dapat membuka halaman ini."),
      h("a", { href: `#${homePath()}` }, "Kembali ke beranda"));
    document.title = "Tidak berwenang – SIMASN Jatim";
    return;
  }
  document.title = `${route.title} – SIMASN Jatim`;
  renderChrome(route);
  const page = h("div", { class: "page" });
  clear(el, page);
  try {
    await route.render(page, params, ctx);
  } catch (error) {
    if (id !== renderId) return;
    if (!(error instanceof ApiError)) console.error(error); // eslint-disable-line no-console
    if (!page.querySelector(".problem")) page.append(errorBox(error));
  }
  if (id === renderId) {
    const heading = el.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
  }
}

// -- chrome: header, menu --------------------------------------------------------------------

let unread = 0;
function renderChrome(active) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!ctx.me) {
    clear(nav, h("a", { href: "#/masuk" }, "Masuk"),
      h("a", { href: "#/verifikasi" }, "Verifikasi dokumen"),
      h("a", { href: "#/statistik" }, "Statistik ASN"));
    clear(who);
    return;
  }
  const groups = ROLE_ORDER.filter((role) => ctx.has(role)).map((role) => {
    const items = routes.filter((r) => inMenu(r, role));
    if (!items.length) return null;
    return h("div", { class: "menu-group" },
      h("p", { class: "menu-title" }, ROLE_NAMES[role]),
      h("ul", {}, items.map((r) => h("li", {}, h("a", {
        href: `#${r.path}`, "aria-current": active && active.path === r.path ? "page" : null,
      }, r.menu, r.badge === "inbox" && unread ? h("span", { class: "count", "aria-label": `${unread} belum dibaca` }, String(unread)) : null)))));
  });
  clear(nav, groups);
  clear(who,
    h("span", { class: "who-name" }, ctx.me.display_name || ctx.me.account_id),
    h("a", { href: "#/akun" }, "Akun saya"),
    button("Keluar", () => ctx.logout(), { class: "link" }));
}

// -- the clear-screen lock ------------------------------------------------------------------

let lastActive = Date.now();
let watchTimer = null;
let pollTimer = null;

function idleLimit() {
  const limits = ctx.config.idle_lock_seconds || {};
  return (ctx.isStaff() ? limits.staff : limits.pegawai) * 1000;
}
function isLocked() { return ctx.me && sessionStorage.getItem(LOCK_KEY) === "1"; }

function lock() {
  sessionStorage.setItem(LOCK_KEY, "1");
  showLock();
}

function showLock() {
  stopPolling();
  const shell = document.getElementById("shell");
  shell.hidden = true;
  shell.setAttribute("inert", "");
  clear(main()); // clear screen: nothing of the page stays in the document behind the lock
  const overlay = document.getElementById("lock");
  const needsOtp = ctx.roles().some((r) => TOTP_ROLES.includes(r));
  const fields = [field({ name: "password", label: "Kata sandi", type: "password", required: true,
                          autocomplete: "current-password" })];
  if (needsOtp) fields.push(field({ name: "otp", label: "Kode OTP", inputmode: "numeric", required: true,
                                    autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6 }));
  const box = h("div", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const formEl = h("form", { id: "unlock-form", class: "form", novalidate: true }, box, fields,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Buka kunci"),
      button("Keluar", () => ctx.logout(), { class: "link" })));
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = values(formEl);
    const body = { password: data.password };
    if (needsOtp) body.otp = data.otp;
    try {
      await api.post("/api/auth/unlock", body);
      unlock();
    } catch (error) {
      // a wrong password or code is shown on the form; any other 401 means the session ended
      const wrong = ["login_failed", "totp_invalid", "totp_required", "login_throttled"];
      if (error instanceof ApiError && error.status === 401 && !wrong.includes(error.code)) {
        ctx.logout("Sesi Anda berakhir; silakan masuk kembali.");
        return;
      }
      clear(box, errorBox(error));
      box.hidden = false;
      box.focus();
    }
  });
  clear(overlay,
    h("div", { class: "lock-card", role: "dialog", "aria-modal": "true", "aria-labelledby": "lock-title" },
      h("h1", { id: "lock-title" }, "Layar terkunci"),
      h("p", {}, `${ctx.me.display_name || ctx.me.account_id}, layar dikunci karena tidak ada aktivitas. `
        + "Masukkan kata sandi untuk melanjutkan."),
      formEl));
  overlay.hidden = false;
  formEl.querySelector("input").focus();
}

function hideLock() {
  const overlay = document.getElementById("lock");
  overlay.hidden = true;
  clear(overlay);
  const shell = document.getElementById("shell");
  shell.hidden = false;
  shell.removeAttribute("inert");
}

function unlock() {
  sessionStorage.removeItem(LOCK_KEY);
  lastActive = Date.now();
  hideLock();
  startPolling();
  render();
}

function startWatching() {
  stopWatching();
  lastActive = Date.now();
  watchTimer = setInterval(() => {
    if (ctx.me && !isLocked() && Date.now() - lastActive >= idleLimit()) lock();
  }, 1000);
  startPolling();
}
function stopWatching() {
  clearInterval(watchTimer);
  watchTimer = null;
  stopPolling();
}
for (const type of ["pointerdown", "keydown", "wheel", "touchstart", "scroll"]) {
  window.addEventListener(type, () => { if (!isLocked()) lastActive = Date.now(); },
                          { passive: true, capture: true });
}

// -- notifications: a cheap poll (docs/design/web.md: why not server-sent events) ---------------

let inboxCursor = null;
async function pollInbox() {
  if (!ctx.me || isLocked()) return;
  try {
    // the first ask only learns the cursor and the count; later ones get what is new since
    let answer = await api.get("/api/me/inbox/updates", { after: inboxCursor ?? "0", limit: 200 });
    const first = inboxCursor === null;
    while (first && answer.has_more) {  // what was there before this page opened is not news
      answer = await api.get("/api/me/inbox/updates", { after: answer.cursor, limit: 200 });
    }
    const fresh = !first && answer.items.length > 0;
    inboxCursor = answer.cursor;
    if (fresh) notify(answer.items.length === 1 ? answer.items[0].title : "Ada pemberitahuan baru.");
    if (answer.unread !== unread || fresh) {
      unread = answer.unread;
      renderChrome(match(currentPath())?.route);
      if (fresh) window.dispatchEvent(new CustomEvent("simasn:inbox", { detail: answer.items }));
    }
  } catch { /* the next poll tries again; a page shows its own errors */ }
}
function startPolling() {
  stopPolling();
  pollInbox();
  pollTimer = setInterval(pollInbox, (ctx.config.poll_seconds || 30) * 1000);
}
function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

// -- start -----------------------------------------------------------------------------------

async function loadMe() {
  ctx.me = await api.get("/api/me");
}

async function start() {
  try { ctx.config = await api.get("/api/web/config"); } catch { /* defaults above */ }
  tokens.onExpired(() => { if (ctx.me) ctx.logout("Sesi Anda berakhir; silakan masuk kembali."); });
  if (tokens.canResume() && await refresh()) {
    try { await loadMe(); startWatching(); } catch { tokens.clear(); ctx.me = null; }
  }
  window.addEventListener("hashchange", render);
  document.getElementById("skip").addEventListener("click", (event) => {
    event.preventDefault();
    main().focus();
  });
  renderChrome();
  await render();
}

start().catch((error) => {
  clear(main(), errorBox(error));
});
