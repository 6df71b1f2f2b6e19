// The pegawai's own pages (phone first): Beranda, my record and its history, proposing a change
// with documents, the layanan catalogue with "am I eligible and what do I need", drafting and
// submitting a request with uploads, its timeline, fixing what was returned, my signed
// documents, my notifications and the consents data requests ask of me. Every call is the gateway's public API for the pegawai role;
// the pegawai's NIP is their account id.

import { api, ApiError } from "../api.js";
import {
  badge, busy, button, clear, date, datetime, errorBox, facts, field, form, h, notify, pager,
  saveBlob, section, table,
} from "../ui.js";

const PAGE = 20;
const OPEN_STATES = ["draft", "submitted", "under_verification", "returned", "under_approval",
                     "approved", "signing"];
const STATE_KIND = { draft: "", submitted: "", under_verification: "", returned: "warn",
                     under_approval: "", approved: "ok", signing: "", completed: "ok",
                     rejected: "bad", withdrawn: "" };
const STATE_NAMES = { draft: "draf", submitted: "diajukan", under_verification: "sedang diverifikasi",
                      returned: "dikembalikan untuk perbaikan", under_approval: "menunggu persetujuan",
                      approved: "disetujui", rejected: "ditolak",
                      signing: "dokumen sedang ditandatangani", completed: "selesai",
                      withdrawn: "ditarik" };
const DOC_STATUS = { signed: ["sah", "ok"], revoked: ["dicabut", "bad"], superseded: ["diganti", "warn"],
                     pending: ["diproses", ""], waiting_key: ["diproses", ""], failed: ["diproses", ""] };

const FIELDS = [
  ["name", "Nama"], ["gelar_depan", "Gelar depan"], ["gelar_belakang", "Gelar belakang"],
  ["nik", "NIK"], ["birth_place", "Tempat lahir"], ["date_of_birth", "Tanggal lahir"],
  ["gender", "Jenis kelamin"], ["religion", "Agama"], ["marital_status", "Status perkawinan"],
  ["address", "Alamat"], ["email", "Email"], ["phone", "Telepon"], ["status", "Status kepegawaian"],
  ["tmt_cpns", "TMT CPNS"], ["tmt_pns", "TMT PNS"], ["golongan", "Golongan"],
  ["opd_name", "OPD"], ["opd_id", "Kode OPD"], ["unit", "Unit kerja"],
  ["education_id", "Kode pendidikan"], ["nomor_karpeg", "Nomor Karpeg"],
  ["nomor_karis_karsu", "Nomor Karis/Karsu"], ["nomor_taspen", "Nomor Taspen"],
  ["nomor_bpjs", "Nomor BPJS"], ["tmt_pensiun", "TMT pensiun"], ["jenis_pensiun", "Jenis pensiun"],
];
const FIELD_NAMES = Object.fromEntries(FIELDS);
const DATE_FIELDS = new Set(["date_of_birth", "tmt_cpns", "tmt_pns", "tmt_pensiun"]);
/** What a pegawai may propose (services/records/domain.py PROPOSABLE_FIELDS). */
const PROPOSABLE = [
  { name: "name", label: "Nama" }, { name: "gelar_depan", label: "Gelar depan" },
  { name: "gelar_belakang", label: "Gelar belakang" }, { name: "religion", label: "Agama" },
  { name: "marital_status", label: "Status perkawinan" },
  { name: "address", label: "Alamat", type: "textarea" },
  { name: "catatan_kesehatan", label: "Catatan kesehatan (rahasia)", type: "textarea",
    hint: "Hanya dibaca administrator BKD. Isi hanya bila ingin mengubahnya." },
];
const HISTORY_NAMES = { pangkat: "Riwayat pangkat", jabatan: "Riwayat jabatan", pendidikan: "Riwayat pendidikan",
  keluarga: "Keluarga", diklat: "Diklat", penghargaan: "Penghargaan", hukuman_disiplin: "Hukuman disiplin",
  kinerja: "Kinerja", gaji_berkala: "Gaji berkala", izin_belajar: "Izin belajar", ujian: "Ujian dinas" };
const EVENT_NAMES = { EmployeeRegistered: "Data didaftarkan", DataPokokChanged: "Data pokok diubah",
  HistoryEntryRecorded: "Riwayat dicatat", ChangeProposed: "Perubahan diusulkan",
  ChangeApplied: "Usulan perubahan diterapkan", ChangeRejected: "Usulan perubahan ditolak",
  DocumentAttached: "Dokumen disimpan", LayananOutcomeApplied: "Hasil layanan dicatat",
  LayananDecreeReplaced: "SK diganti", RequestDrafted: "Draf dibuat", RequestSubmitted: "Diajukan",
  RequestDocumentsChanged: "Dokumen diubah", VerificationStarted: "Verifikasi dimulai",
  RequestReturned: "Dikembalikan untuk perbaikan", RequestVerified: "Terverifikasi",
  RequestApproved: "Disetujui", RequestRejected: "Ditolak", RequestWithdrawn: "Ditarik",
  SigningStarted: "Penandatanganan dimulai", RequestCompleted: "Selesai, dokumen ditandatangani",
  OutputReplaced: "Dokumen keluaran diganti" };
const ACTORS = { pegawai: "Anda (pegawai)", fasilitator: "Fasilitator OPD", administrator: "Administrator BKD",
                 auditor: "Auditor", machine: "Sistem", system: "Sistem" };
const actor = (role) => ACTORS[role] || role;

const ENTRY_NAMES = { tmt: "TMT", golongan: "Golongan", gaji_pokok: "Gaji pokok", tahun: "Tahun",
  predikat: "Predikat", nilai: "Nilai", jenis_jabatan: "Jenis jabatan", nama_jabatan: "Nama jabatan",
  eselon: "Eselon", unit: "Unit", education_id: "Kode pendidikan", lulus_tanggal: "Tanggal lulus",
  hubungan: "Hubungan", nama: "Nama", tanggal_lahir: "Tanggal lahir", jenis: "Jenis",
  mulai: "Mulai", selesai: "Selesai", akhir: "Akhir", tanggal: "Tanggal", kode: "Kode",
  sk_nomor: "Nomor SK", sk_tanggal: "Tanggal SK", masa_kerja_tahun: "Masa kerja (tahun)",
  masa_kerja_bulan: "Masa kerja (bulan)", jam_pelajaran: "Jam pelajaran", programme: "Program studi",
  institution: "Lembaga", tingkat: "Tingkat" };
