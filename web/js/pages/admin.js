// The administrator's (BKD's) pages: the dashboard, approvals with four eyes, the layanan
// catalogue's governance (a new SOP version, deactivation by decree, the yearly evaluation),
// accounts and access review, and the signed documents (revoke, re-issue, retry). Every action
// calls the same gateway routes any client does; the API decides and its problem is shown.

import { api, ApiError } from "../api.js";
import {
  badge, busy, button, clear, date, datetime, errorBox, facts, field, filterForm, form, h, link,
  notify, pager, saveBlob, section, table, withQuery,
} from "../ui.js";

const ADMIN = ["administrator"];
const PAGE = 20;

const STATE_KIND = { approved: "ok", completed: "ok", rejected: "bad", withdrawn: "",
                     returned: "warn", under_approval: "warn", signing: "warn" };
const DOC_STATUS = {
  pending: ["Menunggu tanda tangan", "warn"], waiting_key: ["Menunggu kunci penanda tangan", "warn"],
  waiting_passphrase: ["Menunggu passphrase pejabat", "warn"],
  failed: ["Gagal", "bad"], signed: ["Sah", "ok"], revoked: ["Dicabut", "bad"],
  superseded: ["Diganti", ""],
};
const STEPS = { RequestDrafted: "Draf dibuat", RequestDocumentsChanged: "Dokumen dilengkapi",
                RequestSubmitted: "Diajukan", RequestClaimed: "Diambil dari antrean",
                VerificationStarted: "Verifikasi dimulai", RequestReturned: "Dikembalikan untuk perbaikan",
                RequestVerified: "Diverifikasi", RequestApproved: "Disetujui", RequestRejected: "Ditolak",
                RequestWithdrawn: "Ditarik", RequestCompleted: "Selesai (dokumen ditandatangani)",
                OutputReplaced: "Dokumen keluaran diganti" };
const ROLE_NAMES = { pegawai: "Pegawai", fasilitator: "Fasilitator", administrator: "Administrator",
                     auditor: "Auditor" };
const FINDINGS = { never_used: "belum pernah dipakai", stale: "lama tidak masuk",
                   no_second_factor: "tanpa OTP", agreement_expiring: "perjanjian segera berakhir",
                   agreement_expired: "perjanjian berakhir", disabled_with_roles: "nonaktif tetapi masih berperan" };
const ACCOUNT_STATUS = { active: ["Aktif", "ok"], disabled: ["Nonaktif", "bad"],
                         pending: ["Belum aktif", "warn"] };

// what an approval records in the employee's data, per layanan (shared/contracts/requests.py
// OUTCOMES); a layanan not listed changes nothing
const TMT = { name: "tmt", label: "TMT (terhitung mulai tanggal)", type: "date", required: true };
const MASA_KERJA = [
  { name: "masa_kerja_tahun", label: "Masa kerja golongan (tahun)", type: "number", min: 0, max: 60, int: true },
  { name: "masa_kerja_bulan", label: "Masa kerja golongan (bulan)", type: "number", min: 0, max: 11, int: true },
];
const CARD = [{ name: "nomor_kartu", label: "Nomor kartu", required: true }];
const EXAM = [{ name: "tanggal_lulus", label: "Tanggal lulus", type: "date" }];
const OUTCOMES = {
  KENAIKAN_PANGKAT: [{ name: "golongan", label: "Golongan ruang baru (mis. III/d)", required: true }, TMT, ...MASA_KERJA],
  KGB: [TMT, { name: "gaji_pokok", label: "Gaji pokok baru (rupiah)", type: "number", min: 1, required: true, int: true }, ...MASA_KERJA],
  MUTASI: [
    { name: "opd_id", label: "Kode OPD tujuan", required: true }, { name: "unit", label: "Unit", required: true },
    { name: "jenis_jabatan", label: "Jenis jabatan", type: "select", required: true,
      options: [["struktural", "Struktural"], ["fungsional", "Fungsional"], ["pelaksana", "Pelaksana"]] },
    { name: "nama_jabatan", label: "Nama jabatan", required: true }, { name: "eselon", label: "Eselon" }, TMT],
  PINDAH_JAB_PELAKSANA: [{ name: "nama_jabatan", label: "Nama jabatan", required: true },
    { name: "unit", label: "Unit baru (bila berpindah)" }, TMT],
  PENSIUN: [{ name: "tmt_pensiun", label: "TMT pensiun", type: "date", required: true },
    { name: "jenis_pensiun", label: "Jenis pensiun", type: "select",
      options: [["BUP", "Batas usia pensiun"], ["APS", "Atas permintaan sendiri"], ["janda_duda", "Janda/duda"],
                ["tewas", "Tewas"], ["uzur", "Uzur"]] }],
  CPNS_PNS: [{ name: "tmt_pns", label: "TMT PNS", type: "date", required: true }],
  SATYALANCANA: [{ name: "tingkat", label: "Tingkat (tahun masa kerja)", type: "select", required: true, int: true,
                   options: [["10", "10 tahun"], ["20", "20 tahun"], ["30", "30 tahun"]] },
    { name: "keppres_nomor", label: "Nomor Keppres" }, { name: "keppres_tanggal", label: "Tanggal Keppres", type: "date" }],
  KARIS_KARSU: CARD, KARPEG: CARD, TASPEN: CARD,
  KARTU_KESEHATAN: [{ name: "nomor_kartu", label: "Nomor kartu BPJS Kesehatan (13 digit)", required: true,
                      inputmode: "numeric", pattern: "[0-9]{13}" }],
  IZIN_BELAJAR: [{ name: "education_id", label: "Jenjang (kode SIASN)", required: true },
    { name: "programme", label: "Program studi", required: true },
    { name: "institution", label: "Perguruan tinggi", required: true }, { name: "mulai", label: "Mulai", type: "date" }],
  UJIAN_DINAS: EXAM, UPKP: EXAM, UJIAN_KP_PEMBINA: EXAM,
};

// -- small helpers ---------------------------------------------------------------------------

function stateBadge(state, name) { return badge(name || state, STATE_KIND[state] || ""); }
function docBadge(status) {
  const [text, kind] = DOC_STATUS[status] || [status, ""];
  return badge(text, kind);
}
function list(answer) { return Array.isArray(answer) ? answer : (answer && answer.items) || []; }
function csv(text) { return (text || "").split(/[\s,]+/).map((s) => s.trim()).filter(Boolean); }
function back(href, text) { return h("p", { class: "back" }, link(href, `‹ ${text}`)); }
function reasonField(label = "Alasan", hint = "Tercatat di log beserta akun Anda, mis. nomor SK atau tiket.") {
  return { name: "reason", label, type: "textarea", required: true, hint, maxlength: 1000 };
}
/** A heading and the page's own loading area. */
function page(main, title, ...intro) {
  const body = h("div", {});
  clear(main, h("h1", {}, title), intro, body);
  return body;
}
async function download(path, name, holder) {
  try {
    saveBlob(await api.blob(path), name);
  } catch (error) {
    holder.append(errorBox(error));
  }
}

// -- dashboard -------------------------------------------------------------------------------

async function count(promise) {
  const answer = await promise;
  const items = list(answer);
  return answer && answer.has_more ? `${items.length}+` : String(items.length);
}

