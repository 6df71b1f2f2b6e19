// The auditor's pages (issue 16): a request's timeline (every step, who, in which role, why), an
// employee record's history and the record as it stood at any moment, and the integrity of the
// logs: each log's chain status against the newest signed checkpoint, the signed checkpoints and
// the witness's public copy of them. Every page only reads; every auditor read is itself logged
// by the gateway (Pergub 73/2020). Administrators open the same pages from their own menu.

import { api } from "../api.js";
import {
  badge, busy, button, clear, date, datetime, facts, form, h, pager, section, table,
} from "../ui.js";

const READERS = ["auditor", "administrator"];

export const STATE_NAMES = {
  draft: "Draf", submitted: "Diajukan", under_verification: "Sedang diverifikasi",
  returned: "Dikembalikan untuk perbaikan", under_approval: "Menunggu persetujuan",
  approved: "Disetujui", rejected: "Ditolak", signing: "Sedang ditandatangani",
  completed: "Selesai", withdrawn: "Ditarik",
};

const EVENT_NAMES = {
  RequestDrafted: "Draf dibuat", RequestDocumentsChanged: "Dokumen diubah",
  RequestSubmitted: "Diajukan", RequestWithdrawn: "Ditarik", VerificationStarted: "Verifikasi dimulai",
  RequestReturned: "Dikembalikan untuk perbaikan", RequestVerified: "Diverifikasi",
  RequestApproved: "Disetujui", RequestRejected: "Ditolak", SigningStarted: "Penandatanganan dimulai",
  RequestCompleted: "Selesai (dokumen terbit)", OutputReplaced: "Dokumen keluaran diganti",
  EmployeeRegistered: "Data pegawai didaftarkan", DataPokokChanged: "Data pokok diubah",
  HistoryEntryRecorded: "Riwayat dicatat", DocumentAttached: "Dokumen dilampirkan",
  ChangeProposed: "Perubahan diusulkan", ChangeApplied: "Usulan perubahan diterapkan",
  ChangeRejected: "Usulan perubahan ditolak",
};

const ROLE_NAMES = { pegawai: "pegawai", fasilitator: "fasilitator", administrator: "administrator BKD",
                     auditor: "auditor", system: "sistem", machine: "klien mesin" };

function eventName(type) {
  return EVENT_NAMES[type] || type.replace(/([a-z])([A-Z])/g, "$1 $2");
}

function who(step) {
  if (!step.actor_id) return "sistem";
  return `${step.actor_id}${step.actor_role ? ` (${ROLE_NAMES[step.actor_role] || step.actor_role})` : ""}`;
}

function stateBadge(state, name) {
  const kind = { completed: "ok", approved: "ok", rejected: "bad", withdrawn: "bad", returned: "warn" }[state] || "";
  return badge(STATE_NAMES[state] || name || state, kind);
}

// -- requests and their timelines ----------------------------------------------------------------

async function requestList(main, params, ctx) {
  const q = ctx.query || new URLSearchParams();
  const filters = { nip: q.get("nip") || "", state: q.get("state") || "", layanan: q.get("layanan") || "" };
  const offset = Number(q.get("offset") || 0);
  const limit = 20;
  const go = (next) => {
    const query = new URLSearchParams(Object.entries({ ...filters, ...next }).filter(([, v]) => v !== "" && v !== 0));
    ctx.navigate(`/audit/usulan${query.toString() ? `?${query}` : ""}`);
  };
  const results = h("div", { "aria-live": "polite" });
  clear(main, h("h1", {}, "Jejak usulan layanan"),
    h("p", {}, "Cari usulan, lalu buka jejaknya: setiap langkah, pelakunya, perannya dan alasannya."),
    form({
      id: "request-filter", submit: "Cari", cls: "form filters",
      fields: [
        { name: "nip", label: "NIP pegawai", value: filters.nip, inputmode: "numeric", maxlength: 18,
          pattern: "[0-9]{18}", hint: "18 digit; kosongkan untuk semua." },
        { name: "state", label: "Status", type: "select", value: filters.state,
          options: [["", "Semua status"], ...Object.entries(STATE_NAMES)] },
        { name: "layanan", label: "Kode layanan", value: filters.layanan, hint: "Mis. KGB, KP, PENSIUN." },
      ],
      onsubmit: async (data) => go({ nip: data.nip, state: data.state, layanan: data.layanan.toUpperCase(), offset: 0 }),
    }),
    results);
  const page = await busy(results, () => api.get("/api/requests", { ...filters, limit, offset }));
  results.append(table({
    caption: "Usulan layanan",
    empty: "Tidak ada usulan yang cocok.",
    columns: [
      { key: "request_id", label: "Usulan", render: (r) => h("a", { href: `#/audit/usulan/${encodeURIComponent(r.request_id)}` },
        `${r.layanan} · ${r.request_id.slice(0, 8)}`) },
      { key: "nip", label: "NIP" },
      { key: "opd_id", label: "OPD" },
      { key: "state", label: "Status", render: (r) => stateBadge(r.state, r.state_name) },
      { key: "updated_at", label: "Terakhir berubah", render: (r) => datetime(r.updated_at || r.submitted_at) },
    ],
    rows: page.items,
  }));
  if (page.items.length || offset) results.append(pager({ offset, limit, hasMore: page.has_more, go: (o) => go({ offset: o }) }));
}