const RUPIAH = new Intl.NumberFormat("id-ID", { style: "currency", currency: "IDR", maximumFractionDigits: 0 });

/** An entry's value as read: dates in Indonesian, money in rupiah. */
function entryValue(key, value) {
  if (value === undefined || value === null || value === "") return "–";
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return date(value);
  if (key === "gaji_pokok" && typeof value === "number") return RUPIAH.format(value);
  if (typeof value === "boolean") return value ? "ya" : "tidak";
  return String(value);
}

const nipOf = (ctx) => ctx.me.account_id;
const stateBadge = (state, name) => badge(STATE_NAMES[state] || name || state, STATE_KIND[state] || "");
const eventName = (event) => EVENT_NAMES[event] || event;

function heading(main, title, intro) {
  clear(main, h("h1", {}, title), intro ? h("p", { class: "muted" }, intro) : null);
}

function holder(main) {
  const el = h("div", {});
  main.append(el);
  return el;
}

function fileName(file) {
  return (file.name || "dokumen").slice(0, 200);
}

/** Upload each chosen file (PDF/JPEG/PNG) to the document store; its SHA-256 per key. */
async function uploadAll(entries, status) {
  const out = {};
  let done = 0;
  for (const [key, file] of entries) {
    if (status) status.textContent = `Mengunggah ${done + 1} dari ${entries.length}: ${fileName(file)}…`;
    try {
      const stored = await api.upload("/api/documents", file, { query: { file_name: fileName(file) } });
      out[key] = stored.sha256;
    } catch (error) {
      // the refusal concerns this file: shown on its field, whatever part the API named
      if (error instanceof ApiError) error.field = key;
      if (status) status.textContent = `Gagal mengunggah ${fileName(file)}.`;
      throw error;
    }
    done += 1;
  }
  if (status) status.textContent = entries.length ? `${entries.length} dokumen terunggah.` : "";
  return out;
}

function chosenFiles(formEl) {
  return [...formEl.querySelectorAll("input[type=file]")]
    .filter((input) => input.files.length)
    .flatMap((input) => [...input.files].map((file, i) =>
      [input.multiple ? `${input.name}.${i}` : input.name, file]));
}

const EXTENSIONS = { "application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png" };

/** Download through the API (the bearer token travels in the header) and save the file. */
async function download(path, name) {
  const blob = await api.blob(path);
  const extension = EXTENSIONS[blob.type];
  saveBlob(blob, extension && !name.toLowerCase().endsWith(`.${extension}`) ? `${name}.${extension}` : name);
}

// -- Beranda ------------------------------------------------------------------------------------

async function home(main, params, ctx) {
  heading(main, "Beranda", `Selamat datang, ${ctx.me.display_name || nipOf(ctx)}.`);
  const body = holder(main);
  const [requests, inbox, completeness] = await busy(body, () => Promise.all([
    api.get("/api/me/requests", { limit: 50 }),
    api.get("/api/me/inbox", { unread_only: "true" }),
    api.get(`/api/monev/completeness/employees/${nipOf(ctx)}`).catch(() => null),
  ]));
  const open = requests.items.filter((r) => OPEN_STATES.includes(r.state));
  const returned = open.filter((r) => r.state === "returned");
  body.append(h("div", { class: "tiles", id: "beranda-ringkasan" },
    h("a", { class: "tile", href: "#/pegawai/usulan" },
      h("span", { class: "value" }, String(open.length)), h("span", { class: "label" }, "Usulan berjalan")),
    h("a", { class: "tile", href: "#/pegawai/pemberitahuan" },
      h("span", { class: "value" }, String(inbox.length)), h("span", { class: "label" }, "Pemberitahuan belum dibaca")),
    completeness ? h("a", { class: "tile", href: "#/pegawai/data" },
      h("span", { class: "value" }, `${Math.round(completeness.percent)}%`),
      h("span", { class: "label" }, "Kelengkapan data")) : null));
  if (returned.length) {
    body.append(h("div", { class: "notice warn", role: "status" },
      h("strong", {}, `${returned.length} usulan dikembalikan untuk perbaikan. `),
      returned.map((r) => h("a", { href: `#/pegawai/usulan/${r.request_id}`, class: "peg-block" },
        `Perbaiki ${r.layanan_name || r.layanan}`))));
  }
  if (completeness && !completeness.complete) {
    const missing = [...(completeness.missing_fields || []).map((m) => m.name || m.field),
                     ...(completeness.missing_documents || []).map((m) => m.name || m.slot)];
    body.append(section("Data yang belum lengkap",
      h("p", {}, "Lengkapi data berikut melalui fasilitator OPD Anda atau usulan perubahan data:"),
      h("ul", {}, missing.slice(0, 10).map((m) => h("li", {}, m)))));
  }
  body.append(section("Usulan berjalan", requestTable(open, "Usulan saya yang masih berjalan",
    "Tidak ada usulan yang sedang berjalan."),
  h("p", {}, h("a", { href: "#/pegawai/layanan" }, "Ajukan layanan baru"))));
  body.append(section("Pemberitahuan terbaru",
    inbox.length ? h("ul", { class: "peg-list" }, inbox.slice(0, 5).map((n) => h("li", {},
      h("strong", {}, n.title), " — ", h("span", { class: "muted small" }, datetime(n.created_at)))))
      : h("p", { class: "empty" }, "Tidak ada pemberitahuan baru."),
    h("p", {}, h("a", { href: "#/pegawai/pemberitahuan" }, "Buka semua pemberitahuan"))));
}

function requestTable(rows, caption, empty) {
  return stacked(table({
    caption, empty, rows,
    columns: [
      { key: "layanan", label: "Layanan", render: (r) =>
        h("a", { href: `#/pegawai/usulan/${r.request_id}` }, r.layanan_name || r.layanan) },
      { key: "state", label: "Status", render: (r) => stateBadge(r.state, r.state_name) },
      { key: "updated_at", label: "Diperbarui", render: (r) => datetime(r.updated_at || r.created_at) },
    ],
  }));
}

