// The fasilitator's pages: the OPD dashboard (data completeness, queue, SLA), the verification
// queue, a request verified document by document beside the employee's record (the viewer in
// ../viewer.js), returned with reasons or a fake document reported; the staff list of requests;
// the OPD's employees (search, a record, pending change proposals decided); bulk import and its
// report. Every call is the gateway's public API (docs/design/web.md).

import { api, ApiError } from "../api.js";
import { documentViewer } from "../viewer.js";
import {
  badge, busy, button, clear, date, datetime, errorBox, facts, field, filterForm, form, h, notify, pager,
  saveBlob, section, table, values, withQuery,
} from "../ui.js";

const ROLES = ["fasilitator"];
const PAGE = 25;

export const STATE_NAMES = {
  draft: "Draf", submitted: "Diajukan", under_verification: "Sedang diverifikasi",
  returned: "Dikembalikan", under_approval: "Menunggu keputusan BKD", approved: "Disetujui",
  rejected: "Ditolak", signing: "Ditandatangani", completed: "Selesai", withdrawn: "Ditarik",
};
const STAGE_NAMES = {
  submitted: "Menunggu verifikasi", under_verification: "Sedang diverifikasi",
  under_approval: "Menunggu keputusan BKD", pending: "Menunggu verifikasi", done: "Selesai",
};
const CHECKS = [["original", "Asli"], ["legible", "Terbaca"], ["matches_record", "Sesuai data pegawai"]];

function stateBadge(state, name) {
  const kind = { completed: "ok", approved: "ok", returned: "warn", rejected: "bad", withdrawn: "bad" }[state] || "";
  return badge(STATE_NAMES[state] || name || state, kind);
}

function slaBadge(sla) {
  if (!sla || !sla.due) return "–";
  return sla.breached ? badge(`Lewat SLA (${date(sla.due)})`, "bad")
    : badge(`Batas ${date(sla.due)}`, sla.working_days <= 1 ? "warn" : "ok");
}

function opdOptions(ctx, withAll = true) {
  const scope = (ctx.me && ctx.me.opd_scope) || [];
  return [...(withAll ? [["", "Semua OPD saya"]] : []), ...scope.map((o) => [o, o])];
}

function tile(value, label, kind) {
  return h("div", { class: `tile${kind ? ` ${kind}` : ""}` }, h("span", { class: "value" }, String(value)),
    h("span", { class: "label" }, label));
}

function pct(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toLocaleString("id-ID")}%`;
}

// -- the OPD dashboard -------------------------------------------------------------------------

async function dashboard(main, params, ctx) {
  clear(main, h("h1", {}, "Dasbor OPD"),
    h("p", { class: "muted" }, `OPD binaan: ${(ctx.me.opd_scope || []).join(", ") || "–"}`));
  const holder = h("div", {});
  main.append(holder);
  const [completeness, queue, workload] = await busy(holder, () => Promise.all([
    api.get("/api/monev/completeness", { group: "opd" }),
    api.get("/api/verification/queue"),
    api.get("/api/monev/workload"),
  ]));
  const waiting = queue.filter((i) => !i.claimed_by).length;
  const breached = queue.filter((i) => i.sla && i.sla.breached).length;
  const employees = completeness.items.reduce((n, g) => n + (g.employees || 0), 0);
  const complete = completeness.items.reduce((n, g) => n + (g.complete || 0), 0);
  holder.append(
    h("div", { class: "tiles", id: "dashboard-tiles" },
      tile(queue.length, "Item di antrean"),
      tile(waiting, "Belum diambil"),
      tile(breached, "Lewat SLA", breached ? "bad" : ""),
      tile(employees ? pct(Math.round((complete / employees) * 1000) / 10) : "–", "Pegawai dengan data lengkap")),
    h("p", { class: "actions" }, h("a", { href: "#/fasilitator/antrean", class: "button" }, "Buka antrean verifikasi")),
    section("Kelengkapan data per OPD", table({
      caption: "Kelengkapan data dan dokumen pegawai per OPD",
      columns: [
        { key: "opd", label: "OPD", render: (g) => g.opd_name || g.opd_id },
        { key: "employees", label: "Pegawai", cls: "num" },
        { key: "complete", label: "Lengkap", cls: "num" },
        { key: "complete_percent", label: "Pegawai lengkap", cls: "num", render: (g) => pct(g.complete_percent) },
        { key: "percent", label: "Isian terisi", cls: "num", render: (g) => pct(g.percent) },
      ],
      rows: completeness.items, empty: "Belum ada pegawai di OPD Anda.",
    }), h("p", { class: "small" }, h("a", { href: "#/fasilitator/pegawai?incomplete=1" }, "Lihat pegawai yang datanya belum lengkap"))),
    section("Beban verifikasi dan SLA", table({
      caption: `Beban verifikasi dan ketepatan SLA tahun ${new Date().getFullYear()}`,
      columns: [
        { key: "opd", label: "OPD", render: (w) => w.opd_name || w.opd_id },
        { key: "waiting_verification", label: "Menunggu verifikasi", cls: "num" },
        { key: "in_verification", label: "Sedang diverifikasi", cls: "num" },
        { key: "open_over_sla", label: "Terbuka lewat SLA", cls: "num" },
        { key: "oldest_days", label: "Tertua (hari kerja)", cls: "num", render: (w) => w.oldest_days ?? "–" },
        { key: "decided", label: "Diputus", cls: "num" },
        { key: "decided_over_sla", label: "Diputus lewat SLA", cls: "num" },
        { key: "median_verification_days", label: "Median verifikasi (hari)", cls: "num",
          render: (w) => w.median_verification_days ?? "–" },
      ],
      rows: workload.items, empty: "Belum ada usulan.",
    })));
}

// -- the verification queue -------------------------------------------------------------------

async function claimAndOpen(item, ctx) {
  await api.post(`/api/verification/queue/${encodeURIComponent(item.item_id)}/claim`);
  if (item.kind === "request") {
    const id = item.item_id.split(":")[1];
    const request = await api.get(`/api/requests/${id}`);
    if (request.state === "submitted") {
      await api.post(`/api/requests/${id}/verification`, { expected_version: request.version }, { idempotent: true });
    }
    notify("Usulan diambil untuk diverifikasi.");
    ctx.navigate(`/fasilitator/usulan/${id}`);
  } else {
    notify("Usulan perubahan data diambil.");
    ctx.navigate(`/fasilitator/pegawai/${item.nip}`);
  }
}

function itemLink(item) {
  if (item.kind === "request") return `#/fasilitator/usulan/${item.item_id.split(":")[1]}`;
  return item.nip ? `#/fasilitator/pegawai/${item.nip}` : null;
}