function tile(label, value, href) {
  const inner = [h("span", { class: "value" }, value), h("span", { class: "label" }, label)];
  return h("div", { class: "tile" }, href ? h("a", { href, class: "tile-link" }, inner) : inner);
}

async function dashboard(main) {
  const body = page(main, "Dasbor BKD",
    h("p", { class: "muted" }, "Ringkasan pekerjaan BKD saat ini: antrean, kelengkapan data per OPD, dan dokumen yang belum ditandatangani."));
  const tiles = h("div", { class: "tiles bkd-tiles", "aria-live": "polite" });
  body.append(section("Antrean", tiles));
  const parts = [
    ["Menunggu persetujuan", () => count(api.get("/api/requests", { state: "under_approval", limit: 200 })), "#/bkd/persetujuan"],
    ["Menunggu verifikasi", () => count(api.get("/api/requests", { state: "submitted", limit: 200 })), null],
    ["Sedang diverifikasi", () => count(api.get("/api/requests", { state: "under_verification", limit: 200 })), null],
    ["Permintaan akses", () => count(api.get("/api/access-requests", { status: "pending" })), "#/bkd/akses"],
    ["Menunggu tanda tangan", () => count(api.get("/api/signed-documents", { status: "pending", limit: 200 })), "#/bkd/dokumen?status=pending"],
    ["Menunggu kunci", () => count(api.get("/api/signed-documents", { status: "waiting_key", limit: 200 })), "#/bkd/dokumen?status=waiting_key"],
    ["Gagal ditandatangani", () => count(api.get("/api/signed-documents", { status: "failed", limit: 200 })), "#/bkd/dokumen?status=failed"],
  ];
  const settled = await busy(tiles, () => Promise.allSettled(parts.map(([, work]) => work())));
  settled.forEach((result, i) => {
    const [label, , href] = parts[i];
    tiles.append(tile(label, result.status === "fulfilled" ? result.value : "–", href));
  });
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) tiles.after(errorBox(failed.reason));

  const completeness = h("div", {});
  body.append(section("Kelengkapan data per OPD", completeness));
  try {
    const rollup = await busy(completeness, () => api.get("/api/monev/completeness", { group: "opd" }));
    completeness.append(table({
      caption: "Kelengkapan data pegawai per OPD",
      columns: [
        { key: "opd", label: "OPD", render: (r) => r.opd_name || r.opd_id || "Tanpa OPD" },
        { key: "employees", label: "Pegawai", cls: "num" },
        { key: "complete", label: "Lengkap", cls: "num" },
        { key: "percent", label: "Isian terisi", cls: "num", render: (r) => (r.percent == null ? "–" : `${r.percent}%`) },
      ],
      rows: list(rollup), empty: "Belum ada data kelengkapan.",
    }));
    completeness.querySelector("table")?.classList.add("stack");
  } catch { /* shown by busy */ }
}

// -- approvals (four eyes) -------------------------------------------------------------------

async function approvals(main, params, ctx) {
  const state = ctx.query.get("state") || "under_approval";
  const offset = Number(ctx.query.get("offset") || 0);
  const body = page(main, "Persetujuan usulan",
    h("p", {}, "Usulan yang sudah diverifikasi menunggu keputusan BKD. Prinsip empat mata: "
      + "administrator yang memverifikasi usulan tidak dapat juga memutusnya."));
  body.append(filterForm({
    id: "approval-filter",
    fields: [{ name: "state", label: "Tahap", type: "select", value: state, options: [
      ["under_approval", "Menunggu persetujuan"], ["submitted", "Diajukan"],
      ["under_verification", "Sedang diverifikasi"], ["returned", "Dikembalikan"],
      ["approved", "Disetujui"], ["signing", "Penandatanganan"], ["completed", "Selesai"],
      ["rejected", "Ditolak"]] }],
    go: (v) => ctx.navigate(withQuery("/bkd/persetujuan", { state: v.state })),
  }));
  const holder = h("div", {});
  body.append(holder);
  const answer = await busy(holder, () => api.get("/api/requests", { state, limit: PAGE, offset }));
  holder.append(table({
    caption: "Daftar usulan",
    columns: [
      { key: "layanan", label: "Layanan", render: (r) => link(`#/bkd/persetujuan/${encodeURIComponent(r.request_id)}`, r.layanan_name || r.layanan) },
      { key: "nip", label: "NIP" },
      { key: "opd_id", label: "OPD" },
      { key: "state", label: "Tahap", render: (r) => stateBadge(r.state, r.state_name) },
      { key: "updated_at", label: "Sejak", render: (r) => datetime(r.updated_at) },
    ],
    rows: answer.items, empty: "Tidak ada usulan pada tahap ini.",
  }));
  holder.querySelector("table")?.classList.add("stack");
  holder.append(pager({ offset, limit: PAGE, hasMore: answer.has_more,
    go: (next) => ctx.navigate(withQuery("/bkd/persetujuan", { state, offset: next })) }));
}

function outcomeFields(layanan) {
  return (OUTCOMES[layanan] || []).map((spec) => ({ ...spec, name: `outcome_${spec.name}` }));
}

function outcomeOf(layanan, data) {
  const out = {};
  for (const spec of OUTCOMES[layanan] || []) {
    const value = data[`outcome_${spec.name}`];
    if (value === undefined || value === "") continue;
    out[spec.name] = spec.int || spec.type === "number" ? Number(value) : value;
  }
  return out;
}

/** The API names a decision's outcome fields `outcome.<x>`; the form calls them outcome_<x>. */
function onOutcomeFields(error) {
  if (!(error instanceof ApiError)) return error;
  if (error.field && error.field.startsWith("outcome.")) error.field = error.field.replace("outcome.", "outcome_");
  if (error.details && typeof error.details === "object" && error.details.outcome
      && typeof error.details.outcome === "object" && !Array.isArray(error.details.outcome)) {
    for (const [key, messages] of Object.entries(error.details.outcome)) error.details[`outcome_${key}`] = messages;
    delete error.details.outcome;
  }
  return error;
}

function fourEyesNotice(error) {
  return h("div", { class: "notice warn four-eyes", role: "alert", dataset: { code: "four-eyes" } },
    h("strong", {}, "Empat mata: keputusan ditolak sistem"),
    h("p", {}, error.message),
    h("p", {}, "Yang memverifikasi, mengajukan, atau pegawai yang bersangkutan tidak boleh memutus usulan ini. "
      + "Mintalah administrator BKD lain untuk memberi keputusan."));
}