async function requestTimeline(main, params) {
  const id = params.id;
  clear(main, h("p", {}, h("a", { href: "#/audit/usulan" }, "‹ Daftar usulan")),
    h("h1", {}, "Jejak usulan"));
  const holder = h("div", {});
  main.append(holder);
  const [request, steps] = await busy(holder, () => Promise.all([
    api.get(`/api/requests/${encodeURIComponent(id)}`),
    api.get(`/api/requests/${encodeURIComponent(id)}/timeline`),
  ]));
  holder.append(
    section("Usulan", facts([
      ["Layanan", request.layanan], ["NIP", h("a", { href: `#/audit/pegawai/${request.nip}` }, request.nip)],
      ["OPD", request.opd_id], ["Status", stateBadge(request.state, request.state_name)],
      ["Diajukan oleh", `${request.submitted_by || "–"}${request.on_behalf ? " (atas nama pegawai)" : ""}`],
      request.decree_number ? ["Nomor SK", `${request.decree_number} (${date(request.decree_date)})`] : null,
      request.decision_reason ? ["Alasan keputusan", request.decision_reason] : null,
      ["ID usulan", h("code", {}, request.request_id)],
    ])),
    section(`Langkah (${steps.length})`,
      h("ol", { class: "timeline", "aria-label": "Jejak usulan" }, steps.map((s) => h("li", { dataset: { event: s.event } },
        h("strong", {}, eventName(s.event)),
        h("p", { class: "small muted" }, `${datetime(s.recorded_at)} · ${who(s)} · versi ${s.version}`),
        s.reason ? h("p", { class: "small" }, `Alasan: ${s.reason}`) : null)))));
}

// -- a record's history and the record as of a moment --------------------------------------------

function findRecord(main, params, ctx) {
  clear(main, h("h1", {}, "Data pegawai per waktu"),
    h("p", {}, "Lihat riwayat perubahan data seorang pegawai dan datanya seperti pada tanggal dan jam tertentu."),
    form({
      id: "record-find", submit: "Buka",
      fields: [
        { name: "nip", label: "NIP pegawai", required: true, inputmode: "numeric", maxlength: 18,
          pattern: "[0-9]{18}", hint: "18 digit angka." },
        { name: "as_of", label: "Per tanggal (opsional)", type: "date", hint: "Kosongkan untuk data terkini." },
      ],
      onsubmit: async (data) => {
        const query = data.as_of ? `?as_of=${encodeURIComponent(`${data.as_of}T23:59:59+07:00`)}` : "";
        ctx.navigate(`/audit/pegawai/${encodeURIComponent(data.nip)}${query}`);
      },
    }));
}