async function queuePage(main, params, ctx) {
  const filter = ctx.query.get("opd") || "";
  const holder = h("div", { "aria-live": "polite" });
  const opdFilter = filterForm({
    id: "queue-filter", cls: "form inline-form",
    fields: [{ name: "opd", label: "OPD", type: "select", value: filter, options: opdOptions(ctx) }],
    go: (v) => ctx.navigate(withQuery("/fasilitator/antrean", { opd: v.opd })),
  });
  clear(main, h("h1", {}, "Antrean verifikasi"),
    h("p", { class: "muted" }, "Usulan layanan dan usulan perubahan data pegawai OPD Anda yang menunggu verifikasi, "
      + "tertua dahulu. Ambil satu item untuk mengerjakannya; item yang diambil orang lain tertulis namanya."),
    opdFilter, holder);
  const items = await busy(holder, () => api.get("/api/verification/queue", filter ? { opd_id: filter } : {}));
  holder.append(h("p", { id: "queue-count" }, `${items.length} item di antrean.`), table({
    caption: "Antrean verifikasi",
    columns: [
      { key: "kind", label: "Jenis", render: (i) => (i.kind === "request" ? "Usulan layanan" : "Perubahan data") },
      { key: "layanan", label: "Layanan", render: (i) => (i.confidential ? "Rahasia" : i.layanan || "–") },
      { key: "nip", label: "NIP", render: (i) => i.nip || "–" },
      { key: "opd_id", label: "OPD", render: (i) => i.opd_id || "–" },
      { key: "stage", label: "Tahap", render: (i) => STAGE_NAMES[i.stage] || i.stage },
      { key: "since", label: "Sejak", render: (i) => datetime(i.since) },
      { key: "sla", label: "SLA", render: (i) => slaBadge(i.sla) },
      { key: "claimed_by", label: "Diambil oleh", render: (i) => (i.claimed_by
        ? (i.claimed_by === ctx.me.account_id ? "Anda" : i.claimed_by) : "–") },
      { key: "act", label: "Tindakan", render: (i) => {
        const cell = h("div", { class: "actions" });
        const href = itemLink(i);
        if (href) cell.append(h("a", { href }, "Buka"));
        if (i.stage !== "under_approval" && i.claimed_by !== ctx.me.account_id) {
          cell.append(button("Ambil", async (event) => {
            event.target.disabled = true;
            try { await claimAndOpen(i, ctx); } catch (error) {
              event.target.disabled = false;
              cell.append(errorBox(error));
            }
          }, { class: "primary", "aria-label": `Ambil ${i.kind === "request" ? "usulan" : "perubahan data"} ${i.nip || ""}` }));
        }
        return cell;
      } },
    ],
    rows: items, empty: "Antrean kosong: tidak ada yang menunggu verifikasi.",
  }));
  holder.querySelector("table")?.classList.add("stack");
}

// -- one request: documents beside the record ----------------------------------------------------