async function approval(main, params, ctx) {
  const id = params.id;
  const body = page(main, "Keputusan usulan", back("#/bkd/persetujuan", "Daftar usulan"));
  const [request, timeline] = await busy(body, () => Promise.all([
    api.get(`/api/requests/${encodeURIComponent(id)}`),
    api.get(`/api/requests/${encodeURIComponent(id)}/timeline`)]));
  const steps = list(timeline);
  const verified = [...steps].reverse().find((s) => s.event === "RequestVerified");
  const verifier = verified ? verified.actor_id : null;
  const me = ctx.me.account_id;
  const involved = verifier === me || request.nip === me || request.submitted_by === me
    || (request.prepared_by || []).includes(me);
  body.append(section("Usulan", facts([
    ["Layanan", request.layanan], ["NIP", request.nip], ["OPD", request.opd_id],
    ["Tahap", stateBadge(request.state, request.state_name)],
    ["Diajukan oleh", request.submitted_by], ["Diverifikasi oleh", verifier || "–"],
    request.decision_reason ? ["Alasan keputusan", request.decision_reason] : null,
    ["ID usulan", request.request_id],
  ])));
  const docs = Object.keys(request.documents || {});
  if (docs.length) {
    const docHolder = h("div", {});
    docHolder.append(h("ul", { class: "plain" }, docs.map((code) => h("li", {},
      button(`Unduh ${code}`, () => download(`/api/requests/${encodeURIComponent(id)}/documents/${encodeURIComponent(code)}`,
        `${request.layanan}-${code}`, docHolder))))));
    body.append(section("Dokumen usulan", docHolder));
  }
  body.append(section("Jejak usulan", h("ol", { class: "timeline" }, steps.map((s) => h("li", {},
    h("strong", {}, STEPS[s.event] || s.event), " · ", datetime(s.recorded_at), " · ", s.actor_id || "sistem",
    s.reason ? h("p", { class: "small muted" }, s.reason) : null)))));

  if (request.state !== "under_approval") {
    body.append(h("p", { class: "notice" }, "Usulan ini tidak sedang menunggu persetujuan."));
    return;
  }
  const decision = h("section", { class: "card", id: "decision" }, h("h2", {}, "Keputusan"));
  if (involved) {
    decision.append(h("p", { class: "notice warn", dataset: { code: "four-eyes-hint" } },
      verifier === me
        ? "Anda yang memverifikasi usulan ini. Menurut prinsip empat mata, keputusan harus diberikan administrator lain; sistem akan menolak keputusan Anda."
        : "Anda ikut menyusun atau mengajukan usulan ini. Keputusan harus diberikan administrator lain; sistem akan menolak keputusan Anda."));
  }
  const outcome = outcomeFields(request.layanan);
  const outcomeBox = outcome.length ? h("fieldset", { class: "outcome" },
    h("legend", {}, "Isi keputusan (wajib bila disetujui; dicatat pada data pegawai)"),
    outcome.map((spec) => field({ ...spec, required: false }))) : null;
  const formEl = form({
    id: "decision-form", submit: "Simpan keputusan",
    fields: [
      { name: "approve", label: "Keputusan", type: "select", required: true, value: "",
        options: [["", "— pilih —"], ["yes", "Setujui"], ["no", "Tolak"]] },
      reasonField("Alasan keputusan", "Alasan ini dikirim kepada pegawai dan tercatat di jejak usulan."),
    ],
    extra: outcomeBox,
    onsubmit: async (data) => {
      const approve = data.approve === "yes";
      const payload = { expected_version: request.version, approve, reason: data.reason };
      if (approve) payload.outcome = outcomeOf(request.layanan, data);
      decision.querySelector(".four-eyes")?.remove();
      try {
        const done = await api.post(`/api/requests/${encodeURIComponent(id)}/decision`, payload, { idempotent: true });
        notify(approve ? "Usulan disetujui; dokumen keluaran disiapkan untuk ditandatangani." : "Usulan ditolak.");
        clear(decision, h("h2", {}, "Keputusan"), h("p", { class: "notice ok", role: "status", dataset: { state: done.state } },
          `Keputusan tersimpan: ${done.state_name || done.state}.`));
      } catch (error) {
        if (error instanceof ApiError && error.status === 403 && error.field === "actor") {
          const notice = fourEyesNotice(error);
          formEl.before(notice);
          notice.setAttribute("tabindex", "-1");
          notice.focus();
          return;
        }
        throw onOutcomeFields(error);
      }
    },
  });
  decision.append(formEl);
  body.append(decision);
}

// -- the layanan catalogue -------------------------------------------------------------------

async function catalogue(main) {
  const body = page(main, "Katalog layanan",
    h("p", {}, "Perubahan layanan memerlukan persetujuan tim SIMASN dan SOP versi baru; "
      + "layanan dinonaktifkan dengan keputusan Kepala BKD."),
    h("p", {}, link("#/bkd/evaluasi", "Evaluasi tahunan layanan ›")));
  const items = await busy(body, () => api.get("/api/layanan"));
  body.append(table({
    caption: "Layanan kepegawaian",
    columns: [
      { key: "kode", label: "Kode", render: (l) => link(`#/bkd/layanan/${encodeURIComponent(l.kode)}`, l.kode) },
      { key: "nama", label: "Nama" },
      { key: "sop", label: "SOP", render: (l) => (l.sop ? `${l.sop.nomor || "–"} v${l.sop.versi ?? "–"}` : "–") },
      { key: "sla_hari_kerja", label: "SLA (hari kerja)", cls: "num" },
      { key: "active", label: "Status", render: (l) => (l.active ? badge("Aktif", "ok") : badge("Nonaktif", "bad")) },
    ],
    rows: list(items),
  }));
  body.querySelector("table")?.classList.add("stack");
}

async function layananPage(main, params) {
  const kode = params.kode;
  const body = page(main, `Layanan ${kode}`, back("#/bkd/layanan", "Katalog layanan"));
  const holder = h("div", {});
  body.append(holder);
  const show = (l) => {
    clear(holder,
      section(l.nama, facts([
        ["Kode", l.kode], ["Status", l.active ? badge("Aktif", "ok") : badge("Nonaktif", "bad")],
        ["Versi katalog", l.version], ["SOP", l.sop ? `${l.sop.nomor || "–"} versi ${l.sop.versi ?? "–"}` : "–"],
        ["SLA", `${l.sla_hari_kerja} hari kerja`], ["Keluaran", l.output], ["Penerbit keluaran", l.penerbit_output],
        ["Pengaju", (l.submitters || []).map((r) => ROLE_NAMES[r] || r).join(", ")],
        ["Deskripsi", l.deskripsi],
        l.decree_number ? ["Keputusan penonaktifan", `${l.decree_number} (${date(l.decree_date)})`] : null,
      ]),
      h("h3", {}, "Dokumen persyaratan"),
      h("ul", {}, (l.documents || []).map((d) => h("li", {}, d.nama, d.mandatory ? "" : " (bila berlaku)"))),
      h("h3", {}, "Dasar hukum"),
      h("ul", {}, (l.dasar_hukum || []).map((d) => h("li", {}, d)))),
      l.active ? changeCard(l, show) : null,
      l.active ? deactivateCard(l, show) : h("p", { class: "notice warn" }, "Layanan ini nonaktif: tidak dapat diusulkan lagi."));
  };
  show(await busy(holder, () => api.get(`/api/layanan/${encodeURIComponent(kode)}`)));
}