/** Tables read as cards on a phone (app.css: table.stack); an empty table is its message. */
function stacked(wrap) {
  wrap.querySelector("table")?.classList.add("stack");
  return wrap;
}

// -- my record ----------------------------------------------------------------------------------

function show(name, value) {
  if (value === null || value === undefined || value === "") return null;
  if (DATE_FIELDS.has(name)) return date(value);
  if (name === "gender") return value === "L" ? "Laki-laki" : value === "P" ? "Perempuan" : value;
  return String(value);
}

async function record(main, params, ctx) {
  heading(main, "Data saya", "Data kepegawaian Anda sebagaimana tercatat di SIMASN Jatim.");
  const body = holder(main);
  const nip = nipOf(ctx);
  const [employee, steps] = await busy(body, () => Promise.all([
    api.get(`/api/employees/${nip}`),
    api.get(`/api/employees/${nip}/timeline`).catch(() => []),
  ]));
  body.append(h("div", { class: "actions" },
    h("a", { class: "peg-button primary", href: "#/pegawai/data/usul" }, "Usulkan perubahan data")));
  if (employee.proposals && employee.proposals.length) {
    body.append(h("div", { class: "notice", role: "status", id: "usulan-menunggu" },
      h("strong", {}, "Usulan perubahan menunggu verifikasi: "),
      h("ul", {}, employee.proposals.map((p) => h("li", {},
        Object.entries(p.changes).map(([k, v]) => `${FIELD_NAMES[k] || k}: ${v ?? "(dikosongkan)"}`).join("; "),
        p.documents.length ? ` (${p.documents.length} dokumen)` : "")))));
  }
  const rows = FIELDS.filter(([name]) => show(name, employee[name]) !== null);
  body.append(section("Data pokok",
    h("p", { class: "small muted" }, `NIP ${employee.nip} · versi data ${employee.version}`),
    h("dl", { class: "facts" }, rows.map(([name, label]) => [
      h("dt", {}, label),
      h("dd", {}, show(name, employee[name]), " ",
        h("a", { href: `#/pegawai/data/riwayat/${name}`, class: "small",
                 "aria-label": `Riwayat ${label}` }, "riwayat")),
    ]))));
  for (const [history, entries] of Object.entries(employee.histories || {})) {
    if (!entries.length) continue;
    const keys = [...new Set(entries.flatMap((e) => Object.keys(e)))]
      .filter((k) => !["entry_id", "documents", "request_id", "output_sha256", "document_id",
                       "replaced_decrees"].includes(k));
    body.append(section(HISTORY_NAMES[history] || history, stacked(table({
      caption: `${HISTORY_NAMES[history] || history}: ${entries.length} entri`,
      rows: entries,
      columns: [
        ...keys.map((k) => ({ key: k, label: ENTRY_NAMES[k] || k.replaceAll("_", " "),
                              render: (e) => entryValue(k, e[k]) })),
        { key: "document_id", label: "SK", render: (e) => (e.document_id
          ? button("Unduh SK", () => download(`/api/signed-documents/${e.document_id}/pdf`, `SK-${history}.pdf`), { class: "link" })
          : "–") },
      ],
    }))));
  }
  const slots = Object.entries(employee.documents || {});
  if (slots.length) {
    body.append(section("Dokumen pada data saya", stacked(table({
      caption: "Dokumen tersimpan",
      rows: slots.map(([slot, versions]) => ({ slot, ...versions[versions.length - 1], count: versions.length })),
      columns: [
        { key: "slot", label: "Dokumen", render: (d) => d.slot.replaceAll("_", " ") },
        { key: "count", label: "Versi", cls: "num" },
        { key: "sha256", label: "Unduh", render: (d) => button("Unduh", () =>
          download(`/api/employees/${nip}/documents/${d.sha256}`, d.file_name || d.slot),
        { class: "link", "aria-label": `Unduh ${d.slot.replaceAll("_", " ")}` }) },
      ],
    }))));
  }
  body.append(section("Riwayat perubahan data", steps.length
    ? h("ol", { class: "timeline" }, steps.slice().reverse().slice(0, 30).map((s) => h("li", {},
      h("strong", {}, eventName(s.event)), " ", h("span", { class: "muted small" }, datetime(s.recorded_at)),
      s.fields && s.fields.length ? h("p", { class: "small" }, "Kolom: ",
        s.fields.map((f) => FIELD_NAMES[f] || f).join(", ")) : null,
      s.histories && s.histories.length ? h("p", { class: "small" }, "Riwayat: ",
        s.histories.map((x) => HISTORY_NAMES[x] || x).join(", ")) : null,
      s.reason ? h("p", { class: "small" }, `Alasan: ${s.reason}`) : null)))
    : h("p", { class: "empty" }, "Belum ada riwayat.")));
}

async function fieldHistory(main, params, ctx) {
  const label = FIELD_NAMES[params.field] || params.field;
  heading(main, `Riwayat ${label}`);
  main.append(h("p", {}, h("a", { href: "#/pegawai/data" }, "‹ Kembali ke data saya")));
  const body = holder(main);
  const changes = await busy(body, () => api.get(`/api/employees/${nipOf(ctx)}/fields/${encodeURIComponent(params.field)}/history`));
  body.append(stacked(table({
    caption: `Perubahan nilai ${label}, terlama dahulu`,
    rows: changes,
    empty: "Kolom ini belum pernah diisi.",
    columns: [
      { key: "recorded_at", label: "Waktu", render: (c) => datetime(c.recorded_at) },
      { key: "value", label: "Nilai", render: (c) => show(params.field, c.value) ?? "(kosong)" },
      { key: "actor_role", label: "Oleh", render: (c) => (c.actor_role ? actor(c.actor_role) : "–") },
      { key: "reason", label: "Alasan", render: (c) => c.reason || "–" },
    ],
  })));
}