function recordPanel(record) {
  const name = [record.gelar_depan, record.name, record.gelar_belakang].filter(Boolean).join(" ");
  const histories = Object.entries(record.histories || {}).filter(([, entries]) => entries.length);
  return section("Data pegawai",
    facts([["Nama", name], ["NIP", record.nip], ["Status", record.status], ["OPD", record.opd_name || record.opd_id],
      ["Unit kerja", record.unit], ["Golongan", record.golongan], ["Tanggal lahir", date(record.date_of_birth)],
      ["TMT CPNS", date(record.tmt_cpns)], ["TMT PNS", date(record.tmt_pns)], ["Pendidikan", record.education_id]]),
    histories.length ? h("h3", {}, "Riwayat terakhir") : null,
    histories.map(([kind, entries]) => {
      const last = entries[entries.length - 1];
      const shown = Object.entries(last).filter(([k, v]) => !["entry_id", "documents", "request_id",
        "output_sha256", "document_id"].includes(k) && v !== null && typeof v !== "object");
      return h("details", { class: "history" }, h("summary", {}, `${kind.replace(/_/g, " ")} (${entries.length})`),
        facts(shown.map(([k, v]) => [k.replace(/_/g, " "), String(v)])));
    }),
    h("p", { class: "small" }, h("a", { href: `#/fasilitator/pegawai/${record.nip}` }, "Buka data pegawai lengkap")));
}

function checksFieldset(code, name) {
  return h("fieldset", { class: "checks", dataset: { document: code } },
    h("legend", {}, `Penilaian: ${name}`),
    CHECKS.map(([key, label]) => field({ name: `${code}.${key}`, label, type: "checkbox" })),
    field({ name: `${code}.note`, label: "Catatan (boleh kosong)", maxlength: 500 }),
    field({ name: `${code}.reason`, label: "Alasan dikembalikan (bila dokumen ini harus diperbaiki)", type: "textarea",
            rows: 2, maxlength: 500 }));
}

function fakeForm(request, code, name, done) {
  const holder = h("div", { class: "fake-report" });
  const open = button("Laporkan dokumen tidak asli", () => {
    open.hidden = true;
    holder.append(form({
      id: `fake-${code}`, cls: "form fake-form", submit: "Kirim laporan",
      fields: [{ name: "note", label: `Mengapa ${name} dinilai tidak asli`, type: "textarea", required: true,
                 maxlength: 1000, hint: "Laporan diteruskan ke BKD beserta naskah teguran tertulis." }],
      onsubmit: async (data) => {
        const made = await api.post("/api/verification/fake-documents",
          { request_id: request.request_id, document: code, note: data.note }, { idempotent: true });
        clear(holder, h("p", { class: "notice warn", role: "status" },
          `Laporan dokumen tidak asli terkirim ke BKD (kasus ${made.case_id}).`));
        done(made);
      },
    }));
    holder.querySelector("textarea").focus();
  }, { class: "danger" });
  holder.append(open);
  return holder;
}

async function requestPage(main, params, ctx) {
  clear(main, h("h1", {}, "Verifikasi usulan"));
  const holder = h("div", {});
  main.append(holder);
  const request = await busy(holder, () => api.get(`/api/requests/${encodeURIComponent(params.id)}`));
  const [layanan, record] = await busy(holder, () => Promise.all([
    api.get(`/api/layanan/${request.layanan}`).catch(() => null),
    api.get(`/api/employees/${request.nip}`),
  ]));
  const names = Object.fromEntries(((layanan && layanan.documents) || []).map((d) => [d.code, d.nama]));
  const docs = Object.keys(request.documents || {});
  const reload = () => ctx.navigate(`/fasilitator/usulan/${request.request_id}`);
  holder.append(
    h("p", {}, (layanan && layanan.nama) || request.layanan, " · ", stateBadge(request.state, request.state_name)),
    facts([["Layanan", (layanan && layanan.nama) || request.layanan], ["NIP", request.nip], ["OPD", request.opd_id],
      ["Status", STATE_NAMES[request.state] || request.state_name], ["Diajukan oleh", request.submitted_by],
      ["Sejak", datetime(request.stage_since)],
      Object.keys(request.options || {}).length ? ["Pilihan", Object.entries(request.options).map(([k, v]) => `${k}: ${v}`).join(", ")] : null]));
  if (request.state === "submitted") {
    holder.append(h("div", { class: "actions" }, button("Ambil dan mulai verifikasi", async (event) => {
      event.target.disabled = true;
      try {
        // claimAndOpen navigates to this same page, which renders it again
        await claimAndOpen({ item_id: `request:${request.request_id}`, kind: "request" }, ctx);
      } catch (error) { event.target.disabled = false; holder.append(errorBox(error)); }
    }, { class: "primary" })));
  }
  const verifying = request.state === "under_verification";
  const docCards = docs.map((code) => {
    const name = names[code] || code;
    return h("section", { class: "card doc-card", dataset: { document: code } },
      h("h2", {}, name),
      documentViewer(`/api/requests/${request.request_id}/documents/${encodeURIComponent(code)}`,
        { label: name, fileName: `${code}.pdf` }),
      verifying ? fakeForm(request, code, name, () => notify("Laporan terkirim ke BKD.")) : null);
  });
  const checksForm = verifying ? verifyForm(request, docs, names, reload) : null;
  holder.append(h("div", { class: "verify-grid" },
    h("div", { class: "verify-docs" }, docs.length ? docCards : h("p", { class: "empty" }, "Usulan ini tanpa dokumen.")),
    h("div", { class: "verify-record" }, recordPanel(record), checksForm)));
  if (request.returns && request.returns.length) {
    holder.append(section("Riwayat pengembalian", h("ul", {}, request.returns.map((r) =>
      h("li", {}, Object.entries(r).map(([k, v]) => `${names[k] || k}: ${v}`).join("; "))))));
  }
  holder.append(h("p", {}, h("a", { href: `#/fasilitator/usulan/${request.request_id}/jejak` }, "Lihat jejak usulan")));
}

