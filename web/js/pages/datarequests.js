// Data requests (permintaan data, issue 17 part 2): the requester files one (purpose, fields,
// population, period), follows it, asks for the file once people consented and downloads it
// until it expires; BKD decides (the API refuses the requester's own: four eyes); auditors read.
// The pegawai's consent page is in ./pegawai.js.

import { api } from "../api.js";
import {
  badge, busy, button, clear, date, datetime, errorBox, facts, field, form, h, notify, saveBlob, section,
  table,
} from "../ui.js";

const REQUESTERS = ["fasilitator", "administrator", "auditor"];
const enc = encodeURIComponent;
const STATES = { submitted: ["diajukan", ""], refused: ["ditolak", "bad"],
                 approved: ["disetujui, menunggu persetujuan pegawai", "warn"], released: ["data diserahkan", "ok"] };
const EXPORT_STATES = { running: ["sedang dibuat", ""], ready: ["siap diunduh", "ok"], failed: ["gagal", "bad"],
                        expired: ["kedaluwarsa", "bad"] };
/** The employee-list columns a data request may ask for (services/reporting/domain.py). */
const FIELDS = [
  ["nip", "NIP"], ["name", "Nama"], ["gelar_depan", "Gelar depan"], ["gelar_belakang", "Gelar belakang"],
  ["gender", "Jenis kelamin"], ["date_of_birth", "Tanggal lahir"], ["status", "Status kepegawaian"],
  ["instansi", "Instansi"], ["opd_id", "Kode OPD"], ["opd_name", "OPD"], ["unit", "Unit kerja"],
  ["golongan", "Golongan"], ["tmt_golongan", "TMT golongan"], ["jabatan", "Jabatan"],
  ["jenis_jabatan", "Jenis jabatan"], ["eselon", "Eselon"], ["tmt_jabatan", "TMT jabatan"],
  ["education_id", "Kode pendidikan"], ["tmt_cpns", "TMT CPNS"], ["tmt_pns", "TMT PNS"], ["tmt_pensiun", "TMT pensiun"],
];
const FIELD_NAMES = Object.fromEntries(FIELDS);

function stateBadge(state) {
  const [label, kind] = STATES[state] || [state, ""];
  return badge(label, kind);
}

async function listPage(main, params, ctx) {
  clear(main, h("h1", {}, "Permintaan data"),
    h("p", { class: "muted" }, "Permintaan data pegawai di luar perjanjian kerja sama: diputus BKD, "
      + "lalu setiap pegawai yang datanya diminta memberi atau menolak persetujuan."));
  main.append(h("div", { class: "actions" }, h("a", { href: "#/permintaan-data/baru", class: "button primary" },
    "Ajukan permintaan data")));
  const body = h("div", {});
  main.append(body);
  const rows = await busy(body, () => api.get("/api/data-requests", { limit: 100 }));
  body.append(table({
    caption: ctx.has("administrator") || ctx.has("auditor") ? "Semua permintaan data, terbaru dahulu"
      : "Permintaan data Anda, terbaru dahulu",
    rows,
    empty: "Belum ada permintaan data.",
    columns: [
      { key: "organisation", label: "Peminta", render: (r) => h("a", { href: `#/permintaan-data/${enc(r.request_id)}` }, r.organisation) },
      { key: "purpose", label: "Tujuan" },
      { key: "state", label: "Status", render: (r) => stateBadge(r.state) },
      { key: "consents", label: "Setuju / tolak / belum", render: (r) => `${r.consents.given} / ${r.consents.refused} / ${r.consents.pending}` },
      { key: "created_at", label: "Diajukan", render: (r) => datetime(r.created_at) },
    ],
  }));
}

async function newPage(main, params, ctx) {
  clear(main, h("h1", {}, "Ajukan permintaan data"),
    h("p", { class: "muted" }, "Mintalah sesedikit mungkin: hanya kolom yang dicentang yang diserahkan, "
      + "dan hanya data pegawai yang menyetujuinya."));
  // the API names `fields` when the choice is refused: its message shows under the legend
  const boxes = h("fieldset", { class: "checks", dataset: { field: "fields" } },
    h("legend", {}, "Kolom yang diminta"),
    h("p", { class: "field-error", role: "alert", hidden: true }),
    FIELDS.map(([key, label]) => field({ name: `kolom-${key}`, label, type: "checkbox" })));
  main.append(form({
    id: "permintaan-form", submit: "Ajukan",
    fields: [
      { name: "organisation", label: "Instansi/lembaga peminta", required: true, maxlength: 200 },
      { name: "purpose", label: "Tujuan penggunaan data", type: "textarea", required: true, maxlength: 500,
        hint: "10-500 huruf; dicatat bersama setiap penyerahan data" },
      boxes,
      { name: "opd_id", label: "Kode OPD (populasi)", hint: "mis. dinkes; kosongkan bila memakai daftar NIP" },
      { name: "nips", label: "Daftar NIP (populasi)", type: "textarea", hint: "satu NIP per baris; boleh kosong bila OPD diisi" },
      { name: "period_from", label: "Awal masa penggunaan", type: "date", required: true },
      { name: "period_until", label: "Akhir masa penggunaan", type: "date", required: true, hint: "paling lama satu tahun" },
    ],
    onsubmit: async (data) => {
      const population = {};
      if (data.opd_id) population.opd_id = data.opd_id;
      const nips = data.nips.split(/[\s,;]+/).filter(Boolean);
      if (nips.length) population.nips = nips;
      const made = await api.post("/api/data-requests", {
        organisation: data.organisation, purpose: data.purpose, population,
        fields: FIELDS.map(([key]) => key).filter((key) => data[`kolom-${key}`]),
        period_from: data.period_from, period_until: data.period_until,
      });
      notify("Permintaan data diajukan; menunggu keputusan BKD.");
      ctx.navigate(`/permintaan-data/${enc(made.request_id)}`);
    },
  }));
}