async function propose(main, params, ctx) {
  heading(main, "Usulkan perubahan data",
    "Ubah kolom yang salah, lampirkan dokumen pendukung (mis. KTP, akta, buku nikah). "
    + "Fasilitator OPD Anda memeriksa usulan sebelum data berubah.");
  const body = holder(main);
  const nip = nipOf(ctx);
  const employee = await busy(body, () => api.get(`/api/employees/${nip}`));
  const status = h("p", { class: "small muted", role: "status", "aria-live": "polite" });
  body.append(form({
    id: "usul-form", submit: "Kirim usulan",
    fields: [
      ...PROPOSABLE.map((f) => ({ ...f, value: employee[f.name] ?? "", name: f.name })),
      { name: "documents", label: "Dokumen pendukung", type: "file", multiple: true,
        accept: "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png", required: true,
        hint: "PDF, JPEG atau PNG asli dan terbaca; boleh lebih dari satu berkas." },
    ],
    extra: [status],
    onsubmit: async (data, formEl) => {
      const changes = {};
      for (const f of PROPOSABLE) {
        const before = employee[f.name] ?? "";
        if (data[f.name] !== String(before) && !(f.name === "catatan_kesehatan" && data[f.name] === "")) {
          changes[f.name] = data[f.name] === "" ? null : data[f.name];
        }
      }
      if (!Object.keys(changes).length) {
        throw new ApiError(422, { code: "empty", title: "Tidak ada perubahan",
                                  detail: "Ubah sedikitnya satu kolom sebelum mengirim usulan." });
      }
      const uploaded = await uploadAll(chosenFiles(formEl), status);
      const answer = await api.post(`/api/employees/${nip}/proposals`,
        { changes, documents: Object.values(uploaded) }, { idempotent: true });
      notify("Usulan perubahan terkirim dan menunggu verifikasi fasilitator.");
      ctx.navigate(`/pegawai/data?usulan=${encodeURIComponent(answer.change_id || "")}`);
    },
  }));
}

// -- layanan catalogue and eligibility --------------------------------------------------------------

async function catalogue(main, params, ctx) {
  heading(main, "Layanan kepegawaian",
    "Setiap layanan: apakah Anda memenuhi syarat hari ini, alasannya bila belum, dan dokumen yang perlu disiapkan.");
  const body = holder(main);
  const overview = await busy(body, () => api.get("/api/me/eligibility"), "Memeriksa syarat setiap layanan…");
  const filter = field({ name: "saring", label: "Tampilkan", type: "select", value: "semua",
    options: [["semua", "Semua layanan"], ["memenuhi", "Yang dapat saya ajukan"]] });
  const list = h("div", { class: "layanan-list" });
  const draw = () => {
    const only = filter.querySelector("select").value === "memenuhi";
    clear(list, overview.layanan.filter((l) => !only || (l.eligible && l.may_submit)).map(card));
  };
  filter.querySelector("select").addEventListener("change", draw);
  body.append(h("p", { class: "small muted" }, `Dinilai per ${date(overview.as_of)}.`), filter, list);
  draw();
}

function card(l) {
  const id = `layanan-${l.kode}`;
  const can = l.eligible && l.may_submit;
  return h("section", { class: "card peg-layanan", id, "aria-labelledby": `${id}-t` },
    h("h2", { id: `${id}-t` }, l.nama, " ", can ? badge("memenuhi syarat", "ok")
      : l.eligible ? badge("diajukan oleh OPD/BKD") : badge("belum memenuhi syarat", "warn")),
    l.tmt ? h("p", { class: "small" }, `TMT bila diberikan: ${date(l.tmt)}`) : null,
    !l.eligible && l.reasons.length ? h("div", {}, h("p", { class: "small" }, h("strong", {}, "Mengapa belum:")),
      h("ul", { class: "small" }, l.reasons.map((r) => h("li", {}, r.message,
        r.eligible_from ? ` (dapat diajukan mulai ${date(r.eligible_from)})` : "",
        r.request_id ? [" — ", h("a", { href: `#/pegawai/usulan/${r.request_id}` }, "lihat usulannya")] : null)))) : null,
    l.documents_required.length ? h("details", { class: "peg-details" },
      h("summary", {}, `Dokumen yang diperlukan (${l.documents_required.length})`),
      h("ul", { class: "small" }, l.documents_required.map((d) => h("li", {}, d.nama,
        d.on_record ? [" ", badge("sudah ada di data Anda", "ok")] : null)))) : null,
    h("div", { class: "actions" },
      h("a", { href: `#/pegawai/layanan/${l.kode}` }, "Rincian syarat"),
      can ? h("a", { class: "peg-button primary", href: `#/pegawai/layanan/${l.kode}/ajukan` }, `Ajukan ${l.nama}`) : null));
}

async function layananDetail(main, params, ctx) {
  heading(main, "Rincian layanan");
  const body = holder(main);
  const [layanan, eligibility] = await busy(body, () => Promise.all([
    api.get(`/api/layanan/${encodeURIComponent(params.kode)}`),
    api.get(`/api/layanan/${encodeURIComponent(params.kode)}/eligibility/${nipOf(ctx)}`),
  ]));
  main.querySelector("h1").textContent = layanan.nama;
  body.append(
    h("p", {}, layanan.deskripsi || ""),
    h("div", { class: eligibility.eligible ? "notice ok" : "notice warn", role: "status" },
      eligibility.eligible ? "Anda memenuhi syarat layanan ini." : "Anda belum memenuhi syarat layanan ini."),
    section("Syarat", h("ul", {}, eligibility.checks.map((c) => h("li", {},
      badge(c.ok ? "terpenuhi" : "belum", c.ok ? "ok" : "warn"), " ", c.message,
      c.eligible_from && !c.ok ? ` (mulai ${date(c.eligible_from)})` : "")))),
    section("Dokumen yang diperlukan", h("ul", {}, eligibility.documents_required.map((d) => h("li", {}, d.nama)))),
    section("Keterangan", facts([
      ["Keluaran", layanan.output], ["Diterbitkan oleh", layanan.penerbit_output],
      ["Waktu penyelesaian", layanan.sla_hari_kerja ? `${layanan.sla_hari_kerja} hari kerja` : null],
      ["Dasar hukum", (layanan.dasar_hukum || []).join("; ")],
      ["SOP", layanan.sop ? `${layanan.sop.nomor || ""} versi ${layanan.sop.versi || ""}` : null],
    ])),
    h("div", { class: "actions" },
      h("a", { href: "#/pegawai/layanan" }, "‹ Kembali ke katalog"),
      eligibility.eligible && (layanan.submitters || []).includes("pegawai")
        ? h("a", { class: "peg-button primary", href: `#/pegawai/layanan/${layanan.kode}/ajukan` }, "Ajukan") : null));
}