function verifyForm(request, docs, names, reload) {
  const box = h("div", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const el = h("form", { id: "verify-form", class: "form", novalidate: true },
    h("h2", {}, "Penilaian dokumen"),
    h("p", { class: "small muted" }, "Bandingkan setiap dokumen dengan data pegawai. Centang yang sesuai, lalu "
      + "nyatakan terverifikasi; atau tulis alasan pada dokumen yang harus diperbaiki, lalu kembalikan."),
    box,
    docs.map((code) => checksFieldset(code, names[code] || code)),
    field({ name: "usulan.reason", label: "Alasan umum pengembalian (boleh kosong)", type: "textarea", rows: 2, maxlength: 500 }),
    field({ name: "note", label: "Catatan untuk pegawai (boleh kosong)", type: "textarea", rows: 2, maxlength: 1000 }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary", value: "verify" }, "Nyatakan terverifikasi"),
      h("button", { type: "submit", value: "return", class: "danger" }, "Kembalikan untuk perbaikan")));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : "verify";
    const data = values(el);
    box.hidden = true;
    for (const b of el.querySelectorAll("button")) b.disabled = true;
    try {
      if (action === "verify") {
        const checks = {};
        for (const code of docs) {
          checks[code] = { original: data[`${code}.original`], legible: data[`${code}.legible`],
                           matches_record: data[`${code}.matches_record`] };
          if (data[`${code}.note`]) checks[code].note = data[`${code}.note`];
        }
        const unchecked = docs.filter((c) => !CHECKS.every(([k]) => checks[c][k]));
        if (unchecked.length) {
          throw new ApiError(422, { code: "checks_incomplete", title: "Penilaian belum lengkap",
            detail: `Dokumen ${unchecked.map((c) => names[c] || c).join(", ")} belum dinyatakan asli, terbaca dan `
              + "sesuai data. Lengkapi centangnya, atau kembalikan usulan dengan alasannya." });
        }
        await api.post(`/api/requests/${request.request_id}/verify`,
          { expected_version: request.version, checks }, { idempotent: true });
        notify("Usulan terverifikasi dan diteruskan ke BKD.");
      } else {
        const reasons = {};
        for (const code of [...docs, "usulan"]) {
          if (data[`${code}.reason`]) reasons[code] = data[`${code}.reason`];
        }
        if (!Object.keys(reasons).length) {
          throw new ApiError(422, { code: "reason_required", title: "Alasan belum diisi",
            detail: "Tulis alasan pada setiap dokumen yang harus diperbaiki (atau alasan umum)." });
        }
        const body = { expected_version: request.version, documents: reasons };
        if (data.note) body.note = data.note;
        await api.post(`/api/requests/${request.request_id}/return`, body, { idempotent: true });
        notify("Usulan dikembalikan kepada pegawai untuk diperbaiki.");
      }
      reload();
    } catch (error) {
      clear(box, errorBox(error));
      box.hidden = false;
      box.focus();
    } finally {
      for (const b of el.querySelectorAll("button")) b.disabled = false;
    }
  });
  return el;
}

async function requestTimeline(main, params) {
  clear(main, h("h1", {}, "Jejak usulan"));
  const holder = h("div", {});
  main.append(holder);
  const steps = await busy(holder, () => api.get(`/api/requests/${encodeURIComponent(params.id)}/timeline`));
  holder.append(h("ol", { class: "timeline" }, steps.map((s) => h("li", {},
    h("strong", {}, s.event), " · ", datetime(s.recorded_at),
    h("p", { class: "small" }, [s.actor_id, s.actor_role].filter(Boolean).join(" · ") || "sistem"),
    s.reason ? h("p", {}, s.reason) : null))),
  h("p", {}, h("a", { href: `#/fasilitator/usulan/${params.id}` }, "Kembali ke usulan")));
}

// -- the staff list of requests ----------------------------------------------------------------

