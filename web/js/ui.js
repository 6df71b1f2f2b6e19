// Small DOM helpers every page uses: elements without innerHTML (no markup is ever built from
// data, so a name or a reason cannot inject anything), labelled form fields that show the API's
// problem on the field it names, tables, paging, a loading state and notices.

import { ApiError } from "./api.js";

/** h("p", {class: "x", onclick: fn}, "text", child) — attributes, events, children. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let counter = 0;
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * A labelled field. `spec`: {name, label, type, value, required, options: [[value, text]],
 * hint, autocomplete, accept, multiple, rows, min, max, pattern, inputmode}.
 */
export function field(spec) {
  const id = uid(spec.name);
  const hintId = spec.hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const common = { id, name: spec.name, required: spec.required, autocomplete: spec.autocomplete,
                   "aria-describedby": [hintId, errorId].filter(Boolean).join(" ") };
  let control;
  if (spec.type === "select") {
    control = h("select", common, (spec.options || []).map(([value, text]) =>
      h("option", { value, selected: String(spec.value ?? "") === String(value) }, text)));
  } else if (spec.type === "textarea") {
    control = h("textarea", { ...common, rows: spec.rows || 3, maxlength: spec.maxlength });
    control.value = spec.value ?? "";
  } else if (spec.type === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: !!spec.value });
  } else {
    control = h("input", { ...common, type: spec.type || "text", value: spec.value ?? "",
                           accept: spec.accept, multiple: spec.multiple, min: spec.min,
                           max: spec.max, pattern: spec.pattern, inputmode: spec.inputmode,
                           maxlength: spec.maxlength, step: spec.step });
  }
  const wrap = h("div", { class: `field field-${spec.type || "text"}`, dataset: { field: spec.name } },
    h("label", { for: id }, spec.label, spec.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    spec.hint ? h("p", { class: "hint", id: hintId }, spec.hint) : null,
    control,
    h("p", { class: "field-error", id: errorId, hidden: true }));
  if (spec.type === "checkbox") wrap.classList.add("inline");
  return wrap;
}

/** The values of a form's named controls (checkboxes as booleans, files as File lists). */
export function values(formEl) {
  const out = {};
  for (const control of formEl.querySelectorAll("[name]")) {
    if (control.type === "checkbox") out[control.name] = control.checked;
    else if (control.type === "file") out[control.name] = control.files;
    else out[control.name] = control.value.trim();
  }
  return out;
}

/** Show an API problem on the form: on the field it names when there is one, else on top. */
export function showProblem(formEl, error) {
  for (const p of formEl.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
  for (const c of formEl.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  const box = formEl.querySelector(".form-error");
  const named = error instanceof ApiError && error.field
    ? formEl.querySelector(`[data-field="${CSS.escape(error.field.split(".")[0])}"]`) : null;
  const perField = error instanceof ApiError && error.details && typeof error.details === "object"
    && !Array.isArray(error.details) ? error.details : {};
  let shown = false;
  for (const [name, messages] of Object.entries(perField)) {
    const wrap = formEl.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (wrap) { markField(wrap, [].concat(messages).join(" ")); shown = true; }
  }
  if (named && !shown) { markField(named, error.message); shown = true; }
  if (box) {
    clear(box, errorBox(error));
    box.hidden = false;
    if (!shown) box.focus();
  }
  if (shown) formEl.querySelector("[aria-invalid]")?.focus();
}

function markField(wrap, message) {
  const p = wrap.querySelector(".field-error");
  p.textContent = message;
  p.hidden = false;
  wrap.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
}

/** A form: fields, a submit button; `onsubmit(values, formEl)` may throw an ApiError. */
export function form({ id, fields = [], submit = "Simpan", onsubmit, extra = [], cls }) {
  const el = h("form", { id, class: cls || "form", novalidate: true },
    h("div", { class: "form-error", role: "alert", tabindex: "-1", hidden: true }),
    fields.map((f) => (f instanceof Node ? f : field(f))),
    extra,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, submit)));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = el.querySelector("button[type=submit]");
    const box = el.querySelector(".form-error");
    box.hidden = true;
    for (const p of el.querySelectorAll(".field-error")) p.hidden = true;
    for (const c of el.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
    const missing = [...el.querySelectorAll("[required]")].filter((c) =>
      (c.type === "file" ? c.files.length === 0 : !c.value.trim()));
    if (missing.length) {
      for (const c of missing) markField(c.closest(".field"), "Wajib diisi.");
      missing[0].focus();
      return;
    }
    button.disabled = true;
    el.setAttribute("aria-busy", "true");
    try {
      await onsubmit(values(el), el);
    } catch (error) {
      showProblem(el, error);
    } finally {
      button.disabled = false;
      el.removeAttribute("aria-busy");
    }
  });
  return el;
}