function changeCard(l, show) {
  const nextVersion = Number((l.sop && l.sop.versi) || 0) + 1;
  return section("Ubah layanan (SOP baru)", h("p", { class: "hint" },
    "Isi hanya yang berubah. Setiap perubahan berlaku dengan SOP versi baru dan nomor berita acara persetujuan tim SIMASN."),
  form({
    id: "layanan-change-form", submit: "Simpan perubahan",
    fields: [
      { name: "nama", label: "Nama layanan", value: l.nama },
      { name: "deskripsi", label: "Deskripsi", type: "textarea", value: l.deskripsi, maxlength: 2000 },
      { name: "sla_hari_kerja", label: "SLA (hari kerja)", type: "number", min: 1, max: 365, value: l.sla_hari_kerja },
      { name: "output", label: "Keluaran", value: l.output },
      { name: "sop_nomor", label: "Nomor SOP baru", required: true, value: (l.sop && l.sop.nomor) || "" },
      { name: "sop_versi", label: "Versi SOP baru", type: "number", required: true, min: nextVersion, value: nextVersion },
      { name: "approval", label: "Nomor berita acara persetujuan tim SIMASN", required: true },
      reasonField("Alasan perubahan"),
    ],
    onsubmit: async (data) => {
      const changes = {};
      if (data.nama && data.nama !== l.nama) changes.nama = data.nama;
      if (data.deskripsi !== (l.deskripsi || "").trim()) changes.deskripsi = data.deskripsi;
      if (data.sla_hari_kerja && Number(data.sla_hari_kerja) !== l.sla_hari_kerja) changes.sla_hari_kerja = Number(data.sla_hari_kerja);
      if (data.output && data.output !== l.output) changes.output = data.output;
      if (!Object.keys(changes).length) changes.sla_hari_kerja = l.sla_hari_kerja; // a new SOP alone
      const changed = await api.put(`/api/layanan/${encodeURIComponent(l.kode)}`, {
        changes, sop: { nomor: data.sop_nomor, versi: Number(data.sop_versi) },
        approval: { reference: data.approval }, reason: data.reason });
      notify(`Layanan ${l.kode} diubah: SOP versi ${changed.sop ? changed.sop.versi : data.sop_versi}.`);
      show(changed);
    },
  }));
}

function deactivateCard(l, show) {
  return section("Nonaktifkan layanan", h("p", { class: "hint" },
    "Layanan yang dinonaktifkan tidak dapat diusulkan lagi; usulan yang sedang berjalan tetap diproses."),
  form({
    id: "layanan-deactivate-form", submit: "Nonaktifkan", cls: "form danger-zone",
    fields: [
      { name: "decree_number", label: "Nomor keputusan Kepala BKD", required: true },
      { name: "decree_date", label: "Tanggal keputusan", type: "date", required: true },
      reasonField("Alasan penonaktifan"),
    ],
    onsubmit: async (data) => {
      const done = await api.post(`/api/layanan/${encodeURIComponent(l.kode)}/deactivate`, data, { idempotent: true });
      notify(`Layanan ${l.kode} dinonaktifkan.`);
      show(done);
    },
  }));
}

// -- the yearly evaluation -------------------------------------------------------------------

/** A rate of the evaluation (a fraction, 0-1) as a percentage. */
function pct(value) { return value == null ? "–" : `${(100 * Number(value)).toFixed(1)}%`; }

async function evaluation(main, params, ctx) {
  const year = Number(ctx.query.get("tahun") || new Date().getFullYear());
  const body = page(main, "Evaluasi tahunan layanan", back("#/bkd/layanan", "Katalog layanan"));
  body.append(filterForm({
    id: "evaluation-year",
    fields: [{ name: "tahun", label: "Tahun", type: "number", min: 2000, max: 2100, value: year }],
    go: (v) => ctx.navigate(withQuery("/bkd/evaluasi", { tahun: v.tahun })),
  }));
  const figures = h("div", {});
  body.append(section(`Angka layanan ${year}`, figures));
  try {
    const rows = await busy(figures, () => api.get(`/api/layanan-evaluations/${year}`));
    figures.append(table({
      caption: `Kinerja setiap layanan tahun ${year}`,
      columns: [
        { key: "layanan", label: "Layanan" }, { key: "volume", label: "Usulan", cls: "num" },
        { key: "approved", label: "Disetujui", cls: "num" }, { key: "rejected", label: "Ditolak", cls: "num" },
        { key: "return_rate", label: "Dikembalikan", cls: "num", render: (r) => pct(r.return_rate) },
        { key: "turnaround_median_days", label: "Median hari", cls: "num", render: (r) => r.turnaround_median_days ?? "–" },
        { key: "sla_breaches", label: "Lewat SLA", cls: "num" },
      ],
      rows: list(rows), empty: "Belum ada usulan pada tahun ini.",
    }));
  } catch { /* shown by busy */ }

  const recorded = h("div", {});
  body.append(section("Evaluasi yang dicatat dan ditandatangani", recorded));
  let current = null;
  try {
    current = await api.get(`/api/monev/evaluations/${year}`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) recorded.append(errorBox(error));
  }
  if (current) {
    const docHolder = h("div", {});
    recorded.append(facts([
      ["Status", current.status], ["Nomor laporan", current.number], ["Penanda tangan", current.signer],
      ["Dicatat", `${datetime(current.recorded_at)} oleh ${current.recorded_by}`],
      ["Ditandatangani", datetime(current.signed_at)], ["Revisi", current.revision], ["Catatan", current.notes],
    ]), docHolder);
    if (current.document_id) {
      docHolder.append(button("Unduh PDF evaluasi", () => download(
        `/api/signed-documents/${encodeURIComponent(current.document_id)}/pdf`, `evaluasi-layanan-${year}.pdf`, docHolder)));
    }
  } else {
    recorded.append(h("p", { class: "empty" }, `Evaluasi tahun ${year} belum dicatat.`));
  }
  recorded.append(h("h3", {}, current ? "Ralat evaluasi" : "Catat evaluasi"), form({
    id: "evaluation-form", submit: current ? "Catat ralat" : "Catat dan tanda tangani",
    fields: [
      { name: "signer", label: "Akun pejabat penanda tangan", required: true, hint: "Nama pengguna pejabat yang memiliki sertifikat tanda tangan." },
      { name: "notes", label: "Catatan", type: "textarea", maxlength: 2000 },
      current ? reasonField("Alasan ralat") : null,
    ].filter(Boolean),
    onsubmit: async (data) => {
      const payload = { signer: data.signer };
      if (data.notes) payload.notes = data.notes;
      if (current) { payload.correction = true; payload.reason = data.reason; }
      await api.post(`/api/monev/evaluations/${year}`, payload);
      notify("Evaluasi dicatat; PDF-nya ditandatangani.");
      ctx.navigate(`/bkd/evaluasi?tahun=${year}`);
    },
  }));
}

// -- accounts --------------------------------------------------------------------------------

let opdCache = null;
async function opds() {
  if (!opdCache) opdCache = await api.get("/api/opds");
  return opdCache;
}
function opdOptions(all, first = ["", "— semua OPD —"]) {
  return [first, ...all.map((o) => [o.code, `${o.name} (${o.code})`])];
}