async function requestList(main, params, ctx) {
  const q = ctx.query;
  const offset = Number(q.get("offset") || 0);
  const filters = {};
  for (const key of ["state", "layanan", "opd_id", "nip", "submitted_from", "submitted_to"]) {
    if (q.get(key)) filters[key] = q.get(key);
  }
  const holder = h("div", { "aria-live": "polite" });
  clear(main, h("h1", {}, "Daftar usulan"),
    h("p", { class: "muted" }, "Semua usulan pegawai OPD Anda, terbaru dahulu."), holder);
  const catalogue = await busy(holder, () => api.get("/api/layanan").catch(() => []));
  const go = (next, shown = filters) => ctx.navigate(withQuery("/fasilitator/usulan", { ...shown, ...next }));
  holder.before(filterForm({
    id: "request-filter", cls: "form filters", submit: "Cari", primary: true,
    fields: [
      { name: "state", label: "Status", type: "select", value: filters.state,
        options: [["", "Semua status"], ...Object.entries(STATE_NAMES)] },
      { name: "layanan", label: "Layanan", type: "select", value: filters.layanan,
        options: [["", "Semua layanan"], ...catalogue.map((l) => [l.kode, l.nama])] },
      { name: "opd_id", label: "OPD", type: "select", value: filters.opd_id, options: opdOptions(ctx) },
      { name: "nip", label: "NIP", value: filters.nip, inputmode: "numeric", maxlength: 18, pattern: "[0-9]{18}" },
      { name: "submitted_from", label: "Diajukan sejak", type: "date", value: filters.submitted_from },
      { name: "submitted_to", label: "Diajukan sampai", type: "date", value: filters.submitted_to }],
    go: (v) => go({}, v),
  }));
  const page = await busy(holder, () => api.get("/api/requests", { ...filters, limit: PAGE, offset }));
  holder.append(table({
    caption: "Usulan layanan",
    columns: [
      { key: "layanan", label: "Layanan", render: (r) => h("a", { href: `#/fasilitator/usulan/${r.request_id}` }, r.layanan_name || r.layanan) },
      { key: "nip", label: "NIP" },
      { key: "opd_id", label: "OPD" },
      { key: "state", label: "Status", render: (r) => stateBadge(r.state, r.state_name) },
      { key: "submitted_at", label: "Diajukan", render: (r) => datetime(r.submitted_at) },
      { key: "updated_at", label: "Diperbarui", render: (r) => datetime(r.updated_at) },
    ],
    rows: page.items, empty: "Tidak ada usulan yang cocok.",
  }), pager({ offset, limit: PAGE, hasMore: page.has_more, go: (o) => go({ offset: String(o) }) }));
  holder.querySelector("table")?.classList.add("stack");
}

// -- the OPD's signed outputs (issue 20 part 4) ------------------------------------------------

const OUTPUT_STATUS = { signed: ["Sah", "ok"], revoked: ["Dicabut", "bad"], superseded: ["Diganti", "warn"] };

async function signedOutputs(main, params, ctx) {
  const q = ctx.query;
  const offset = Number(q.get("offset") || 0);
  const filters = {};
  for (const key of ["opd_id", "nip"]) if (q.get(key)) filters[key] = q.get(key);
  const go = (next, shown = filters) => ctx.navigate(withQuery("/fasilitator/dokumen", { ...shown, ...next }));
  const holder = h("div", { "aria-live": "polite" });
  clear(main, h("h1", {}, "Dokumen keluaran OPD"),
    h("p", { class: "muted" }, "SK dan surat bertanda tangan elektronik untuk pegawai OPD Anda, terbaru dahulu. "
      + "Setiap unduhan dicatat. Dokumen rahasia (hukuman disiplin, teguran) hanya untuk BKD dan pegawai yang bersangkutan."),
    filterForm({
      id: "output-filter", cls: "form filters", submit: "Cari", primary: true,
      fields: [
        { name: "opd_id", label: "OPD", type: "select", value: filters.opd_id, options: opdOptions(ctx) },
        { name: "nip", label: "NIP", value: filters.nip, inputmode: "numeric", maxlength: 18, pattern: "[0-9]{18}" }],
      go: (v) => go({}, v),
    }), holder);
  const rows = await busy(holder, () => api.get("/api/opd/signed-documents", { ...filters, limit: PAGE, offset }));
  holder.append(table({
    caption: "Dokumen keluaran bertanda tangan",
    columns: [
      { key: "title", label: "Dokumen" },
      { key: "number", label: "Nomor", render: (d) => d.number || "–" },
      { key: "nip", label: "NIP" },
      { key: "opd_id", label: "OPD" },
      { key: "status", label: "Status", render: (d) => { const [l, k] = OUTPUT_STATUS[d.status] || [d.status, ""]; return badge(l, k); } },
      { key: "signed_at", label: "Ditandatangani", render: (d) => datetime(d.signed_at) },
      { key: "document_id", label: "Unduh", render: (d) => button("Unduh PDF", async () => {
        try {
          saveBlob(await api.blob(`/api/signed-documents/${encodeURIComponent(d.document_id)}/pdf`),
            `${(d.number || d.document_id).replace(/[^A-Za-z0-9._-]+/g, "_")}.pdf`);
        } catch (error) { notify(error.message || "Unduhan gagal.", "bad"); }
      }, { class: "link", "aria-label": `Unduh PDF ${d.title} ${d.number || ""}` }) },
    ],
    rows, empty: "Belum ada dokumen keluaran bertanda tangan untuk pegawai OPD Anda.",
  }), pager({ offset, limit: PAGE, hasMore: rows.length === PAGE, go: (o) => go({ offset: String(o) }) }));
  holder.querySelector("table")?.classList.add("stack");
}