const FIELD_NAMES = {
  name: "Nama", nik: "NIK", gelar_depan: "Gelar depan", gelar_belakang: "Gelar belakang",
  birth_place: "Tempat lahir", date_of_birth: "Tanggal lahir", gender: "Jenis kelamin", religion: "Agama",
  marital_status: "Status perkawinan", address: "Alamat", email: "Surel", phone: "Telepon", status: "Status",
  tmt_cpns: "TMT CPNS", tmt_pns: "TMT PNS", tmt_pensiun: "TMT pensiun", jenis_pensiun: "Jenis pensiun",
  nomor_karpeg: "Nomor karpeg", nomor_karis_karsu: "Nomor karis/karsu", nomor_taspen: "Nomor Taspen",
  nomor_bpjs: "Nomor BPJS", instansi: "Instansi", opd_id: "OPD", opd_name: "Nama OPD", unit: "Unit kerja",
  golongan: "Golongan", education_id: "Pendidikan", catatan_kesehatan: "Catatan kesehatan",
};

/** "2026-05-01T10:00" (a datetime-local value, WIB) as an aware ISO time; and back. */
function wibIso(local) { return `${local.length === 16 ? `${local}:00` : local}+07:00`; }
function localValue(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const wib = new Date(d.getTime() + 7 * 3600 * 1000);
  return wib.toISOString().slice(0, 16);
}

function recordView(record, nip) {
  const rows = Object.keys(FIELD_NAMES).filter((k) => k in record).map((k) => ({ key: k, value: record[k] }));
  const histories = Object.entries(record.histories || {});
  const main = table({
      caption: `Data pokok (versi ${record.version})`,
      columns: [
        { key: "key", label: "Kolom", render: (r) => FIELD_NAMES[r.key] },
        { key: "value", label: "Nilai", render: (r) => (r.value === null || r.value === "" ? "–" : String(r.value)) },
        { key: "history", label: "Riwayat", render: (r) => h("a", {
          href: `#/audit/pegawai/${encodeURIComponent(nip)}/kolom/${r.key}`,
          "aria-label": `Riwayat nilai ${FIELD_NAMES[r.key]}` }, "Riwayat") },
      ],
      rows,
    });
  main.querySelector("table")?.setAttribute("data-version", String(record.version));
  return [
    main,
    histories.length ? h("h3", {}, "Riwayat kepegawaian") : null,
    histories.map(([kind, entries]) => table({
      caption: `Riwayat ${kind.replace(/_/g, " ")} (${(entries || []).length})`,
      columns: Object.keys((entries || [])[0] || {}).slice(0, 5).map((k) => ({ key: k, label: k.replace(/_/g, " "),
        render: (e) => (typeof e[k] === "object" && e[k] !== null ? JSON.stringify(e[k]) : (e[k] ?? "–")) })),
      rows: entries || [],
    })),
  ];
}

async function recordPage(main, params, ctx) {
  const nip = params.nip;
  const asOf = ctx.query?.get("as_of") || "";
  const base = `/audit/pegawai/${encodeURIComponent(nip)}`;
  clear(main, h("p", {}, h("a", { href: "#/audit/pegawai" }, "‹ Cari pegawai lain")),
    h("h1", {}, `Data pegawai ${nip}`));
  const asOfCard = h("section", { class: "card", "aria-labelledby": "asof-title" },
    h("h2", { id: "asof-title" }, asOf ? `Data per ${datetime(asOf)}` : "Data terkini"),
    form({
      id: "asof-form", submit: "Tampilkan", cls: "form inline-form",
      fields: [{ name: "as_of", label: "Per tanggal dan jam (WIB)", type: "datetime-local",
                 value: asOf ? localValue(asOf) : "", hint: "Kosongkan untuk data terkini." }],
      onsubmit: async (data) => ctx.navigate(data.as_of ? `${base}?as_of=${encodeURIComponent(wibIso(data.as_of))}` : base),
    }));
  const recordHolder = h("div", { "aria-live": "polite" });
  asOfCard.append(recordHolder);
  const stepsCard = h("section", { class: "card" }, h("h2", {}, "Riwayat perubahan"));
  main.append(asOfCard, stepsCard);
  const [record, steps] = await Promise.all([
    busy(recordHolder, () => api.get(`/api/employees/${encodeURIComponent(nip)}`, { as_of: asOf || undefined })),
    busy(stepsCard, () => api.get(`/api/employees/${encodeURIComponent(nip)}/timeline`)),
  ]);
  recordHolder.append(facts([["Nama", record.name], ["OPD", record.opd_name || record.opd_id],
                             ["Versi data", String(record.version)]]), ...recordView(record, nip).flat(Infinity).filter(Boolean));
  stepsCard.append(steps.length ? h("ol", { class: "timeline", "aria-label": "Riwayat perubahan data" }, steps.slice().reverse().map((s) =>
    h("li", { dataset: { event: s.event } },
      h("strong", {}, eventName(s.event)),
      h("p", { class: "small muted" }, `${datetime(s.recorded_at)} · ${who(s)} · versi ${s.version}`),
      (s.fields || []).length ? h("p", { class: "small" }, `Kolom: ${s.fields.map((f) => FIELD_NAMES[f] || f).join(", ")}`) : null,
      (s.histories || []).length ? h("p", { class: "small" }, `Riwayat: ${s.histories.join(", ")}`) : null,
      s.reason ? h("p", { class: "small" }, `Alasan: ${s.reason}`) : null,
      s.request_id ? h("p", { class: "small" }, "Dari usulan ", h("a", { href: `#/audit/usulan/${encodeURIComponent(s.request_id)}` }, s.request_id.slice(0, 8))) : null,
      button(`Lihat data versi ${s.version}`, () => ctx.navigate(`${base}?as_of=${encodeURIComponent(s.recorded_at)}`),
        { class: "link small", "aria-label": `Lihat data versi ${s.version}, seperti setelah langkah ini` }))))
    : h("p", { class: "empty" }, "Belum ada riwayat."));
}