/** The documents a draft needs, given the chosen options (conditions on the record: as answered). */
function neededDocuments(layanan, eligibility, options) {
  const personal = new Set(eligibility.documents_required.map((d) => d.code));
  return (layanan.documents || []).filter((d) => {
    if (!d.when) return personal.has(d.code);
    if (d.when.option) return options[d.when.option] === d.when.equals;
    return personal.has(d.code);
  });
}

async function apply(main, params, ctx) {
  heading(main, "Ajukan layanan");
  const body = holder(main);
  const nip = nipOf(ctx);
  const [layanan, eligibility] = await busy(body, () => Promise.all([
    api.get(`/api/layanan/${encodeURIComponent(params.kode)}`),
    api.get(`/api/layanan/${encodeURIComponent(params.kode)}/eligibility/${nip}`),
  ]));
  main.querySelector("h1").textContent = `Ajukan ${layanan.nama}`;
  if (!eligibility.eligible) {
    body.append(h("div", { class: "notice warn" }, "Anda belum memenuhi syarat layanan ini: ",
      h("ul", {}, eligibility.checks.filter((c) => !c.ok).map((c) => h("li", {}, c.message)))));
  }
  const optionFields = Object.entries(layanan.options || {}).map(([name, choices]) => field({
    name: `option.${name}`, label: `Pilihan: ${name.replaceAll("_", " ")}`, type: "select", required: true,
    options: [["", "— pilih —"], ...choices.map((c) => [c, c.replaceAll("_", " ")])] }));
  const docsBox = h("fieldset", { class: "peg-docs" }, h("legend", {}, "Dokumen"));
  const status = h("p", { class: "small muted", role: "status", "aria-live": "polite" });
  const options = () => Object.fromEntries(optionFields.map((f) => {
    const select = f.querySelector("select");
    return [select.name.slice("option.".length), select.value];
  }).filter(([, v]) => v));
  const drawDocs = () => {
    const wanted = neededDocuments(layanan, eligibility, options());
    clear(docsBox, h("legend", {}, "Dokumen"),
      wanted.length ? null : h("p", { class: "empty" }, "Tidak ada dokumen yang perlu diunggah."),
      wanted.map((d) => field({ name: d.code, label: d.nama, type: "file", required: d.mandatory,
        accept: "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png",
        hint: d.mandatory ? "Wajib. PDF, JPEG atau PNG." : "Bila ada. PDF, JPEG atau PNG." })));
  };
  optionFields.forEach((f) => f.querySelector("select").addEventListener("change", drawDocs));
  drawDocs();
  let submitNow = true;
  const draft = button("Simpan sebagai draf", (event) => {
    // a draft may lack documents: the form's own check of required fields runs synchronously
    // inside requestSubmit, so it is lifted for that moment only
    const formNode = event.target.closest("form");
    const required = [...formNode.querySelectorAll("[required]")];
    required.forEach((c) => { c.required = false; });
    submitNow = false;
    try { formNode.requestSubmit(); } finally { required.forEach((c) => { c.required = true; }); }
  });
  const formEl = form({
    id: "ajukan-form", submit: "Ajukan usulan",
    fields: optionFields,
    extra: [docsBox, status, h("p", { class: "small muted" },
      "“Ajukan usulan” mengirimnya ke fasilitator OPD. “Simpan sebagai draf” menyimpannya untuk dilengkapi nanti.")],
    onsubmit: async (data, el) => {
      const now = submitNow;
      submitNow = true;
      const documents = await uploadAll(chosenFiles(el), status);
      const created = await api.post("/api/requests", {
        layanan: layanan.kode, nip, options: options(), documents,
        idempotency_key: crypto.randomUUID() }, { idempotent: true });
      if (now) {
        try {
          await api.post(`/api/requests/${created.request_id}/submit`,
            { expected_version: created.version }, { idempotent: true });
          notify("Usulan diajukan.");
        } catch (error) {
          // the draft exists: say why it could not go further, and lead to it (a second
          // press of the form would make another draft)
          clear(body, h("div", { class: "notice warn", role: "status" },
            "Draf tersimpan, tetapi belum dapat diajukan:"), errorBox(error),
          h("p", {}, h("a", { class: "peg-button primary", href: `#/pegawai/usulan/${created.request_id}` },
            "Buka draf untuk melengkapinya")));
          body.querySelector("a.peg-button").focus();
          return;
        }
      } else {
        notify("Draf tersimpan.");
      }
      ctx.navigate(`/pegawai/usulan/${created.request_id}`);
    },
  });
  formEl.querySelector(".actions").append(draft);
  body.append(formEl);
}

// -- my requests ------------------------------------------------------------------------------------

async function myRequests(main, params, ctx) {
  heading(main, "Usulan saya");
  const offset = Number(ctx.query?.get("offset") || 0);
  const state = ctx.query?.get("status") || "";
  const filter = form({
    id: "usulan-saring", submit: "Saring", cls: "form inline-form",
    fields: [{ name: "status", label: "Status", type: "select", value: state,
               options: [["", "Semua"], ...Object.entries(STATE_NAMES)] }],
    onsubmit: async (data) => ctx.navigate(`/pegawai/usulan${data.status ? `?status=${data.status}` : ""}`),
  });
  main.append(filter, h("p", {}, h("a", { href: "#/pegawai/layanan" }, "Ajukan layanan baru")));
  const body = holder(main);
  const page = await busy(body, () => api.get("/api/me/requests", { limit: PAGE, offset, state }));
  body.append(requestTable(page.items, "Usulan saya, terbaru dahulu",
    state ? "Tidak ada usulan dengan status ini." : "Anda belum pernah membuat usulan."));
  for (const r of page.items.filter((x) => x.state === "returned" && x.awaiting)) {
    body.append(h("div", { class: "notice warn" }, h("strong", {}, `${r.layanan_name}: perlu diperbaiki. `),
      r.awaiting.map((a) => `${a.document}: ${a.reason}`).join("; "), " ",
      h("a", { href: `#/pegawai/usulan/${r.request_id}` }, "Perbaiki")));
  }
  if (offset > 0 || page.has_more) {
    body.append(pager({ offset, limit: PAGE, hasMore: page.has_more,
      go: (o) => ctx.navigate(`/pegawai/usulan?offset=${o}${state ? `&status=${state}` : ""}`) }));
  }
}