// -- the OPD's employees -----------------------------------------------------------------------

const SEARCH_KEYS = ["nip", "name", "opd_id", "unit", "golongan", "jabatan", "jenis_jabatan", "status", "gender"];

async function employees(main, params, ctx) {
  const q = ctx.query;
  const offset = Number(q.get("offset") || 0);
  const incomplete = q.get("incomplete") === "1";
  const filters = {};
  for (const key of SEARCH_KEYS) if (q.get(key)) filters[key] = q.get(key);
  const go = (next, shown = filters) => ctx.navigate(withQuery("/fasilitator/pegawai", { ...shown, ...next }));
  const searchForm = filterForm({
    id: "employee-search", cls: "form filters", submit: "Cari", primary: true, attrs: { role: "search" },
    fields: [
      { name: "name", label: "Nama", value: filters.name, hint: "Sebagian nama, minimal 3 huruf." },
      { name: "nip", label: "NIP", value: filters.nip, inputmode: "numeric", maxlength: 18, hint: "18 digit, atau awalannya." },
      { name: "opd_id", label: "OPD", type: "select", value: filters.opd_id, options: opdOptions(ctx) },
      { name: "unit", label: "Unit kerja", value: filters.unit },
      { name: "jabatan", label: "Jabatan", value: filters.jabatan },
      { name: "golongan", label: "Golongan", value: filters.golongan, hint: "Mis. III/a." },
      { name: "status", label: "Status", type: "select", value: filters.status,
        options: [["", "Semua"], ["CPNS", "CPNS"], ["PNS", "PNS"], ["PPPK", "PPPK"], ["Pensiun", "Pensiun"]] },
      { name: "jenis_jabatan", label: "Jenis jabatan", type: "select", value: filters.jenis_jabatan,
        options: [["", "Semua"], ["struktural", "Struktural"], ["fungsional", "Fungsional"], ["pelaksana", "Pelaksana"]] },
      { name: "gender", label: "Jenis kelamin", type: "select", value: filters.gender,
        options: [["", "Semua"], ["L", "Laki-laki"], ["P", "Perempuan"]] }],
    extra: h("a", { href: "#/fasilitator/pegawai?incomplete=1" }, "Data belum lengkap"),
    go: (v) => go({}, v),
  });
  const holder = h("div", { "aria-live": "polite" });
  clear(main, h("h1", {}, "Pegawai OPD"), searchForm, holder);
  if (incomplete) {
    const page = await busy(holder, () => api.get("/api/monev/completeness/employees",
      { opd_id: filters.opd_id, limit: PAGE, offset }));
    holder.append(table({
      caption: "Pegawai yang data atau dokumennya belum lengkap",
      columns: [
        { key: "nip", label: "NIP", render: (e) => h("a", { href: `#/fasilitator/pegawai/${e.nip}` }, e.nip) },
        { key: "name", label: "Nama" },
        { key: "opd_id", label: "OPD" },
        { key: "missing", label: "Kurang", render: (e) => [...e.missing_fields.map((m) => m.name || m.field),
          ...e.missing_documents.map((m) => m.name || m.slot)].join(", ") || "–" },
      ],
      rows: page.items, empty: "Semua data pegawai OPD Anda lengkap.",
    }), pager({ offset, limit: PAGE, hasMore: page.has_more, go: (o) => go({ offset: String(o), incomplete: "1" }) }));
    holder.querySelector("table")?.classList.add("stack");
    return;
  }
  const page = await busy(holder, () => api.get("/api/employees", { ...filters, limit: PAGE, offset }));
  holder.append(table({
    caption: "Hasil pencarian pegawai",
    columns: [
      { key: "nip", label: "NIP", render: (e) => h("a", { href: `#/fasilitator/pegawai/${e.nip}` }, e.nip) },
      { key: "name", label: "Nama", render: (e) => [e.gelar_depan, e.name, e.gelar_belakang].filter(Boolean).join(" ") },
      { key: "opd_id", label: "OPD" },
      { key: "unit", label: "Unit kerja" },
      { key: "golongan", label: "Golongan" },
      { key: "jabatan", label: "Jabatan" },
      { key: "status", label: "Status" },
    ],
    rows: page.items, empty: "Tidak ada pegawai yang cocok.",
  }), pager({ offset, limit: PAGE, hasMore: page.has_more, go: (o) => go({ offset: String(o) }) }));
  holder.querySelector("table")?.classList.add("stack");
}