async function accounts(main, params, ctx) {
  const opd = ctx.query.get("opd") || "";
  const role = ctx.query.get("peran") || "";
  const offset = Number(ctx.query.get("offset") || 0);
  const body = page(main, "Akun dan peran",
    h("p", {}, link("#/bkd/akun-baru", "Daftarkan akun baru ›"), " · ", link("#/bkd/akses", "Permintaan dan tinjauan akses ›")));
  const all = await busy(body, () => opds());
  body.append(filterForm({
    id: "account-filter",
    fields: [
      { name: "opd", label: "OPD induk", type: "select", value: opd, options: opdOptions(all) },
      { name: "peran", label: "Peran", type: "select", value: role,
        options: [["", "— semua peran —"], ...Object.entries(ROLE_NAMES)] }],
    go: (v) => ctx.navigate(withQuery("/bkd/akun", { opd: v.opd, peran: v.peran })),
  }));
  const holder = h("div", {});
  body.append(holder);
  const answer = await busy(holder, () => api.get("/api/accounts", { opd_id: opd, role, limit: PAGE, offset }));
  holder.append(h("p", { class: "muted" }, `${answer.total} akun.`), table({
    caption: "Daftar akun",
    columns: [
      { key: "account_id", label: "Akun", render: (a) => link(`#/bkd/akun/${encodeURIComponent(a.account_id)}`, a.account_id) },
      { key: "display_name", label: "Nama" },
      { key: "roles", label: "Peran", render: (a) => (a.roles || []).map((r) => ROLE_NAMES[r] || r).join(", ") },
      { key: "opd", label: "OPD", render: (a) => a.home_opd || (a.opd_scope || []).join(", ") || "–" },
      { key: "status", label: "Status", render: (a) => accountBadge(a.status) },
    ],
    rows: answer.items, empty: "Tidak ada akun.",
  }));
  holder.querySelector("table")?.classList.add("stack");
  holder.append(pager({ offset, limit: PAGE, hasMore: offset + PAGE < answer.total,
    go: (next) => ctx.navigate(withQuery("/bkd/akun", { opd, peran: role, offset: next })) }));
}

function accountBadge(status) {
  const [text, kind] = ACCOUNT_STATUS[status] || [status, ""];
  return badge(text, kind);
}

async function newAccount(main, params, ctx) {
  const body = page(main, "Daftarkan akun", back("#/bkd/akun", "Akun dan peran"),
    h("p", {}, "Pemilik akun menerima surel aktivasi dan membuat kata sandinya sendiri. "
      + "Pegawai memakai NIP; staf memakai nama pengguna."));
  const all = await busy(body, () => opds());
  body.append(form({
    id: "account-form", submit: "Daftarkan",
    fields: [
      { name: "login", label: "NIP atau nama pengguna", required: true, autocomplete: "off",
        hint: "NIP 18 digit untuk pegawai; staf: huruf kecil, angka, titik, garis bawah (3–32 karakter)." },
      { name: "display_name", label: "Nama lengkap dengan gelar", required: true },
      { name: "email", label: "Surel", type: "email", required: true },
      { name: "phone", label: "Nomor telepon", type: "tel" },
      { name: "role", label: "Peran", type: "select", required: true, value: "pegawai",
        options: Object.entries(ROLE_NAMES) },
      { name: "home_opd", label: "OPD induk (pegawai)", type: "select", options: opdOptions(all, ["", "— tidak ada —"]) },
      { name: "opd_scope", label: "OPD yang ditangani (fasilitator)", hint: "Kode OPD dipisah koma, mis. dinkes, dinsos." },
      reasonField("Dasar pendaftaran", "Mis. nomor SK pengangkatan atau penugasan."),
    ],
    onsubmit: async (data) => {
      const payload = { login: data.login, display_name: data.display_name, email: data.email,
                        roles: [data.role], reason: data.reason };
      if (data.phone) payload.phone = data.phone;
      if (data.home_opd) payload.home_opd = data.home_opd;
      const scope = csv(data.opd_scope);
      if (scope.length) payload.opd_scope = scope;
      const made = await api.post("/api/accounts", payload);
      notify(`Akun ${made.account_id} didaftarkan; surel aktivasi dikirim.`);
      ctx.navigate(`/bkd/akun/${encodeURIComponent(made.account_id)}`);
    },
  }));
}

async function accountPage(main, params, ctx) {
  const id = params.id;
  const body = page(main, `Akun ${id}`, back("#/bkd/akun", "Akun dan peran"));
  const holder = h("div", {});
  body.append(holder);
  const show = (a) => {
    const self = a.account_id === ctx.me.account_id;
    const staffRoles = (a.roles || []).filter((r) => r !== "pegawai");
    const act = (title, formId, submit, fields, send, done) => section(title, form({
      id: formId, submit, fields,
      onsubmit: async (data) => {
        const answer = await send(data);
        notify(done(answer));
        show(answer && answer.account_id && answer.roles ? answer : await api.get(`/api/accounts/${encodeURIComponent(id)}`));
      },
    }));
    const path = (tail) => `/api/accounts/${encodeURIComponent(id)}/${tail}`;
    clear(holder,
      section("Data akun", facts([
        ["Akun", a.account_id], ["Nama", a.display_name], ["Jenis", a.kind === "pegawai" ? "Pegawai" : "Staf"],
        ["Status", accountBadge(a.status)], ["Peran", (a.roles || []).map((r) => ROLE_NAMES[r] || r).join(", ")],
        ["OPD induk", a.home_opd], ["OPD yang ditangani", (a.opd_scope || []).join(", ")],
        ["Surel", a.email], ["Telepon", a.phone], ["OTP terdaftar", a.totp_enrolled ? "Ya" : "Belum"],
        ["Terakhir masuk", datetime(a.last_login_at)], ["Dibuat", datetime(a.created_at)],
      ])),
      self ? h("p", { class: "notice warn" }, "Ini akun Anda sendiri: status dan perannya diubah oleh administrator lain.") : null,
      a.status === "disabled"
        ? act("Aktifkan kembali", "account-enable-form", "Aktifkan", [reasonField()],
          (d) => api.post(path("enable"), { reason: d.reason }), () => "Akun diaktifkan kembali.")
        : act("Nonaktifkan akun", "account-disable-form", "Nonaktifkan", [reasonField()],
          (d) => api.post(path("disable"), { reason: d.reason }), () => "Akun dinonaktifkan; semua sesinya diakhiri."),
      a.kind !== "pegawai" ? act("Beri peran staf", "role-grant-form", "Beri peran", [
        { name: "role", label: "Peran", type: "select", required: true,
          options: [["fasilitator", "Fasilitator"], ["administrator", "Administrator"], ["auditor", "Auditor"]] },
        { name: "opd_scope", label: "OPD yang ditangani (fasilitator)", hint: "Kode OPD dipisah koma." },
        reasonField(),
      ], (d) => api.post(path("roles"), { role: d.role, opd_scope: csv(d.opd_scope), reason: d.reason }),
      () => "Peran diberikan.") : null,
      staffRoles.length ? act("Cabut peran staf", "role-revoke-form", "Cabut peran", [
        { name: "role", label: "Peran", type: "select", required: true,
          options: staffRoles.map((r) => [r, ROLE_NAMES[r] || r]) },
        reasonField(),
      ], (d) => api.post(path("roles/revoke"), { role: d.role, reason: d.reason }), () => "Peran dicabut.") : null,
      (a.roles || []).includes("fasilitator") ? act("OPD yang ditangani", "opd-scope-form", "Simpan cakupan", [
        { name: "opd_scope", label: "Kode OPD", required: true, value: (a.opd_scope || []).join(", "), hint: "Dipisah koma." },
        reasonField(),
      ], (d) => api.put(path("opd-scope"), { opd_scope: csv(d.opd_scope), reason: d.reason }),
      () => "Cakupan OPD disimpan.") : null,
      act("Reset kata sandi", "password-reset-form", "Kirim tautan reset", [reasonField()],
        (d) => api.post(path("password-reset"), { reason: d.reason }),
        (r) => `Tautan reset dikirim ke ${r.delivered_to || "surel pemilik akun"}.`),
      a.kind !== "pegawai" ? act("Reset OTP", "totp-reset-form", "Reset OTP", [reasonField()],
        (d) => api.post(path("totp-reset"), { reason: d.reason }),
        () => "OTP direset: pemilik akun mendaftarkan OTP baru saat masuk berikutnya.") : null);
  };
  show(await busy(holder, () => api.get(`/api/accounts/${encodeURIComponent(id)}`)));
}