async function fieldHistory(main, params) {
  const { nip, field } = params;
  clear(main, h("p", {}, h("a", { href: `#/audit/pegawai/${encodeURIComponent(nip)}` }, `‹ Data pegawai ${nip}`)),
    h("h1", {}, `Riwayat ${FIELD_NAMES[field] || field}`));
  const holder = h("div", {});
  main.append(holder);
  const changes = await busy(holder, () => api.get(`/api/employees/${encodeURIComponent(nip)}/fields/${encodeURIComponent(field)}/history`));
  holder.append(table({
    caption: `Nilai ${FIELD_NAMES[field] || field} dari waktu ke waktu`,
    empty: "Kolom ini belum pernah diisi.",
    columns: [
      { key: "recorded_at", label: "Waktu", render: (c) => datetime(c.recorded_at) },
      { key: "value", label: "Nilai", render: (c) => (c.value === null ? "(dikosongkan)" : String(c.value)) },
      { key: "actor_id", label: "Oleh", render: who },
      { key: "reason", label: "Alasan", render: (c) => c.reason || "–" },
      { key: "version", label: "Versi", cls: "num" },
    ],
    rows: changes.slice().reverse(),
  }));
}

// -- the logs' integrity: chain status, signed checkpoints, the witness ----------------------------

const LOG_STATUS = {
  holds: ["Utuh", "ok", "Log utuh saat disegel dan peristiwa yang disegel tidak berubah sejak itu."],
  broken: ["RUSAK", "bad", "Log tidak utuh saat disegel, atau peristiwa yang disegel telah berubah."],
  unchecked: ["Belum disegel", "warn", "Belum ada checkpoint bertanda tangan untuk log ini."],
};