async function oneRequest(main, params, ctx) {
  heading(main, "Usulan");
  const body = holder(main);
  const id = encodeURIComponent(params.id);
  const [request, timeline, layanan] = await busy(body, async () => {
    const r = await api.get(`/api/requests/${id}`);
    return [r, ...await Promise.all([api.get(`/api/requests/${id}/timeline`),
                                     api.get(`/api/layanan/${encodeURIComponent(r.layanan)}`).catch(() => null)])];
  });
  const names = Object.fromEntries((layanan?.documents || []).map((d) => [d.code, d.nama]));
  const docName = (code) => (code === "usulan" ? "Usulan secara keseluruhan" : names[code] || code);
  main.querySelector("h1").textContent = `Usulan ${layanan?.nama || request.layanan}`;
  body.append(h("p", { id: "status-usulan" }, "Status: ", stateBadge(request.state, request.state_name)));
  body.append(section("Rincian", facts([
    ["Layanan", layanan?.nama || request.layanan], ["Nomor usulan", request.request_id],
    ["Pilihan", Object.entries(request.options || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || null],
    ["Tahap sejak", datetime(request.stage_since)],
    request.decision_reason ? ["Alasan keputusan", request.decision_reason] : null,
    request.decree_number ? ["Nomor SK", request.decree_number] : null,
    request.decree_date ? ["Tanggal SK", date(request.decree_date)] : null,
  ])));
  if (request.state === "returned") body.append(fixReturned(request, docName, ctx));
  if (request.state === "draft") body.append(finishDraft(request, layanan, docName, ctx));
  if (request.state === "completed" || request.output_sha256) body.append(await outputBox(id));
  const docs = Object.entries(request.documents || {});
  body.append(section("Dokumen usulan", docs.length ? stacked(table({
    caption: "Dokumen yang dilampirkan",
    rows: docs.map(([code, sha]) => ({ code, sha })),
    columns: [
      { key: "code", label: "Dokumen", render: (d) => docName(d.code) },
      { key: "sha", label: "Unduh", render: (d) => button("Unduh", () =>
        download(`/api/requests/${id}/documents/${encodeURIComponent(d.code)}`, d.code),
      { class: "link", "aria-label": `Unduh ${docName(d.code)}` }) },
    ],
  })) : h("p", { class: "empty" }, "Belum ada dokumen.")));
  if (["draft", "submitted", "returned"].includes(request.state)) body.append(withdrawBox(request, ctx));
  body.append(section("Jejak usulan", h("ol", { class: "timeline", id: "jejak-usulan" },
    timeline.map((t) => h("li", {},
      h("strong", {}, eventName(t.event)), " ", h("span", { class: "muted small" }, datetime(t.recorded_at)),
      t.actor_role ? h("p", { class: "small" }, `Oleh: ${actor(t.actor_role)}`) : null,
      t.reason ? h("p", { class: "small" }, `Catatan: ${t.reason}`) : null)))));
}

function fixReturned(request, docName, ctx) {
  const last = (request.returns || [])[request.returns.length - 1] || {};
  const reasons = Object.entries(last);
  const status = h("p", { class: "small muted", role: "status", "aria-live": "polite" });
  const fileFields = reasons.filter(([code]) => code !== "usulan").map(([code, reason]) => ({
    name: code, label: `${docName(code)} (pengganti)`, type: "file", required: true,
    accept: "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png", hint: `Alasan dikembalikan: ${reason}` }));
  return h("section", { class: "card", id: "perbaikan" },
    h("h2", {}, "Perbaiki dan ajukan kembali"),
    h("div", { class: "notice warn" }, h("p", {}, "Fasilitator mengembalikan usulan ini:"),
      h("ul", {}, reasons.map(([code, reason]) => h("li", {}, h("strong", {}, docName(code)), `: ${reason}`)))),
    form({
      id: "perbaikan-form", submit: "Kirim perbaikan dan ajukan kembali",
      fields: fileFields, extra: [status],
      onsubmit: async (data, el) => {
        const documents = await uploadAll(chosenFiles(el), status);
        let current = request;
        if (Object.keys(documents).length) {
          current = await api.put(`/api/requests/${encodeURIComponent(request.request_id)}/documents`,
            { documents, expected_version: request.version });
        }
        await api.post(`/api/requests/${encodeURIComponent(request.request_id)}/submit`,
          { expected_version: current.version, reason: "perbaikan dokumen" }, { idempotent: true });
        notify("Perbaikan terkirim; usulan diajukan kembali.");
        ctx.navigate(`/pegawai/usulan/${request.request_id}`);
      },
    }));
}

function finishDraft(request, layanan, docName, ctx) {
  const status = h("p", { class: "small muted", role: "status", "aria-live": "polite" });
  const missing = (layanan?.documents || []).filter((d) => !(d.code in (request.documents || {})));
  return h("section", { class: "card", id: "draf" },
    h("h2", {}, "Lengkapi dan ajukan"),
    form({
      id: "draf-form", submit: "Ajukan usulan",
      fields: missing.map((d) => ({ name: d.code, label: d.nama, type: "file",
        accept: "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png",
        hint: d.mandatory && !d.when ? "Wajib." : "Bila diperlukan." })),
      extra: [status],
      onsubmit: async (data, el) => {
        const documents = await uploadAll(chosenFiles(el), status);
        let current = request;
        if (Object.keys(documents).length) {
          current = await api.put(`/api/requests/${encodeURIComponent(request.request_id)}/documents`,
            { documents, expected_version: request.version });
        }
        await api.post(`/api/requests/${encodeURIComponent(request.request_id)}/submit`,
          { expected_version: current.version }, { idempotent: true });
        notify("Usulan diajukan.");
        ctx.navigate(`/pegawai/usulan/${request.request_id}`);
      },
    }));
}

function withdrawBox(request, ctx) {
  const box = h("details", { class: "card peg-details" }, h("summary", {}, "Tarik usulan ini"));
  box.append(form({
    id: "tarik-form", submit: "Tarik usulan",
    fields: [{ name: "reason", label: "Alasan menarik usulan", type: "textarea", required: true, maxlength: 1000 }],
    onsubmit: async (data) => {
      await api.post(`/api/requests/${encodeURIComponent(request.request_id)}/withdraw`,
        { expected_version: request.version, reason: data.reason }, { idempotent: true });
      notify("Usulan ditarik.");
      ctx.navigate(`/pegawai/usulan/${request.request_id}`);
    },
  }));
  return box;
}

async function outputBox(id) {
  let output;
  try {
    output = await api.get(`/api/requests/${id}/output`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return h("p", { class: "muted" }, "Dokumen keluaran belum tersedia.");
    return errorBox(error);
  }
  const [label, kind] = DOC_STATUS[output.status] || [output.status, ""];
  return h("section", { class: "card", id: "keluaran" }, h("h2", {}, "Dokumen keluaran"),
    facts([["Judul", output.title], ["Nomor", output.number], ["Status", badge(label, kind)],
           ["Ditandatangani", datetime(output.signed_at)]]),
    output.status === "signed" || output.status === "superseded" || output.status === "revoked"
      ? h("div", { class: "actions" },
        button("Unduh PDF bertanda tangan", () => download(`/api/signed-documents/${output.document_id}/pdf`,
          `${(output.number || output.document_id).replace(/[^A-Za-z0-9._-]+/g, "_")}.pdf`), { class: "primary" }),
        h("a", { href: `/verifikasi/${output.document_id}` }, "Periksa keasliannya"))
      : h("p", { class: "muted" }, "Dokumen sedang ditandatangani."));
}

// -- my signed documents ------------------------------------------------------------------------------

async function signedDocuments(main, params, ctx) {
  heading(main, "Dokumen saya", "SK dan surat bertanda tangan elektronik yang diterbitkan untuk Anda.");
  const offset = Number(ctx.query?.get("offset") || 0);
  const body = holder(main);
  const docs = await busy(body, () => api.get("/api/me/signed-documents", { limit: PAGE, offset }));
  body.append(stacked(table({
    caption: "Dokumen bertanda tangan, terbaru dahulu",
    rows: docs,
    empty: "Belum ada dokumen bertanda tangan untuk Anda.",
    columns: [
      { key: "title", label: "Dokumen", render: (d) => d.title },
      { key: "number", label: "Nomor", render: (d) => d.number || "–" },
      { key: "status", label: "Status", render: (d) => { const [l, k] = DOC_STATUS[d.status] || [d.status, ""]; return badge(l, k); } },
      { key: "signed_at", label: "Ditandatangani", render: (d) => datetime(d.signed_at) },
      { key: "document_id", label: "Unduh", render: (d) => (d.sha256
        ? button("Unduh PDF", () => download(`/api/signed-documents/${d.document_id}/pdf`,
          `${(d.number || d.document_id).replace(/[^A-Za-z0-9._-]+/g, "_")}.pdf`),
        { class: "link", "aria-label": `Unduh PDF ${d.title} ${d.number || ""}` }) : "–") },
    ],
  })));
  if (offset > 0 || docs.length === PAGE) {
    body.append(pager({ offset, limit: PAGE, hasMore: docs.length === PAGE,
      go: (o) => ctx.navigate(`/pegawai/dokumen?offset=${o}`) }));
  }
}

// -- consent to data requests (issue 17 part 2) ------------------------------------------------------

const CONSENT = { pending: ["belum dijawab", "warn"], given: ["disetujui", "ok"], refused: ["ditolak", "bad"] };
/** The employee-list columns a data request may ask for (services/reporting/domain.py). */
const REQUESTABLE = {
  nip: "NIP", name: "Nama", gelar_depan: "Gelar depan", gelar_belakang: "Gelar belakang",
  gender: "Jenis kelamin", date_of_birth: "Tanggal lahir", status: "Status kepegawaian",
  instansi: "Instansi", opd_id: "Kode OPD", opd_name: "OPD", unit: "Unit kerja", golongan: "Golongan",
  tmt_golongan: "TMT golongan", jabatan: "Jabatan", jenis_jabatan: "Jenis jabatan", eselon: "Eselon",
  tmt_jabatan: "TMT jabatan", education_id: "Kode pendidikan", tmt_cpns: "TMT CPNS", tmt_pns: "TMT PNS",
  tmt_pensiun: "TMT pensiun",
};

async function consents(main, params, ctx) {
  heading(main, "Persetujuan data",
    "Permintaan data yang disetujui BKD dan menyangkut Anda. Data Anda hanya diserahkan bila Anda setuju; "
    + "bila Anda menolak atau tidak menjawab, data Anda tidak ikut diserahkan.");
  const body = holder(main);
  const items = await busy(body, () => api.get("/api/me/consents"));
  if (!items.length) { body.append(h("p", { class: "empty" }, "Belum ada permintaan persetujuan untuk Anda.")); return; }
  body.append(h("ul", { class: "peg-list" }, items.map((c) => {
    const [label, kind] = CONSENT[c.consent] || [c.consent, ""];
    const reason = field({ name: `alasan-${c.request_id}`, label: "Alasan menolak (tidak wajib)", maxlength: 500 });
    const answer = (consent) => async (event) => {
      const li = event.target.closest("li");
      li.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        const text = li.querySelector("input")?.value.trim();
        await api.post(`/api/me/consents/${encodeURIComponent(c.request_id)}`,
          consent ? { consent } : { consent, ...(text ? { reason: text } : {}) });
        notify(consent ? "Persetujuan Anda dicatat." : "Penolakan Anda dicatat.");
        ctx.navigate("/pegawai/persetujuan");
      } catch (error) {
        li.append(errorBox(error));
        li.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    };
    return h("li", { class: "card", dataset: { id: c.request_id, consent: c.consent } },
      h("h2", {}, c.organisation, " ", badge(label, kind)),
      facts([["Tujuan", c.purpose],
             ["Data yang diminta", c.fields.map((f) => REQUESTABLE[f] || f).join(", ")],
             ["Masa penggunaan", `${date(c.period_from)} s.d. ${date(c.period_until)}`],
             ["Diajukan oleh akun", c.requester],
             c.answered_at ? ["Dijawab", datetime(c.answered_at)] : null]),
      c.consent === "pending" ? reason : null,
      h("div", { class: "actions" },
        c.consent === "given" ? null : button("Setuju", answer(true), { class: "primary" }),
        c.consent === "refused" ? null : button("Tolak", answer(false))));
  })));
}

// -- who received my data (issue 17: the disclosure log) -----------------------------------------

const CHANNELS = { agency_api: "API instansi", data_request: "Permintaan data",
                   export: "Ekspor laporan", auditor_read: "Pemeriksaan auditor" };
const BASIS = { MoU: "MoU", PKS: "PKS", data_request: "Permintaan data", export: "Ekspor",
                audit: "Tugas pemeriksaan" };
/** What a release names besides data pokok: the record's parts, an auditor's views. */
const RELEASED = { nip: "NIP", instansi: "Instansi", histories: "Riwayat", documents: "Dokumen",
                   proposals: "Usulan perubahan", timeline: "Linimasa perubahan",
                   record: "Data pegawai", catatan_kesehatan: "Catatan kesehatan" };

async function disclosures(main, params, ctx) {
  heading(main, "Siapa yang menerima data saya",
    "Setiap kali data Anda diberikan kepada instansi lain, diekspor, atau dibaca auditor, "
    + "tercatat di sini: siapa penerimanya, kapan, kolom apa, dan untuk apa.");
  const offset = Number(ctx.query?.get("offset") || 0);
  const body = holder(main);
  const items = await busy(body, () => api.get("/api/me/disclosures", { limit: PAGE, offset }));
  body.append(stacked(table({
    caption: "Pemberian data Anda, terbaru dahulu",
    rows: items,
    empty: "Data Anda belum pernah diberikan kepada siapa pun.",
    columns: [
      { key: "disclosed_at", label: "Waktu", render: (d) => datetime(d.disclosed_at) },
      { key: "recipient", label: "Penerima", render: (d) => d.recipient.name || d.recipient.id },
      { key: "channel", label: "Melalui", render: (d) => CHANNELS[d.channel] || d.channel },
      { key: "fields", label: "Data yang diberikan",
        render: (d) => d.fields.map((f) => FIELD_NAMES[f] || RELEASED[f] || f).join(", ") },
      { key: "purpose", label: "Tujuan", render: (d) => d.purpose },
      { key: "basis", label: "Dasar",
        render: (d) => `${BASIS[d.basis.kind] || d.basis.kind} ${d.basis.reference}` },
    ],
  })));
  if (offset > 0 || items.length === PAGE) {
    body.append(pager({ offset, limit: PAGE, hasMore: items.length === PAGE,
      go: (o) => ctx.navigate(`/pegawai/penerima-data?offset=${o}`) }));
  }
}

// -- notifications --------------------------------------------------------------------------------

async function inbox(main, params, ctx) {
  heading(main, "Pemberitahuan");
  const body = holder(main);
  const items = await busy(body, () => api.get("/api/me/inbox"));
  if (!items.length) { body.append(h("p", { class: "empty" }, "Belum ada pemberitahuan.")); return; }
  const unread = items.filter((n) => !n.read_at);
  if (unread.length > 1) {
    body.append(h("div", { class: "actions" }, button("Tandai semua sudah dibaca", async (event) => {
      event.target.disabled = true;
      try {
        for (const n of unread) await api.post(`/api/me/inbox/${encodeURIComponent(n.notification_id)}/read`);
        ctx.refreshBadge();
        ctx.navigate("/pegawai/pemberitahuan");
      } catch (error) {
        body.prepend(errorBox(error));
        event.target.disabled = false;
      }
    })));
  }
  body.append(h("ul", { class: "peg-list peg-inbox" }, items.map((n) => h("li", {
    class: n.read_at ? "card read" : "card unread", dataset: { id: n.notification_id } },
  h("h2", {}, n.read_at ? null : [badge("baru", "warn"), " "], n.title),
  h("p", { class: "muted small" }, datetime(n.created_at)),
  h("p", {}, n.body),
  h("div", { class: "actions" },
    n.event === "ConsentRequested" ? h("a", { href: "#/pegawai/persetujuan" }, "Buka persetujuan data")
      : n.request_id ? h("a", { href: `#/pegawai/usulan/${n.request_id}` }, "Buka usulan") : null,
    n.read_at ? null : button("Tandai sudah dibaca", async (event) => {
      event.target.disabled = true;
      try {
        await api.post(`/api/me/inbox/${encodeURIComponent(n.notification_id)}/read`);
        const li = event.target.closest("li");
        li.className = "card read";
        li.querySelector(".badge")?.remove();
        event.target.remove();
        notify("Ditandai sudah dibaca.");
        ctx.refreshBadge();
      } catch (error) {
        event.target.disabled = false;
        event.target.closest("li").append(errorBox(error));
      }
    }))))));
}

export const routes = [
  { path: "/pegawai", title: "Beranda", roles: ["pegawai"], menu: "Beranda", render: home },
  { path: "/pegawai/data", title: "Data saya", roles: ["pegawai"], menu: "Data saya", render: record },
  { path: "/pegawai/data/riwayat/:field", title: "Riwayat kolom", roles: ["pegawai"], render: fieldHistory },
  { path: "/pegawai/data/usul", title: "Usulkan perubahan data", roles: ["pegawai"], render: propose },
  { path: "/pegawai/layanan", title: "Layanan", roles: ["pegawai"], menu: "Layanan", render: catalogue },
  { path: "/pegawai/layanan/:kode", title: "Rincian layanan", roles: ["pegawai"], render: layananDetail },
  { path: "/pegawai/layanan/:kode/ajukan", title: "Ajukan layanan", roles: ["pegawai"], render: apply },
  { path: "/pegawai/usulan", title: "Usulan saya", roles: ["pegawai"], menu: "Usulan saya", render: myRequests },
  { path: "/pegawai/usulan/:id", title: "Usulan", roles: ["pegawai"], render: oneRequest },
  { path: "/pegawai/dokumen", title: "Dokumen saya", roles: ["pegawai"], menu: "Dokumen saya", render: signedDocuments },
  { path: "/pegawai/penerima-data", title: "Siapa yang menerima data saya", roles: ["pegawai"],
    menu: "Penerima data saya", render: disclosures },
  { path: "/pegawai/pemberitahuan", title: "Pemberitahuan", roles: ["pegawai"], menu: "Pemberitahuan",
    badge: "inbox", render: inbox },
  { path: "/pegawai/persetujuan", title: "Persetujuan data", roles: ["pegawai"], menu: "Persetujuan data",
    render: consents },
];