// -- access requests and reviews -------------------------------------------------------------

async function access(main, params, ctx) {
  const status = ctx.query.get("status") || "pending";
  const body = page(main, "Permintaan dan tinjauan akses", back("#/bkd/akun", "Akun dan peran"));
  const requests = h("section", { class: "card" }, h("h2", {}, "Permintaan akses"));
  body.append(requests);
  requests.append(filterForm({
    id: "access-filter",
    fields: [{ name: "status", label: "Status", type: "select", value: status,
               options: [["pending", "Menunggu"], ["approved", "Disetujui"], ["refused", "Ditolak"]] }],
    go: (v) => ctx.navigate(withQuery("/bkd/akses", { status: v.status })),
  }));
  const items = list(await busy(requests, () => api.get("/api/access-requests", { status })));
  if (!items.length) requests.append(h("p", { class: "empty" }, "Tidak ada permintaan akses."));
  for (const r of items) {
    const card = h("article", { class: "sub-card" },
      h("h3", {}, `${r.subject_login} — ${ROLE_NAMES[r.role] || r.role}`),
      facts([["Nama", r.subject && r.subject.display_name], ["OPD", (r.opd_scope || []).join(", ")],
             ["Alasan", r.justification], ["Diminta oleh", `${r.requested_by}, ${datetime(r.requested_at)}`],
             r.decided_by ? ["Diputus", `${r.decided_by}, ${datetime(r.decided_at)}: ${r.decision_note || ""}`] : null]));
    if (r.status === "pending") {
      card.append(form({
        id: `access-${r.request_id}`, submit: "Simpan keputusan",
        fields: [
          { name: "decision", label: "Keputusan", type: "select", required: true, value: "",
            options: [["", "— pilih —"], ["approve", "Setujui (akun dibuat)"], ["refuse", "Tolak"]] },
          { name: "note", label: "Catatan", type: "textarea", required: true, maxlength: 1000 },
        ],
        onsubmit: async (data) => {
          await api.post(`/api/access-requests/${encodeURIComponent(r.request_id)}/${data.decision}`, { note: data.note });
          notify(data.decision === "approve" ? "Permintaan akses disetujui." : "Permintaan akses ditolak.");
          ctx.navigate(`/bkd/akses?status=${status}`);
        },
      }));
    }
    requests.append(card);
  }

  const reviews = h("section", { class: "card" }, h("h2", {}, "Tinjauan akses berkala"),
    h("p", {}, "Tinjauan mendaftar setiap akun staf dengan temuannya (mis. lama tidak masuk); "
      + "administrator memeriksanya lalu menandatanganinya."));
  body.append(reviews);
  reviews.append(form({
    id: "review-form", submit: "Buat tinjauan baru",
    fields: [{ name: "stale_days", label: "Dianggap lama tidak masuk setelah (hari)", type: "number",
               min: 7, max: 730, value: 90, required: true }],
    onsubmit: async (data) => {
      const made = await api.post("/api/access-reviews", { stale_days: Number(data.stale_days) });
      notify("Tinjauan akses dibuat.");
      ctx.navigate(`/bkd/akses/tinjauan/${encodeURIComponent(made.review_id)}`);
    },
  }));
  const past = list(await busy(reviews, () => api.get("/api/access-reviews", { limit: PAGE })));
  reviews.append(table({
    caption: "Tinjauan akses",
    columns: [
      { key: "generated_at", label: "Dibuat", render: (r) => link(`#/bkd/akses/tinjauan/${encodeURIComponent(r.review_id)}`, datetime(r.generated_at)) },
      { key: "generated_by", label: "Oleh" },
      { key: "signed_off_by", label: "Ditandatangani", render: (r) => (r.signed_off_by ? `${r.signed_off_by}, ${datetime(r.signed_off_at)}` : badge("Belum", "warn")) },
    ],
    rows: past, empty: "Belum ada tinjauan akses.",
  }));
}

/** {"fasilitator": 3, ...} as "Fasilitator 3, ..." with the names given. */
function counts(byKey, names) {
  return Object.entries(byKey || {}).map(([k, n]) => `${names[k] || k} ${n}`).join(", ");
}

async function review(main, params) {
  const id = params.id;
  const body = page(main, "Tinjauan akses", back("#/bkd/akses", "Permintaan dan tinjauan akses"));
  const r = await busy(body, () => api.get(`/api/access-reviews/${encodeURIComponent(id)}`));
  body.append(section("Ringkasan", facts([
    ["Dibuat", `${datetime(r.generated_at)} oleh ${r.generated_by}`], ["Batas lama tidak masuk", `${r.stale_days} hari`],
    ["Akun ditinjau", (r.summary || {}).accounts],
    ["Per peran", counts((r.summary || {}).by_role, ROLE_NAMES)],
    ["Temuan", counts((r.summary || {}).by_finding, FINDINGS) || "tidak ada"],
    ["Ditandatangani", r.signed_off_by ? `${r.signed_off_by}, ${datetime(r.signed_off_at)}: ${r.sign_off_note || ""}` : "Belum"],
  ])));
  const items = r.items || [];
  body.append(table({
    caption: "Akun yang ditinjau",
    columns: [
      { key: "account_id", label: "Akun", render: (i) => link(`#/bkd/akun/${encodeURIComponent(i.account_id)}`, i.account_id) },
      { key: "roles", label: "Peran", render: (i) => (i.roles || []).map((x) => ROLE_NAMES[x] || x).join(", ") },
      { key: "status", label: "Status", render: (i) => accountBadge(i.status) },
      { key: "last_login_at", label: "Terakhir masuk", render: (i) => datetime(i.last_login_at) },
      { key: "findings", label: "Temuan", render: (i) => ((i.findings || []).length
        ? i.findings.map((f) => badge(FINDINGS[f] || f, "warn")) : "–") },
    ],
    rows: items, empty: "Tidak ada akun yang ditinjau.",
  }));
  body.querySelector("table")?.classList.add("stack");
  if (!r.signed_off_by) {
    body.append(section("Tanda tangani tinjauan", form({
      id: "sign-off-form", submit: "Tanda tangani",
      fields: [{ name: "note", label: "Catatan pemeriksaan", type: "textarea", required: true, maxlength: 1000,
                 hint: "Mis. akun yang dinonaktifkan atau perannya dicabut karena tinjauan ini." }],
      onsubmit: async (data) => {
        await api.post(`/api/access-reviews/${encodeURIComponent(id)}/sign-off`, { note: data.note });
        notify("Tinjauan akses ditandatangani.");
        await review(main, params);
      },
    })));
  }
}

// -- signed documents ------------------------------------------------------------------------