async function onePage(main, params, ctx) {
  clear(main, h("h1", {}, "Permintaan data"));
  const body = h("div", {});
  main.append(body);
  const path = `/api/data-requests/${enc(params.id)}`;
  const r = await busy(body, () => api.get(path));
  const mine = r.requester === ctx.me.account_id;
  const population = [r.population.opd_id && `OPD ${r.population.opd_id}`,
    r.population.instansi && `instansi ${r.population.instansi}`,
    r.population.nips && `${r.population.nips.length} NIP`].filter(Boolean).join(", ");
  body.append(section("Ringkasan", facts([
    ["Peminta", `${r.organisation} (akun ${r.requester})`], ["Tujuan", r.purpose],
    ["Kolom", r.fields.map((f) => FIELD_NAMES[f] || f).join(", ")], ["Populasi", population],
    ["Masa penggunaan", `${date(r.period_from)} s.d. ${date(r.period_until)}`],
    ["Status", stateBadge(r.state)],
    r.decided_by ? ["Diputus oleh", `${r.decided_by}: ${r.decision_reason}`] : null,
    ["Persetujuan pegawai", `${r.consents.given} setuju, ${r.consents.refused} menolak, ${r.consents.pending} belum menjawab`],
  ])));
  const card = h("section", { class: "card", id: "langkah" }, h("h2", {}, "Langkah berikutnya"));
  if (r.state === "submitted" && ctx.has("administrator") && !mine) {
    card.append(form({
      id: "keputusan-form", submit: "Simpan keputusan",
      fields: [
        { name: "approve", label: "Keputusan", type: "select", required: true,
          options: [["", "Pilih"], ["true", "Setujui (minta persetujuan pegawai)"], ["false", "Tolak"]] },
        { name: "reason", label: "Alasan", type: "textarea", required: true, maxlength: 500 },
      ],
      onsubmit: async (data) => {
        await api.post(`${path}/decision`, { approve: data.approve === "true", reason: data.reason });
        notify("Keputusan dicatat.");
        ctx.navigate(`/permintaan-data/${enc(r.request_id)}`);
      },
    }));
  } else if (r.state === "approved" && mine) {
    card.append(h("p", {}, "Berkas memuat hanya pegawai yang sudah setuju saat berkas diminta; "
      + "sesudahnya persetujuan tidak dapat diubah lagi."), form({
      id: "rilis-form", submit: "Minta berkas",
      fields: [{ name: "format", label: "Format", type: "select", required: true,
                 options: [["csv", "CSV"], ["xlsx", "XLSX"], ["pdf", "PDF"]] }],
      onsubmit: async (data) => {
        await api.post(`${path}/release`, { format: data.format });
        notify("Berkas sedang dibuat.");
        ctx.navigate(`/permintaan-data/${enc(r.request_id)}`);
      },
    }));
  } else if (r.export) {
    const [label, kind] = EXPORT_STATES[r.export.status] || [r.export.status, ""];
    card.append(facts([["Berkas", badge(label, kind)], ["Baris", r.export.rows ?? "–"],
                       ["Berlaku sampai", datetime(r.export.expires_at)]]));
    if (mine && r.export.status === "ready") {
      card.append(h("div", { class: "actions" }, button("Unduh berkas", async (event) => {
        try {
          const blob = await api.blob(`${path}/file`);
          saveBlob(blob, `permintaan-data-${r.request_id.slice(0, 8)}.${r.export.format}`);
        } catch (error) { event.target.after(errorBox(error)); }
      }, { class: "primary" })));
    } else if (mine && r.export.status === "running") {
      card.append(button("Muat ulang", () => ctx.navigate(`/permintaan-data/${enc(r.request_id)}`)));
    }
  } else {
    card.append(h("p", { class: "muted" }, r.state === "refused" ? "Permintaan ini ditolak: tidak ada data yang diserahkan."
      : "Menunggu keputusan BKD."));
  }
  body.append(card);
}

export const routes = [
  ...REQUESTERS.map((role) => ({ path: "/permintaan-data", title: "Permintaan data", roles: REQUESTERS,
                                 menu: "Permintaan data", menuRole: role, render: listPage })),
  { path: "/permintaan-data/baru", title: "Ajukan permintaan data", roles: REQUESTERS, render: newPage },
  { path: "/permintaan-data/:id", title: "Permintaan data", roles: REQUESTERS, render: onePage },
];