function proposalCard(record, proposal, reload) {
  const decide = (apply) => form({
    id: `decide-${proposal.change_id}-${apply ? "apply" : "reject"}`, cls: "form decide-form",
    submit: apply ? "Terapkan perubahan" : "Tolak usulan",
    fields: [{ name: "reason", label: apply ? "Alasan menerapkan" : "Alasan menolak", required: true, maxlength: 1000,
               hint: "Mis. sesuai KTP terlampir." }],
    onsubmit: async (data) => {
      await api.post(`/api/employees/${record.nip}/proposals/decision`, {
        change_id: proposal.change_id, apply, reason: data.reason, expected_version: record.version,
      }, { idempotent: true });
      notify(apply ? "Perubahan diterapkan pada data pegawai." : "Usulan perubahan ditolak.");
      reload();
    },
  });
  const docs = (proposal.documents || []).map((sha, i) => [`Dokumen ${i + 1}`, sha]);
  return h("article", { class: "card proposal", dataset: { change: proposal.change_id } },
    h("h3", {}, "Usulan perubahan"),
    table({ caption: "Data yang diusulkan berubah", columns: [
      { key: "field", label: "Kolom" }, { key: "now", label: "Kini" }, { key: "to", label: "Diusulkan" }],
      rows: Object.entries(proposal.changes || {}).map(([k, v]) => ({ field: k, now: record[k] ?? "–", to: v ?? "(kosong)" })) }),
    docs.length ? h("div", {}, h("h4", {}, "Dokumen pendukung"), docs.map(([slot, sha], i) =>
      h("details", {}, h("summary", {}, slot),
        documentViewer(`/api/employees/${record.nip}/documents/${sha}`, { label: slot, fileName: `dokumen-${i + 1}` }))))
      : null,
    h("div", { class: "grid two" }, decide(true), decide(false)));
}

async function employeePage(main, params, ctx) {
  clear(main, h("h1", {}, "Data pegawai"));
  const holder = h("div", {});
  main.append(holder);
  const nip = params.nip;
  const [record, completeness] = await busy(holder, () => Promise.all([
    api.get(`/api/employees/${encodeURIComponent(nip)}`),
    api.get(`/api/monev/completeness/employees/${encodeURIComponent(nip)}`).catch(() => null),
  ]));
  const reload = () => ctx.navigate(`/fasilitator/pegawai/${nip}`);
  const proposals = record.proposals || [];
  const slots = Object.entries(record.documents || {});
  holder.append(
    proposals.length ? h("p", { class: "notice warn", role: "status" },
      `${proposals.length} usulan perubahan data menunggu keputusan Anda.`) : null,
    h("div", { class: "grid two" },
      recordPanel(record),
      completeness ? section("Kelengkapan", h("p", {}, completeness.complete
        ? badge("Lengkap", "ok") : badge(`${completeness.present} dari ${completeness.required} isian`, "warn")),
      completeness.missing_fields.length ? h("p", {}, "Data belum diisi: ",
        completeness.missing_fields.map((m) => m.name || m.field).join(", ")) : null,
      completeness.missing_documents.length ? h("p", {}, "Dokumen belum ada: ",
        completeness.missing_documents.map((m) => m.name || m.slot).join(", ")) : null) : null),
    proposals.length ? section("Usulan perubahan menunggu", proposals.map((p) => proposalCard(record, p, reload))) : null,
    section("Dokumen pegawai", slots.length ? h("ul", { class: "doc-slots" }, slots.map(([slot, versions]) => {
      const list = Array.isArray(versions) ? versions : [versions];
      const last = list[list.length - 1] || {};
      const sha = typeof last === "string" ? last : last.sha256;
      return h("li", {}, h("details", {}, h("summary", {}, `${slot.replace(/_/g, " ")} (${list.length} versi)`),
        sha ? documentViewer(`/api/employees/${record.nip}/documents/${sha}`, { label: slot, fileName: `${slot}.pdf` }) : null));
    })) : h("p", { class: "empty" }, "Belum ada dokumen.")),
    h("p", {}, h("a", { href: `#/fasilitator/usulan?nip=${record.nip}` }, "Usulan layanan pegawai ini")));
}

// -- bulk import ------------------------------------------------------------------------------