async function documents(main, params, ctx) {
  const q = { status: ctx.query.get("status") || "", nip: ctx.query.get("nip") || "",
              document_type: ctx.query.get("jenis") || "" };
  const offset = Number(ctx.query.get("offset") || 0);
  const body = page(main, "Dokumen bertanda tangan");
  const shown = { status: q.status, nip: q.nip, jenis: q.document_type };
  const query = (next, v = shown) => withQuery("/bkd/dokumen", { ...v, offset: next });
  body.append(filterForm({
    id: "document-filter",
    fields: [
      { name: "status", label: "Status", type: "select", value: q.status,
        options: [["", "— semua —"], ...Object.entries(DOC_STATUS).map(([k, [t]]) => [k, t])] },
      { name: "nip", label: "NIP", value: q.nip, inputmode: "numeric", pattern: "[0-9]{18}" },
      { name: "jenis", label: "Jenis dokumen", value: q.document_type, hint: "mis. kgb, kenaikan_pangkat" }],
    go: (v) => ctx.navigate(query(0, v)),
  }));
  const holder = h("div", {});
  body.append(holder);
  const rows = list(await busy(holder, () => api.get("/api/signed-documents", { ...q, limit: PAGE, offset })));
  holder.append(table({
    caption: "Dokumen keluaran",
    columns: [
      { key: "title", label: "Dokumen", render: (d) => link(`#/bkd/dokumen/${encodeURIComponent(d.document_id)}`, d.title || d.document_key) },
      { key: "number", label: "Nomor" },
      { key: "nip", label: "NIP" },
      { key: "status", label: "Status", render: (d) => docBadge(d.status) },
      { key: "signed_at", label: "Ditandatangani", render: (d) => datetime(d.signed_at) },
    ],
    rows, empty: "Tidak ada dokumen.",
  }));
  holder.querySelector("table")?.classList.add("stack");
  holder.append(pager({ offset, limit: PAGE, hasMore: rows.length === PAGE, go: (next) => ctx.navigate(query(next)) }));
}

async function documentPage(main, params) {
  const id = params.id;
  const body = page(main, "Dokumen bertanda tangan", back("#/bkd/dokumen", "Dokumen bertanda tangan"));
  const holder = h("div", {});
  body.append(holder);
  const show = (d) => {
    const files = h("div", { class: "actions" });
    if (d.sha256) {
      files.append(button("Unduh PDF", () => download(`/api/signed-documents/${encodeURIComponent(id)}/pdf`,
        `${(d.number || d.document_key || "dokumen").replace(/[^\w.-]+/g, "_")}.pdf`, holder)));
    }
    files.append(h("a", { href: `/verifikasi/${encodeURIComponent(id)}`, class: "button-link" }, "Halaman verifikasi publik"));
    clear(holder,
      section(d.title || d.document_key, facts([
        ["Status", docBadge(d.status)], ["Nomor", d.number], ["NIP", d.nip],
        ["Usulan", d.request_id ? link(`#/bkd/persetujuan/${encodeURIComponent(d.request_id)}`, d.request_id) : null],
        ["Penanda tangan", d.signer_name ? `${d.signer_name} (${d.signer})` : d.signer], ["Jabatan", d.jabatan],
        ["Ditandatangani", datetime(d.signed_at)], ["Tingkat PAdES", d.pades_level],
        ["Percobaan", d.attempts], d.last_error ? ["Kesalahan terakhir", d.last_error] : null,
        d.revoked_at ? ["Dicabut", `${datetime(d.revoked_at)} — ${d.revoked_reason || ""}`] : null,
        d.superseded_by ? ["Diganti oleh", link(`#/bkd/dokumen/${encodeURIComponent(d.superseded_by)}`, d.superseded_by)] : null,
        ["ID dokumen", d.document_id],
      ]), files),
      d.status === "signed" ? section("Cabut dokumen", h("p", { class: "hint" },
        "Pencabutan tidak dapat dibatalkan. Sejak dicabut, halaman verifikasi publik (kode QR) "
        + "menjawab DICABUT beserta alasannya: alasan itu terbaca siapa saja, jangan menulis data pribadi."), form({
        id: "revoke-form", submit: "Cabut dokumen", fields: [
          { name: "decree", label: "Nomor keputusan pencabutan", maxlength: 200 },
          reasonField("Alasan pencabutan"),
        ],
        onsubmit: async (data) => {
          const payload = { reason: data.reason };
          if (data.decree) payload.decree = data.decree;
          const done = await api.post(`/api/signed-documents/${encodeURIComponent(id)}/revocation`, payload);
          notify("Dokumen dicabut.");
          show(done);
        },
      })) : null,
      d.status === "signed" ? section("Terbitkan pengganti", h("p", { class: "hint" },
        "Dokumen baru bernomor baru dicetak dari data pegawai saat ini, Anda tanda tangani, dan "
        + "menggantikan dokumen ini (pemeriksaan keaslian dokumen lama menjawab DIGANTI). "
        + "Perbaiki dulu data pegawai bila perlu."), form({
        id: "reissue-form", submit: "Terbitkan pengganti", fields: [reasonField("Alasan penggantian")],
        onsubmit: async (data) => {
          const fresh = await api.post(`/api/signed-documents/${encodeURIComponent(id)}/reissue`, { reason: data.reason });
          notify("Dokumen pengganti disiapkan untuk ditandatangani.");
          window.location.hash = `/bkd/dokumen/${encodeURIComponent(fresh.document_id)}`;
        },
      })) : null,
      d.status === "waiting_passphrase" ? section("Tandatangani dengan passphrase BSrE", h("p", { class: "hint" },
        "Dokumen ini ditandatangani oleh BSrE dengan sertifikat pejabat yang tercatat sebagai penanda tangan. "
        + "Masukkan passphrase sertifikat elektronik BSrE Anda, atau kode OTP yang tampil di aplikasi "
        + "BeSign: keduanya hanya dipakai untuk penandatanganan ini, tidak disimpan dan tidak dicatat."), form({
        id: "passphrase-form", submit: "Tandatangani", fields: [
          { name: "passphrase", label: "Passphrase BSrE", type: "password", maxlength: 200,
            autocomplete: "off" },
          { name: "totp", label: "atau kode OTP BeSign", inputmode: "numeric", pattern: "[0-9]{6,8}",
            maxlength: 8, autocomplete: "one-time-code", hint: "Isi salah satu: passphrase atau kode OTP." },
        ],
        onsubmit: async (data, el) => {
          const code = (data.totp || "").trim();
          const done = await api.post(`/api/signed-documents/${encodeURIComponent(id)}/sign`,
            code ? { totp: code } : { passphrase: data.passphrase });
          el.reset();
          notify(done.status === "signed" ? "Dokumen ditandatangani." : "Dokumen belum ditandatangani.");
          show(done);
        },
      })) : null,
      ["failed", "waiting_key", "pending"].includes(d.status) ? section("Coba tanda tangani lagi",
        h("p", { class: "hint" }, "Untuk dokumen yang gagal atau menunggu kunci penanda tangan."),
        button("Coba lagi", async () => {
          try {
            show(await api.post(`/api/signed-documents/${encodeURIComponent(id)}/retry`));
            notify("Penandatanganan diulang.");
          } catch (error) { holder.append(errorBox(error)); }
        }, { class: "primary" })) : null);
  };
  show(await busy(holder, () => api.get(`/api/signed-documents/${encodeURIComponent(id)}`)));
}