/** The API's problem as a person reads it: its title, its message, and what to do. */
export function errorBox(error) {
  const title = error instanceof ApiError ? error.title : "Terjadi kesalahan";
  const detail = error instanceof ApiError ? error.message
    : "Halaman mengalami kesalahan. Muat ulang halaman, lalu coba lagi.";
  return h("div", { class: "problem", dataset: { code: error.code || "error" } },
    h("strong", {}, title), h("p", {}, detail),
    error.requestId ? h("p", { class: "muted small" }, `Kode permintaan: ${error.requestId}`) : null);
}

/** Run `work` with a visible, announced loading state in `el`; show its error there too. */
export async function busy(el, work, label = "Memuat…") {
  const spinner = h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), label);
  el.setAttribute("aria-busy", "true");
  el.append(spinner);
  try {
    return await work();
  } catch (error) {
    el.append(errorBox(error));
    throw error;
  } finally {
    spinner.remove();
    el.removeAttribute("aria-busy");
  }
}

/** A table with a caption; `columns`: [{key, label, render?(row) -> node|text, cls}]. */
export function table({ caption, columns, rows, empty = "Tidak ada data." }) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.cls }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) =>
        h("td", { class: c.cls, dataset: { label: c.label } },
          c.render ? c.render(row) : (row[c.key] ?? "–"))))))));
}

/** The page address `path` with `params` as its query: empty values and offset 0 left out. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "" || (key === "offset" && Number(value) === 0)) continue;
    query.set(key, String(value));
  }
  return query.toString() ? `${path}?${query}` : path;
}

/** A list page's filter form: its `fields` (field specs or nodes) and a submit button (`extra`
 * beside it); submitted, `go(values)` gets the form's values and the page is not reloaded. */
export function filterForm({ id, fields, go, submit = "Tampilkan", cls = "filters", primary = false,
                             extra = [], attrs = {} }) {
  const el = h("form", { class: cls, id, ...attrs },
    fields.map((f) => (f instanceof Node ? f : field(f))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: primary ? "primary" : undefined }, submit), extra));
  el.addEventListener("submit", (event) => {
    event.preventDefault();
    go(values(el));
  });
  return el;
}

/** Previous/next paging over an API answering {items, has_more} for limit/offset. */
export function pager({ offset, limit, hasMore, go }) {
  return h("nav", { class: "pager", "aria-label": "Halaman" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ Sebelumnya"),
    h("span", {}, `${offset + 1}–${offset + limit}`),
    h("button", { type: "button", disabled: !hasMore, onclick: () => go(offset + limit) }, "Berikutnya ›"));
}

/** A short notice announced to screen readers. */
export function notify(message, kind = "ok") {
  const region = document.getElementById("toast");
  const item = h("p", { class: `toast ${kind}` }, message);
  region.append(item);
  setTimeout(() => item.remove(), 6000);
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}

export function button(text, onclick, attrs = {}) {
  return h("button", { type: "button", onclick, ...attrs }, text);
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

/** A definition list of label/value pairs (a record, a document's facts). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([label, value]) =>
    [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? "–" : value)]));
}

const DATE = new Intl.DateTimeFormat("id-ID", { dateStyle: "medium", timeZone: "Asia/Jakarta" });
const DATETIME = new Intl.DateTimeFormat("id-ID", { dateStyle: "medium", timeStyle: "short",
                                                     timeZone: "Asia/Jakarta" });
export function date(value) {
  if (!value) return "–";
  const d = new Date(value.length === 10 ? `${value}T00:00:00+07:00` : value);
  return Number.isNaN(d.getTime()) ? value : DATE.format(d);
}
export function datetime(value) {
  if (!value) return "–";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : `${DATETIME.format(d)} WIB`;
}

/** Open a downloaded Blob: save it under `name`. */
export function saveBlob(blob, name) {
  const href = URL.createObjectURL(blob);
  const a = h("a", { href, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/** A status word as a badge (state names come from the API, shown in Indonesian). */
export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}