async function chainPage(main) {
  clear(main, h("h1", {}, "Integritas log audit"),
    h("p", {}, "Setiap log layanan dirantai dengan hash dan kepalanya disegel berkala dalam checkpoint "
      + "bertanda tangan, yang salinannya disimpan saksi di luar basis data. Pemeriksaan lengkap dari "
      + "awal log dijalankan dengan perintah simasn audit verify."));
  const statusCard = h("section", { class: "card", "aria-labelledby": "chain-status" }, h("h2", { id: "chain-status" }, "Status rantai per log"));
  const listCard = h("section", { class: "card", "aria-labelledby": "chain-checkpoints" }, h("h2", { id: "chain-checkpoints" }, "Checkpoint bertanda tangan"));
  main.append(statusCard, listCard);
  const [status, checkpoints, published] = await Promise.all([
    busy(statusCard, () => api.get("/api/audit/status")),
    busy(listCard, () => api.get("/api/audit/checkpoints")),
    api.get("/api/public/checkpoints", { after: 0, limit: 500 }).catch((error) => ({ error })),
  ]);
  const broken = status.logs.filter((l) => l.status === "broken");
  const cp = status.checkpoint;
  statusCard.append(
    h("div", { class: `notice ${broken.length ? "warn" : "ok"}`, role: "status", dataset: { verdict: broken.length ? "broken" : "holds" } },
      h("strong", {}, broken.length ? `${broken.length} log RUSAK: ${broken.map((l) => l.log).join(", ")}`
        : "Semua log yang disegel utuh."),
      cp ? h("p", { class: "small" }, `Checkpoint terbaru: posisi ${cp.position}, ditandatangani ${datetime(cp.signed_at)}.`)
        : h("p", { class: "small" }, "Belum ada checkpoint bertanda tangan.")),
    table({
      caption: "Kepala setiap log dibandingkan dengan checkpoint terbaru",
      columns: [
        { key: "log", label: "Log" },
        { key: "status", label: "Status", render: (l) => {
          const [text, kind, why] = LOG_STATUS[l.status] || [l.status, "", ""];
          return h("span", { title: why }, badge(text, kind));
        } },
        { key: "position", label: "Posisi kini", cls: "num" },
        { key: "checkpointed_position", label: "Posisi disegel", cls: "num", render: (l) => l.checkpointed_position ?? "–" },
        { key: "events_since_checkpoint", label: "Peristiwa sejak segel", cls: "num" },
        { key: "merkle_root", label: "Akar Merkle", render: (l) => (l.merkle_root ? h("code", { class: "hash" }, `${l.merkle_root.slice(0, 16)}…`) : "–") },
      ],
      rows: status.logs,
    }),
    section("Saksi", facts([
      ["Saksi dipasang", status.witness.configured ? "Ya" : "Tidak"],
      status.witness.location ? ["Lokasi", h("code", {}, status.witness.location)] : null,
      ["Disimpan saksi hingga", status.witness.through ? `checkpoint posisi ${status.witness.through}` : "belum diperiksa"],
      ["Salinan publik", published.error ? `tidak dapat dibaca (${published.error.message})`
        : `${published.checkpoints.length} checkpoint, sumber: ${published.source === "witness" ? "saksi" : published.source}`],
    ])));
  const witnessed = new Set(published.error ? [] : published.checkpoints.map((c) => c.position));
  listCard.append(table({
    caption: "Checkpoint audit (terbaru di atas)",
    empty: "Belum ada checkpoint.",
    columns: [
      { key: "position", label: "Posisi", cls: "num" },
      { key: "signed_at", label: "Ditandatangani", render: (c) => datetime(c.signed_at) },
      { key: "trigger", label: "Pemicu", render: (c) => c.trigger || "–" },
      { key: "heads", label: "Log disegel", render: (c) => Object.entries(c.heads || {}).map(([log, head]) => `${log}@${head.position}`).join(", ") },
      { key: "witness", label: "Di saksi", render: (c) => (witnessed.has(c.position) ? badge("Ada", "ok") : badge("Belum", "warn")) },
      { key: "certificate_serial", label: "Sertifikat", render: (c) => (c.certificate_serial ? h("code", { class: "hash" }, c.certificate_serial.slice(0, 16)) : "–") },
    ],
    rows: checkpoints.slice().sort((a, b) => b.position - a.position).slice(0, 50),
  }), h("p", { class: "small muted" }, "Salinan saksi dapat dibaca siapa saja tanpa masuk di ",
    h("a", { href: "/api/public/checkpoints", target: "_blank", rel: "noopener" }, "/api/public/checkpoints"), "."));
}

export const routes = [
  { path: "/audit/usulan", title: "Jejak usulan", roles: READERS, menu: "Jejak usulan", render: requestList },
  { path: "/audit/usulan/:id", title: "Jejak usulan", roles: READERS, render: requestTimeline },
  { path: "/audit/pegawai", title: "Data pegawai per waktu", roles: READERS, menu: "Data per waktu", render: findRecord },
  { path: "/audit/pegawai/:nip", title: "Data pegawai per waktu", roles: READERS, render: recordPage },
  { path: "/audit/pegawai/:nip/kolom/:field", title: "Riwayat kolom", roles: READERS, render: fieldHistory },
  { path: "/audit/rantai", title: "Integritas log audit", roles: READERS, menu: "Integritas log", render: chainPage },
];