function importPage(main, params, ctx) {
  clear(main, h("h1", {}, "Impor data pegawai"),
    h("p", {}, "Daftarkan atau perbarui banyak pegawai satu OPD sekaligus dari berkas CSV (UTF-8, pemisah koma "
      + "atau titik koma) atau XLSX. Baris pertama berisi judul kolom; wajib: NIP, nama, tanggal lahir, jenis "
      + "kelamin, status. Baris yang bermasalah tidak disimpan dan dilaporkan per baris; baris lain tetap diimpor."),
    form({
      id: "import-form", submit: "Unggah dan impor",
      fields: [
        { name: "opd_id", label: "OPD", type: "select", required: true, options: opdOptions(ctx, false),
          value: (ctx.me.opd_scope || [])[0] },
        { name: "file", label: "Berkas CSV atau XLSX", type: "file", required: true,
          accept: ".csv,text/csv,.xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          hint: "Paling besar 64 MB. NIP dan NIK sebagai teks." },
      ],
      onsubmit: async (data) => {
        const file = data.file[0];
        const job = await api.upload("/api/employee-imports", file,
          { query: { opd_id: data.opd_id, file_name: file.name.slice(0, 200) } });
        notify("Berkas diterima; impor berjalan.");
        ctx.navigate(`/fasilitator/impor/${job.import_id}`);
      },
    }),
    h("p", { class: "small" }, "Panduan kolom berkas: lihat panduan ", h("em", {}, "Data pegawai"), ", bagian Impor massal."));
}

const IMPORT_STATUS = { running: ["Sedang berjalan", "warn"], completed: ["Selesai", "ok"], failed: ["Gagal", "bad"] };

async function importReport(main, params, ctx) {
  const offset = Number(ctx.query.get("offset") || 0);
  const holder = h("div", {});
  clear(main, h("h1", {}, "Laporan impor"), holder);
  let job = await busy(holder, () => api.get(`/api/employee-imports/${encodeURIComponent(params.id)}`, { offset, limit: 100 }));
  const progressHolder = h("div", { "aria-live": "polite" });
  const body = h("div", {});
  holder.append(progressHolder, body);
  const show = () => {
    const [label, kind] = IMPORT_STATUS[job.status] || [job.status, ""];
    clear(progressHolder,
      h("p", { id: "import-status", dataset: { status: job.status } }, "Status: ", badge(label, kind),
        ` · ${job.file_name} · OPD ${job.opd_id}`),
      job.status === "running" ? h("div", {}, h("label", { for: "import-progress" }, `Baris diproses: ${job.total_rows}`),
        h("progress", { id: "import-progress", max: Math.max(job.total_rows + 1, job.rows_done || 1) })) : null,
      job.error ? h("p", { class: "problem" }, job.error) : null);
    clear(body,
      h("div", { class: "tiles", id: "import-tiles" },
        tile(job.registered, "Pegawai baru"), tile(job.updated, "Diperbarui"),
        tile(job.unchanged, "Tidak berubah"), tile(job.invalid, "Baris bermasalah", job.invalid ? "bad" : "")),
      facts([["Dimulai", datetime(job.started_at)], ["Oleh", job.started_by], ["Selesai", datetime(job.finished_at)],
        ["Baris data", job.total_rows]]),
      section("Baris bermasalah", table({
        caption: "Masalah per baris (judul = baris 1)",
        columns: [
          { key: "row", label: "Baris", cls: "num" },
          { key: "nip", label: "NIP" },
          { key: "problems", label: "Masalah", render: (p) => h("ul", {}, p.problems.map((x) =>
            h("li", {}, `${x.field ? `${x.field}: ` : ""}${x.message || x.code}`))) },
        ],
        rows: job.problems || [], empty: "Tidak ada baris bermasalah.",
      }), (job.invalid > 100 || offset) ? pager({ offset, limit: 100, hasMore: offset + 100 < job.invalid,
        go: (o) => ctx.navigate(`/fasilitator/impor/${params.id}?offset=${o}`) }) : null),
      h("p", {}, h("a", { href: "#/fasilitator/impor" }, "Impor berkas lain")));
    body.querySelector("table")?.classList.add("stack");
  };
  show();
  // poll while the report is on screen: another page, or the clear-screen lock, ends it
  const shown = () => holder.isConnected;
  while (job.status === "running" && shown()) {
    await new Promise((resolve) => { setTimeout(resolve, 1000); });
    if (!shown()) return;
    try {
      job = await api.get(`/api/employee-imports/${encodeURIComponent(params.id)}`, { offset, limit: 100 });
    } catch (error) {
      progressHolder.append(errorBox(error));
      return;
    }
    show();
  }
  if (job.status !== "running") notify(job.status === "completed" ? "Impor selesai." : "Impor gagal.");
}

export const routes = [
  { path: "/fasilitator", title: "Dasbor OPD", roles: ROLES, menu: "Dasbor OPD", render: dashboard },
  { path: "/fasilitator/antrean", title: "Antrean verifikasi", roles: ROLES, menu: "Antrean verifikasi", render: queuePage },
  { path: "/fasilitator/usulan", title: "Daftar usulan", roles: ROLES, menu: "Daftar usulan", render: requestList },
  { path: "/fasilitator/usulan/:id", title: "Verifikasi usulan", roles: ROLES, render: requestPage },
  { path: "/fasilitator/usulan/:id/jejak", title: "Jejak usulan", roles: ROLES, render: requestTimeline },
  { path: "/fasilitator/dokumen", title: "Dokumen keluaran OPD", roles: ROLES, menu: "Dokumen keluaran", render: signedOutputs },
  { path: "/fasilitator/pegawai", title: "Pegawai OPD", roles: ROLES, menu: "Pegawai OPD", render: employees },
  { path: "/fasilitator/pegawai/:nip", title: "Data pegawai", roles: ROLES, render: employeePage },
  { path: "/fasilitator/impor", title: "Impor data pegawai", roles: ROLES, menu: "Impor data pegawai", render: importPage },
  { path: "/fasilitator/impor/:id", title: "Laporan impor", roles: ROLES, render: importReport },
];