// -- documents reported not original (fake documents) -----------------------------------------

const CASE_STATUS = { drafted: ["Menunggu keputusan", "warn"], issued: ["Teguran diterbitkan", "bad"],
                      dismissed: ["Ditutup tanpa teguran", "ok"] };
function caseBadge(status) {
  const [text, kind] = CASE_STATUS[status] || [status, ""];
  return badge(text, kind);
}

async function cases(main, params, ctx) {
  const status = ctx.query.has("status") ? ctx.query.get("status") : "drafted";
  const body = page(main, "Dokumen tidak asli",
    h("p", {}, "Laporan fasilitator tentang dokumen usulan yang dinilai tidak asli. Untuk setiap laporan "
      + "disiapkan naskah teguran tertulis (PP 94/2021); administrator selain pelapor menerbitkannya "
      + "(dicatat sebagai hukuman disiplin pada data pegawai) atau menutup kasus tanpa teguran."));
  body.append(filterForm({
    id: "case-filter",
    fields: [{ name: "status", label: "Status", type: "select", value: status,
               options: [["", "— semua —"], ...Object.entries(CASE_STATUS).map(([k, [t]]) => [k, t])] }],
    go: (v) => ctx.navigate(withQuery("/bkd/kasus", { status: v.status || "semua" })),
  }));
  const holder = h("div", {});
  body.append(holder);
  const rows = list(await busy(holder, () => api.get("/api/verification/fake-documents",
    { status: CASE_STATUS[status] ? status : undefined })));
  holder.append(table({
    caption: "Kasus dokumen tidak asli",
    columns: [
      { key: "reported_at", label: "Dilaporkan", render: (c) => link(`#/bkd/kasus/${encodeURIComponent(c.case_id)}`, datetime(c.reported_at)) },
      { key: "nip", label: "NIP" },
      { key: "opd_id", label: "OPD" },
      { key: "document", label: "Dokumen" },
      { key: "reported_by", label: "Pelapor" },
      { key: "status", label: "Status", render: (c) => caseBadge(c.status) },
    ],
    rows, empty: "Tidak ada kasus dengan status ini.",
  }));
  holder.querySelector("table")?.classList.add("stack");
}

async function casePage(main, params, ctx) {
  const id = params.id;
  const body = page(main, "Kasus dokumen tidak asli", back("#/bkd/kasus", "Dokumen tidak asli"));
  const holder = h("div", {});
  body.append(holder);
  // the API lists cases (at most 500, oldest first); one case is read from the list
  const found = list(await busy(holder, () => api.get("/api/verification/fake-documents"))).find((c) => c.case_id === id);
  if (!found) {
    holder.append(h("p", { class: "problem", dataset: { code: "not_found" } }, "Kasus tidak ditemukan."));
    return;
  }
  const show = (c) => {
    clear(holder,
      section(`Dokumen ${c.document}`, facts([
        ["Status", caseBadge(c.status)], ["NIP", c.nip], ["OPD", c.opd_id],
        ["Usulan", c.request_id ? link(`#/bkd/persetujuan/${encodeURIComponent(c.request_id)}`, c.request_id) : null],
        ["Dokumen", c.document], ["SHA-256 dokumen", c.sha256 ? h("code", { class: "hash" }, c.sha256) : null],
        ["Dilaporkan", `${datetime(c.reported_at)} oleh ${c.reported_by}`],
        c.decided_by ? ["Diputus", `${datetime(c.decided_at)} oleh ${c.decided_by}`] : null,
        ["ID kasus", c.case_id],
      ]), c.request_id ? h("div", { class: "actions" }, button(`Unduh ${c.document}`, () => download(
        `/api/requests/${encodeURIComponent(c.request_id)}/documents/${encodeURIComponent(c.document)}`, `${c.nip}-${c.document}`, holder))) : null),
      section("Naskah teguran tertulis", h("blockquote", { class: "warning-text" }, c.warning)),
      c.status === "drafted" ? decideCase(c, show, ctx) : null);
  };
  show(found);
}

function decideCase(c, show, ctx) {
  const mine = c.reported_by === ctx.me.account_id;
  return section("Keputusan",
    mine ? h("p", { class: "notice warn", dataset: { code: "reporter-hint" } },
      "Anda pelapor kasus ini: keputusan harus diberikan administrator lain; sistem akan menolak keputusan Anda.") : null,
    form({
      id: "case-decision-form", submit: "Simpan keputusan",
      fields: [
        { name: "decision", label: "Keputusan", type: "select", required: true, value: "",
          options: [["", "— pilih —"], ["issue", "Terbitkan teguran tertulis"], ["dismiss", "Tutup tanpa teguran (dokumen asli)"]] },
        reasonField("Alasan keputusan", "Tercatat di log; teguran yang diterbitkan masuk riwayat hukuman disiplin pegawai."),
      ],
      onsubmit: async (data) => {
        const done = await api.post(`/api/verification/fake-documents/${encodeURIComponent(c.case_id)}/${data.decision}`,
          { reason: data.reason }, { idempotent: true });
        notify(done.status === "issued" ? "Teguran tertulis diterbitkan." : "Kasus ditutup tanpa teguran.");
        show(done);
      },
    }));
}

export const routes = [
  { path: "/bkd", title: "Dasbor BKD", roles: ADMIN, menu: "Dasbor BKD", render: dashboard },
  { path: "/bkd/persetujuan", title: "Persetujuan usulan", roles: ADMIN, menu: "Persetujuan", render: approvals },
  { path: "/bkd/persetujuan/:id", title: "Keputusan usulan", roles: ADMIN, render: approval },
  { path: "/bkd/layanan", title: "Katalog layanan", roles: ADMIN, menu: "Katalog layanan", render: catalogue },
  { path: "/bkd/layanan/:kode", title: "Layanan", roles: ADMIN, render: layananPage },
  { path: "/bkd/evaluasi", title: "Evaluasi tahunan layanan", roles: ADMIN, menu: "Evaluasi layanan", render: evaluation },
  { path: "/bkd/akun", title: "Akun dan peran", roles: ADMIN, menu: "Akun dan peran", render: accounts },
  { path: "/bkd/akun-baru", title: "Daftarkan akun", roles: ADMIN, render: newAccount },
  { path: "/bkd/akun/:id", title: "Akun", roles: ADMIN, render: accountPage },
  { path: "/bkd/akses", title: "Permintaan dan tinjauan akses", roles: ADMIN, menu: "Akses", render: access },
  { path: "/bkd/akses/tinjauan/:id", title: "Tinjauan akses", roles: ADMIN, render: review },
  { path: "/bkd/dokumen", title: "Dokumen bertanda tangan", roles: ADMIN, menu: "Dokumen bertanda tangan", render: documents },
  { path: "/bkd/dokumen/:id", title: "Dokumen bertanda tangan", roles: ADMIN, render: documentPage },
  { path: "/bkd/kasus", title: "Dokumen tidak asli", roles: ADMIN, menu: "Dokumen tidak asli", render: cases },
  { path: "/bkd/kasus/:id", title: "Kasus dokumen tidak asli", roles: ADMIN, render: casePage },
];
