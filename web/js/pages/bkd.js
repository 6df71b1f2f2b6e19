// BKD's areas of the web application (issue 16): the kabupaten/kota feeds (regions, one region's
// feed status, its quarantine with retry/skip, its snapshots), the annual reconciliation (start
// one, its differences, the decisions on them, applying them) and the reports with their charts
// and exports. Auditors read the same pages (the API refuses them every change, and the pages
// offer none); fasilitators read the reports, scoped to their OPDs by the API.

import { api, ApiError } from "../api.js";
import {
  badge, busy, button, clear, date, datetime, errorBox, facts, field, form, h, notify, pager,
  saveBlob, section, table,
} from "../ui.js";

const SYNC_READERS = ["administrator", "auditor"];
const REPORT_READERS = ["fasilitator", "administrator", "auditor"];
const enc = encodeURIComponent;

// -- regions and their feeds ------------------------------------------------------------------------

function lagBadge(region) {
  if (region.quarantined) return badge(`${region.quarantined} dikarantina`, "bad");
  if (region.silent) return badge("Tidak ada kiriman", "warn");
  if ((region.missing || []).length) return badge("Ada urutan hilang", "warn");
  if (region.lag) return badge(`Tertinggal ${region.lag}`, "warn");
  return badge("Lancar", "ok");
}

async function regionsPage(main, params, ctx) {
  clear(main, h("h1", {}, "Sinkronisasi daerah"),
    h("p", {}, "Umpan data pegawai dari kabupaten/kota: kiriman terakhir, yang sudah diterapkan, "
      + "karantina, snapshot dan rekonsiliasi tahunan."));
  const holder = h("div", {});
  main.append(holder);
  const regions = await busy(holder, () => api.get("/api/sync/regions"));
  holder.append(table({
    caption: `Daerah terdaftar (${regions.length})`,
    empty: "Belum ada daerah yang didaftarkan untuk sinkronisasi.",
    columns: [
      { key: "region", label: "Daerah", render: (r) => h("a", { href: `#/bkd/daerah/${enc(r.region)}` }, `${r.name} (${r.region})`) },
      { key: "state", label: "Keadaan", render: lagBadge },
      { key: "last_received_at", label: "Kiriman terakhir", render: (r) => datetime(r.last_received_at) },
      { key: "applied_through", label: "Diterapkan s.d.", cls: "num", render: (r) => r.applied_through ?? 0 },
      { key: "last_reconciliation", label: "Rekonsiliasi terakhir", render: (r) => (r.last_reconciliation
        ? `${r.last_reconciliation.year} · ${RECON_STATUS[r.last_reconciliation.status] || r.last_reconciliation.status}` : "–") },
    ],
    rows: regions,
  }));
  if (ctx.has("administrator")) {
    holder.append(section("Daftarkan daerah", form({
      id: "onboard-form", submit: "Daftarkan",
      fields: [
        { name: "region", label: "Kode daerah", required: true, inputmode: "numeric", maxlength: 4, hint: "Kode BPS 4 digit, mis. 3573 (Kota Malang)." },
        { name: "reason", label: "Dasar (PKS/MoU)", required: true },
      ],
      onsubmit: async (data, formEl) => {
        const key = await api.post("/api/sync/regions", data);
        formEl.replaceWith(section("Kunci HMAC pertama (ditampilkan sekali)", facts([
          ["Daerah", key.region], ["ID kunci", h("code", {}, key.key_id)], ["Rahasia", h("code", { class: "secret" }, key.secret)],
        ]), h("p", { class: "notice warn" }, "Serahkan rahasia ini kepada tim TI daerah melalui saluran aman. Rahasia tidak dapat ditampilkan lagi.")));
      },
    })));
  }
}

const SNAPSHOT_STATUS = { received: ["Diterima", ""], loading: ["Sedang dimuat", "warn"], loaded: ["Dimuat", "ok"], failed: ["Gagal", "bad"] };
const RECON_STATUS = { running: "sedang dibandingkan", failed: "gagal", reported: "dilaporkan",
                       applying: "sedang diterapkan", applied: "sudah diterapkan",
                       closing: "berita acara sedang ditandatangani", closed: "ditutup" };

const QUARANTINE_DONE = { skipped: "dilewati", waiting: "menunggu diterapkan ulang" };

function reasonPrompt(holder, label, onsend) {
  const formEl = form({
    submit: label, cls: "form inline-form",
    fields: [{ name: "reason", label: "Alasan", required: true, hint: "Minimal 5 huruf; dicatat di log." }],
    onsubmit: async (data) => { await onsend(data.reason); },
  });
  clear(holder, formEl);
  formEl.querySelector("textarea, input").focus();
}

async function regionPage(main, params, ctx) {
  const code = params.region;
  const admin = ctx.has("administrator");
  clear(main, h("p", {}, h("a", { href: "#/bkd/daerah" }, "‹ Semua daerah")), h("h1", {}, `Daerah ${code}`));
  const holder = h("div", {});
  main.append(holder);
  const base = `/api/sync/regions/${enc(code)}`;
  const [status, quarantine, snapshots, reconciliations] = await busy(holder, () => Promise.all([
    api.get(base), api.get(`${base}/quarantine`, { limit: 100 }), api.get(`${base}/snapshots`),
    api.get(`${base}/reconciliations`)]));
  clear(main.querySelector("h1"), `${status.name} (${status.region})`);
  holder.append(section("Status umpan", lagBadge(status), facts([
    ["Terdaftar", datetime(status.onboarded_at)], ["Kunci aktif", String(status.active_keys)],
    ["Kiriman terakhir", datetime(status.last_received_at)],
    ["Urutan terakhir diterima", String(status.last_sequence ?? 0)],
    ["Diterima berurutan s.d.", String(status.received_through ?? 0)],
    ["Diterapkan s.d.", String(status.applied_through ?? 0)],
    ["Menunggu diterapkan", String(status.waiting ?? 0)],
    ["Tertahan urutan hilang", String(status.held_for_gap ?? 0)],
    ["Urutan hilang", (status.missing || []).length ? status.missing.join(", ") : "tidak ada"],
    ["Dikarantina", String(status.quarantined ?? 0)],
    ["Ditolak di AMQP", String(status.amqp_rejected ?? 0)],
    status.silent ? ["Tidak mengirim sejak", datetime(status.silent_since)] : null,
  ])));

  const qCard = h("section", { class: "card" }, h("h2", {}, `Karantina (${quarantine.length})`),
    h("p", { class: "small muted" }, "Peristiwa daerah yang ditolak data pegawai. Terapkan ulang bila penyebabnya sudah dibereskan, atau lewati."));
  qCard.append(table({
    caption: "Peristiwa yang dikarantina",
    empty: "Tidak ada peristiwa yang dikarantina.",
    columns: [
      { key: "sequence", label: "Urutan", cls: "num" },
      { key: "kind", label: "Jenis" },
      { key: "nip", label: "NIP", render: (e) => e.nip || "–" },
      { key: "refusal", label: "Alasan ditolak", render: (e) => (e.refusal ? `${e.refusal.message} (${e.refusal.code})` : "–") },
      { key: "received_at", label: "Diterima", render: (e) => datetime(e.received_at) },
      admin ? { key: "act", label: "Tindakan", render: (e) => {
        const box = h("div", { class: "actions" });
        const act = (verb, label) => button(label, () => reasonPrompt(box, label, async (reason) => {
          const done = await api.post(`${base}/quarantine/${e.sequence}/${verb}`, { reason });
          notify(`Urutan ${e.sequence} ${QUARANTINE_DONE[done.status] || done.status}.`);
          ctx.navigate(`/bkd/daerah/${enc(code)}`);
        }), { "aria-label": `${label} urutan ${e.sequence}` });
        box.append(act("retry", "Terapkan ulang"), act("skip", "Lewati"));
        return box;
      } } : null,
    ].filter(Boolean),
    rows: quarantine,
  }));

  const loaded = snapshots.filter((s) => s.status === "loaded");
  const sCard = section(`Snapshot (${snapshots.length})`, table({
    caption: "Snapshot lengkap yang dikirim daerah",
    empty: "Daerah belum mengirim snapshot.",
    columns: [
      { key: "received_at", label: "Diterima", render: (s) => datetime(s.received_at) },
      { key: "status", label: "Status", render: (s) => badge(...(SNAPSHOT_STATUS[s.status] || [s.status, ""])) },
      { key: "rows_total", label: "Baris", cls: "num", render: (s) => s.rows_total ?? "–" },
      { key: "rows_invalid", label: "Tidak sah", cls: "num", render: (s) => s.rows_invalid ?? "–" },
      { key: "format", label: "Format" },
    ],
    rows: snapshots,
  }));

  const rCard = section(`Rekonsiliasi (${reconciliations.length})`, table({
    caption: "Rekonsiliasi tahunan",
    empty: "Belum ada rekonsiliasi.",
    columns: [
      { key: "year", label: "Tahun", render: (r) => h("a", { href: `#/bkd/daerah/${enc(code)}/rekonsiliasi/${enc(r.reconciliation_id)}` }, `Rekonsiliasi ${r.year}`) },
      { key: "status", label: "Status", render: (r) => RECON_STATUS[r.status] || r.status },
      { key: "started_at", label: "Dimulai", render: (r) => datetime(r.started_at) },
      { key: "requested_by", label: "Oleh" },
    ],
    rows: reconciliations,
  }));
  if (admin && loaded.length) {
    rCard.append(h("h3", {}, "Mulai rekonsiliasi"), form({
      id: "reconcile-form", submit: "Mulai rekonsiliasi",
      fields: [
        { name: "snapshot_id", label: "Snapshot", type: "select", required: true,
          options: loaded.map((s) => [s.snapshot_id, `${datetime(s.received_at)} · ${s.rows_total} baris`]) },
        { name: "year", label: "Tahun", type: "number", required: true, min: 2000, max: 2100, value: new Date().getFullYear() },
      ],
      onsubmit: async (data) => {
        const started = await api.post(`${base}/reconciliations`, { snapshot_id: data.snapshot_id, year: Number(data.year) });
        notify("Rekonsiliasi dimulai.");
        ctx.navigate(`/bkd/daerah/${enc(code)}/rekonsiliasi/${enc(started.reconciliation_id)}`);
      },
    }));
  }
  holder.append(qCard, sCard, rCard);
}

// -- one reconciliation: its differences and the decisions on them --------------------------------

const KIND_NAMES = { missing_in_records: "Ada di daerah, tidak ada di provinsi", missing_in_region: "Ada di provinsi, tidak ada di daerah",
                     field_mismatch: "Nilai berbeda", nip_in_two_instansi: "NIP di dua instansi", nip_invalid: "NIP tidak sah" };
const FIGURE_NAMES = { roster: "Pegawai provinsi di daerah ini", matched: "Cocok", differences: "Jumlah selisih",
                       rows: "Baris snapshot", rows_compared: "Baris dibandingkan" };
const DECISION_NAMES = { take_region: "Ambil data daerah", keep_province: "Tetap data provinsi", ask_correction: "Minta daerah memperbaiki" };

function shown(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "object") return String(value);
  // a snapshot row (missing_in_records): its fields one by one, so that the cell wraps
  return Array.isArray(value) ? value.map(shown).join(", ")
    : Object.entries(value).map(([k, v]) => `${k}: ${shown(v)}`).join("; ");
}

async function reconciliationPage(main, params, ctx) {
  const { region, id } = params;
  const admin = ctx.has("administrator");
  const base = `/api/sync/regions/${enc(region)}/reconciliations/${enc(id)}`;
  const q = ctx.query || new URLSearchParams();
  const kind = q.get("kind") || "";
  const offset = Number(q.get("offset") || 0);
  const limit = 25;
  const here = (next) => {
    const query = new URLSearchParams(Object.entries({ kind, offset, ...next }).filter(([, v]) => v !== "" && v !== 0));
    ctx.navigate(`/bkd/daerah/${enc(region)}/rekonsiliasi/${enc(id)}${query.toString() ? `?${query}` : ""}`);
  };
  clear(main, h("p", {}, h("a", { href: `#/bkd/daerah/${enc(region)}` }, `‹ Daerah ${region}`)), h("h1", {}, "Rekonsiliasi"));
  const holder = h("div", { "aria-live": "polite" });
  main.append(holder);
  const recon = await busy(holder, () => api.get(base));
  clear(main.querySelector("h1"), `Rekonsiliasi ${recon.year} · daerah ${region}`);
  const figures = recon.figures || {};
  holder.append(section("Ringkasan", facts([
    ["Status", RECON_STATUS[recon.status] || recon.status], ["Dimulai", datetime(recon.started_at)],
    ["Dilaporkan", datetime(recon.reported_at)], ["Diminta oleh", recon.requested_by],
    ...Object.entries(figures).filter(([k, v]) => typeof v !== "object" && !k.endsWith("sha256"))
      .map(([k, v]) => [FIGURE_NAMES[k] || KIND_NAMES[k] || k.replace(/_/g, " "), String(v)]),
    recon.error ? ["Galat", recon.error.message || JSON.stringify(recon.error)] : null,
  ])));
  if (["running", "applying"].includes(recon.status)) {
    // the comparison and the applying run in the background: the page follows them
    holder.append(h("p", { class: "loading", role: "status", id: "recon-progress" }, h("span", { class: "spinner", "aria-hidden": "true" }),
      recon.status === "running" ? "Data sedang dibandingkan…" : "Keputusan sedang diterapkan ke data pegawai…"),
    button("Muat ulang", () => here({})));
    await followStatus(holder, base, recon.status, () => here({}));
    return;
  }
  if (recon.berita_acara) {
    holder.append(section("Berita acara", facts([
      ["Ditutup", datetime(recon.closed_at)],
      ["Dokumen", h("a", { href: `#/bkd/dokumen/${enc(recon.berita_acara)}` }, "Berita acara bertanda tangan")],
    ])));
  }
  const list = h("section", { class: "card" }, h("h2", {}, "Selisih"));
  holder.append(list);
  list.append(form({
    id: "difference-filter", submit: "Saring", cls: "form inline-form",
    fields: [{ name: "kind", label: "Jenis selisih", type: "select", value: kind,
               options: [["", "Semua jenis"], ...Object.entries(KIND_NAMES)] }],
    onsubmit: async (data) => here({ kind: data.kind, offset: 0 }),
  }));
  const [page, decided] = await busy(list, () => Promise.all([
    api.get(`${base}/differences`, { kind: kind || undefined, offset, limit }),
    api.get(`${base}/decisions`, { kind: kind || undefined, limit: 5000 }),
  ]));
  const decisions = new Map(decided.map((d) => [d.difference_id, d]));
  const decidable = admin && DECIDABLE.includes(recon.status);
  list.append(h("p", { class: "small" }, `${page.total} selisih${kind ? ` jenis "${KIND_NAMES[kind]}"` : ""}.`),
    table({
      caption: "Selisih data daerah dan provinsi",
      empty: "Tidak ada selisih.",
      columns: [
        { key: "difference_id", label: "No", cls: "num" },
        { key: "kind", label: "Jenis", render: (d) => KIND_NAMES[d.kind] || d.kind },
        { key: "nip", label: "NIP" },
        { key: "field", label: "Kolom", render: (d) => d.field || "–" },
        { key: "region_value", label: "Nilai daerah", render: (d) => shown(d.region_value) },
        { key: "province_value", label: "Nilai provinsi", render: (d) => shown(d.province_value) },
        { key: "decision", label: "Keputusan", cls: "decision", render: (d) => {
          const made = decisions.get(d.difference_id) || d;
          const outcome = outcomeText(made);
          if (!decidable || made.applied_at) {
            return [made.decision ? DECISION_NAMES[made.decision] || made.decision : "Belum diputuskan", outcome];
          }
          const select = field({ name: `decision-${d.difference_id}`, label: `Keputusan selisih ${d.difference_id}`, type: "select",
            value: made.decision || "", options: [["", "Belum diputuskan"], ...Object.entries(DECISION_NAMES)] });
          const said = h("p", { class: "small", role: "status" });
          select.querySelector("select").addEventListener("change", async (event) => {
            if (!event.target.value) return;
            said.replaceChildren();
            try {
              await api.post(`${base}/decisions`, { decisions: [{ difference_id: d.difference_id, decision: event.target.value }] });
              said.textContent = "Tersimpan.";
              notify(`Selisih ${d.difference_id}: ${DECISION_NAMES[event.target.value]}.`);
            } catch (error) { said.append(errorBox(error)); }
          });
          return [select, said, outcome];
        } },
      ],
      rows: page.differences,
    }),
    pager({ offset, limit, hasMore: offset + limit < page.total, go: (o) => here({ offset: o }) }));
  if (decidable) holder.append(applyCard(base, decided, recon, here));
  if (admin && ["applied", "closing"].includes(recon.status)) holder.append(beritaAcaraCard(base, recon, here));
}

const DECIDABLE = ["reported", "applied"];

/** What applying a take_region decision did, in words (nothing before it is applied). */
function outcomeText(made) {
  if (!made.applied_at) return null;
  const result = made.applied_outcome || {};
  const text = result.status === "refused"
    ? ` · ditolak data pegawai: ${result.message || result.code}` : " · diterapkan";
  return h("span", { class: `small ${result.status === "refused" ? "bad-text" : "muted"}` }, `${text} ${datetime(made.applied_at)}`);
}

/** Re-read the reconciliation every second while it is `status` and the page shows it; then
 * `changed()` (the page drawn again). */
async function followStatus(holder, base, status, changed) {
  while (holder.isConnected) {
    await new Promise((resolve) => { setTimeout(resolve, 1000); });
    if (!holder.isConnected) return;
    let now;
    try {
      now = await api.get(base);
    } catch (error) {
      holder.append(errorBox(error));
      return;
    }
    if (now.status !== status) { changed(); return; }
  }
}

function applyCard(base, decided, recon, here) {
  const undecided = decided.filter((d) => !d.decision).length;
  const waiting = decided.filter((d) => d.decision === "take_region" && !d.applied_at).length;
  const card = section("Terapkan keputusan",
    h("p", {}, `${undecided} selisih belum diputuskan; ${waiting} keputusan "Ambil data daerah" belum diterapkan. `
      + "Keputusan \"Ambil data daerah\" diterapkan ke data pegawai di latar belakang; selisih lain hanya dicatat."),
    form({
      id: "bulk-form", submit: "Putuskan sekaligus", cls: "form inline-form",
      fields: [
        { name: "kind", label: "Semua selisih jenis", type: "select", required: true, options: Object.entries(KIND_NAMES) },
        { name: "decision", label: "Keputusan", type: "select", required: true, options: Object.entries(DECISION_NAMES) },
      ],
      onsubmit: async (data) => {
        const done = await api.post(`${base}/decisions`, { bulk: { kind: data.kind, decision: data.decision } });
        notify(`${done.decided} selisih diputuskan; ${done.undecided} belum.`);
        here({});
      },
    }));
  const apply = form({
    id: "apply-form", submit: "Terapkan keputusan ke data pegawai",
    onsubmit: async () => {
      const state = await api.post(`${base}/apply`);
      notify(`Rekonsiliasi ${RECON_STATUS[state.status] || state.status}.`);
      here({});
    },
  });
  card.append(apply);
  if (recon.status === "applied") {
    card.append(h("p", { class: "small muted" }, `Keputusan terakhir diterapkan ${datetime(recon.applied_at)}. `
      + "Keputusan yang diubah sesudahnya diterapkan dengan menekan tombol di atas lagi."));
  }
  return card;
}

/** "Nama; Jabatan; Instansi" a line, as the berita acara's participants. */
function participants(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [name, position, instansi] = line.split(";").map((part) => (part || "").trim());
    return { name, position, instansi };
  });
}

function beritaAcaraCard(base, recon, here) {
  return section("Tutup dengan berita acara",
    h("p", {}, "Setelah semua selisih diputuskan dan diterapkan, berita acara rapat rekonsiliasi dibuat dan "
      + "ditandatangani pejabat yang ditunjuk; rekonsiliasi lalu ditutup dan keputusannya tidak dapat diubah lagi."),
    recon.status === "closing" ? h("p", { class: "notice warn" },
      "Berita acara sedang ditandatangani. Kirim formulir yang sama lagi untuk menyelesaikannya.") : null,
    form({
      id: "berita-acara-form", submit: "Buat dan tandatangani berita acara",
      fields: [
        { name: "meeting_date", label: "Tanggal rapat", type: "date", required: true },
        { name: "place", label: "Tempat rapat", required: true, maxlength: 200 },
        { name: "participants", label: "Peserta rapat", type: "textarea", required: true, rows: 4,
          hint: "Satu peserta per baris: Nama; Jabatan; Instansi. Mis. Dr. Budi Santoso; Kepala BKD; Pemerintah Provinsi Jawa Timur." },
        { name: "signer", label: "Akun pejabat penanda tangan", required: true, maxlength: 80, hint: "Akun yang memiliki sertifikat tanda tangan elektronik." },
        { name: "notes", label: "Catatan (opsional)", type: "textarea", maxlength: 2000 },
      ],
      onsubmit: async (data) => {
        const body = { meeting_date: data.meeting_date, place: data.place, signer: data.signer,
                       participants: participants(data.participants) };
        if (data.notes) body.notes = data.notes;
        const state = await api.post(`${base}/berita-acara`, body);
        notify(`Rekonsiliasi ${RECON_STATUS[state.status] || state.status}.`);
        here({});
      },
    }));
}

// -- reports, their charts and their exports ---------------------------------------------------------

const COMMON = ["instansi", "opd_id", "golongan", "status", "gender", "as_of"];
const REPORTS = {
  headcount: { title: "Jumlah pegawai", filters: ["by", "by2", ...COMMON], chart: true },
  retirement_forecast: { title: "Proyeksi pensiun (BUP)", filters: ["years", "group", ...COMMON], chart: true },
  monev_completeness: { title: "Kelengkapan data per OPD", filters: ["group", "instansi", "opd_id"], chart: true },
  monev_completeness_trend: { title: "Tren kelengkapan data", filters: ["date_from", "date_to", "opd_id"], chart: true },
  monev_workload: { title: "Beban verifikasi dan SLA", filters: ["year", "opd_id"], chart: true },
  employees: { title: "Daftar pegawai", filters: ["name", "nip", ...COMMON.filter((f) => f !== "as_of")], paged: "offset" },
  duk: { title: "Daftar Urut Kepangkatan (DUK)", filters: COMMON, paged: "page" },
  nominatif: { title: "Daftar nominatif", filters: COMMON, paged: "page" },
  retirement_list: { title: "Pegawai yang akan pensiun", filters: ["years", ...COMMON], paged: "page" },
  kp_due: { title: "Memenuhi masa kenaikan pangkat", filters: ["period", ...COMMON], paged: "page" },
  kgb_due: { title: "Jatuh tempo KGB", filters: ["kgb_period", ...COMMON], paged: "page" },
  monev_missing: { title: "Kekurangan data per pegawai", filters: ["instansi", "opd_id"], paged: "offset" },
};

const BY = [["opd_id", "OPD"], ["instansi", "Instansi"], ["golongan", "Golongan"], ["jenis_jabatan", "Jenis jabatan"],
            ["education_id", "Pendidikan"], ["gender", "Jenis kelamin"], ["age_band", "Kelompok umur"], ["status", "Status"]];
const FILTERS = {
  by: { label: "Kelompokkan menurut", type: "select", options: BY },
  by2: { label: "Lalu menurut (opsional)", type: "select", options: [["", "–"], ...BY] },
  instansi: { label: "Instansi", hint: "Kode, mis. 35 (provinsi) atau 3573." },
  opd_id: { label: "OPD", hint: "Kode OPD, mis. dinkes." },
  golongan: { label: "Golongan", hint: "Mis. III/a." },
  status: { label: "Status pegawai", type: "select", options: [["", "Semua"], ["CPNS", "CPNS"], ["PNS", "PNS"], ["PPPK", "PPPK"], ["Pensiun", "Pensiun"]] },
  gender: { label: "Jenis kelamin", type: "select", options: [["", "Semua"], ["L", "Laki-laki"], ["P", "Perempuan"]] },
  as_of: { label: "Per tanggal", type: "date", hint: "Kosongkan untuk data terkini." },
  years: { label: "Tahun ke depan", type: "number", min: 1, max: 10 },
  group: { label: "Kelompok", type: "select", options: [["", "Bawaan"], ["opd_id", "OPD"], ["instansi", "Instansi"], ["jenis_jabatan", "Jenis jabatan"], ["opd", "OPD (monev)"], ["fasilitator", "Fasilitator (monev)"]] },
  date_from: { label: "Dari tanggal", type: "date" },
  date_to: { label: "Sampai tanggal", type: "date" },
  year: { label: "Tahun", type: "number", min: 2000, max: 2100 },
  name: { label: "Nama (sebagian)" },
  nip: { label: "NIP (atau awalannya)", inputmode: "numeric", maxlength: 18 },
  period: { label: "Periode", type: "date" },
  kgb_period: { label: "Bulan KGB", type: "month", param: "period" },
};

function reportIndex(main) {
  clear(main, h("h1", {}, "Laporan"),
    h("p", {}, "Statistik dan daftar kepegawaian sesuai cakupan Anda, dengan grafik dan ekspor CSV, XLSX atau PDF."),
    h("ul", { class: "link-list" }, Object.entries(REPORTS).map(([name, r]) =>
      h("li", {}, h("a", { href: `#/laporan/${name}` }, r.title), r.chart ? h("span", { class: "small muted" }, " · dengan grafik") : null))));
}

/** The report's query from the page address: only the filters this report takes. */
function reportParams(spec, query) {
  const out = {};
  for (const name of spec.filters) {
    const key = FILTERS[name].param || name;
    const value = query.get(key);
    if (value) out[key] = name === "as_of" ? `${value}T23:59:59+07:00` : value;
  }
  return out;
}

function chartSummary(answer) {
  const [first, ...rest] = answer.columns;
  const numeric = rest.filter((c) => c.kind === "int" || c.kind === "percent");
  const value = numeric[0] || rest[rest.length - 1];
  if (!first || !value || !answer.items.length) return `Grafik ${answer.title}: tidak ada data.`;
  const top = answer.items.slice(0, 8).map((row) => `${row[first.key] ?? "–"}: ${row[value.key] ?? "–"}`);
  const more = answer.items.length > 8 ? `, dan ${answer.items.length - 8} lainnya` : "";
  return `Grafik ${answer.title}, ${value.title} menurut ${first.title.toLowerCase()}: ${top.join("; ")}${more}.`;
}

async function reportPage(main, params, ctx) {
  const name = params.name;
  const spec = REPORTS[name];
  if (!spec) { clear(main, h("h1", {}, "Laporan tidak dikenal"), h("a", { href: "#/laporan" }, "Semua laporan")); return; }
  const query = ctx.query || new URLSearchParams();
  const filters = reportParams(spec, query);
  const offset = Number(query.get("offset") || 0);
  const page = Number(query.get("page") || 1);
  const limit = 25;
  const go = (next) => {
    const q = new URLSearchParams(Object.entries({ ...Object.fromEntries(spec.filters.map((f) => [FILTERS[f].param || f, query.get(FILTERS[f].param || f) || ""])), ...next })
      .filter(([k, v]) => v !== "" && v !== undefined && !(k === "offset" && !v) && !(k === "page" && Number(v) <= 1)));
    ctx.navigate(`/laporan/${name}${q.toString() ? `?${q}` : ""}`);
  };
  clear(main, h("p", {}, h("a", { href: "#/laporan" }, "‹ Semua laporan")), h("h1", {}, spec.title));
  const filterForm = form({
    id: "report-filter", submit: "Tampilkan", cls: "form filters",
    fields: spec.filters.map((f) => ({ name: FILTERS[f].param || f, ...FILTERS[f], value: query.get(FILTERS[f].param || f) || "" })),
    onsubmit: async (data) => go({ ...data, offset: 0, page: 1 }),
  });
  main.append(h("details", { class: "card", open: Object.keys(filters).length ? true : undefined },
    h("summary", {}, "Saring"), filterForm));
  const results = h("div", { "aria-live": "polite" });
  main.append(results);
  const paging = spec.paged === "offset" ? { limit, offset } : spec.paged === "page" ? { limit, page } : {};
  const answer = await busy(results, () => api.get(`/api/reports/${name}`, { ...filters, ...paging }));
  if (answer.as_of) results.append(h("p", { class: "small muted" }, `Data per ${date(answer.as_of.slice(0, 10))}.`));
  if (spec.chart) {
    const figure = h("figure", { class: "chart card" });
    results.append(figure);
    const blob = await busy(figure, () => api.blob(`/api/reports/${name}/chart`, { ...filters, format: "png" }), "Menggambar grafik…")
      .catch(() => null);
    if (blob) {
      const src = URL.createObjectURL(blob);
      const summary = chartSummary(answer);
      const img = h("img", { src, alt: summary, class: "chart-image" });
      img.addEventListener("load", () => setTimeout(() => URL.revokeObjectURL(src), 1000), { once: true });
      figure.append(img, h("figcaption", { class: "small muted" }, `${answer.title}. Angka lengkap pada tabel di bawah.`));
    }
  }
  results.append(table({
    caption: answer.title,
    empty: "Tidak ada baris untuk saringan ini.",
    columns: answer.columns.map((c) => ({ key: c.key, label: c.title, cls: c.kind === "int" || c.kind === "percent" ? "num" : undefined,
      render: (row) => (c.kind === "date" ? date(row[c.key]) : (row[c.key] ?? "–")) })),
    rows: answer.items,
  }));
  if (spec.paged === "offset") {
    results.append(pager({ offset, limit, hasMore: answer.has_more, go: (o) => go({ offset: o }) }));
  } else if (spec.paged === "page") {
    results.append(pager({ offset: (page - 1) * limit, limit, hasMore: answer.has_more, go: (o) => go({ page: o / limit + 1 }) }));
  }
  main.append(exportCard(name, answer, filters));
}

const FORMAT_NAMES = { csv: "CSV", xlsx: "Excel (XLSX)", pdf: "PDF" };
const EXPORT_POLL_MS = 1000;

function exportCard(name, answer, filters) {
  const progress = h("div", { class: "export-progress", "aria-live": "polite" });
  const fields = [
    { name: "format", label: "Format", type: "select", options: Object.entries(FORMAT_NAMES) },
  ];
  if (answer.personal) {
    fields.push({ name: "purpose", label: "Tujuan penggunaan data", type: "textarea", required: true, maxlength: 500,
                  hint: "Laporan ini memuat data perorangan: ekspor dicatat sebagai pengungkapan (siapa, apa, untuk apa). 10-500 huruf." });
  }
  if (answer.official) {
    fields.push({ name: "signer", label: "Penandatangan PDF resmi (opsional)", hint: "Akun penandatangan untuk daftar resmi berformat PDF." });
  }
  const card = section("Ekspor",
    form({
      id: "export-form", submit: "Ekspor",
      fields,
      onsubmit: async (data) => {
        const body = { format: data.format, params: filters };
        if (data.purpose) body.purpose = data.purpose;
        if (data.signer) body.signer = data.signer;
        clear(progress);
        const bar = h("progress", { "aria-label": "Kemajuan ekspor" });
        const state = h("p", { class: "small", role: "status" }, "Ekspor diminta…");
        progress.append(state, bar);
        let exp = await api.post(`/api/reports/${name}/export`, body, { idempotent: true });
        const started = Date.now();
        while (exp.status === "running") {
          state.textContent = `Menyiapkan berkas ${FORMAT_NAMES[exp.format]}… (${Math.round((Date.now() - started) / 1000)} detik)`;
          await new Promise((resolve) => { setTimeout(resolve, EXPORT_POLL_MS); });
          exp = await api.get(`/api/reports/${name}/export/${enc(exp.export_id)}`);
        }
        bar.remove();
        if (exp.status !== "ready") {
          throw new ApiError(422, { code: "export_failed", title: "Ekspor gagal", detail: exp.error || "Berkas tidak dapat dibuat." });
        }
        state.textContent = `Berkas siap: ${exp.file_name} (${exp.rows} baris). Mengunduh…`;
        const blob = await api.blob(`/api/reports/${name}/export/${enc(exp.export_id)}/file`);
        saveBlob(blob, exp.file_name);
        state.textContent = `Berkas ${exp.file_name} (${exp.rows} baris) diunduh.`;
        progress.append(button("Unduh lagi", async () => {
          saveBlob(await api.blob(`/api/reports/${name}/export/${enc(exp.export_id)}/file`), exp.file_name);
        }));
        if (exp.document_id) progress.append(signedList(exp));
      },
    }),
    progress);
  return card;
}

/** An official list's signed document: it names the downloaded file's SHA-256 and row count
 * (and lists the rows when they are few), signed by the official named on the form. */
function signedList(exp) {
  const holder = h("div", { class: "signed-list" });
  holder.append(h("p", { class: "small" }, "Daftar resmi ditandatangani secara elektronik. Dokumen bertanda tangan memuat "
    + `SHA-256 berkas ${exp.file_name}: `, h("code", { class: "hash" }, exp.sha256), "."),
  h("div", { class: "actions" },
    button("Unduh daftar resmi bertanda tangan", async () => {
      try {
        saveBlob(await api.blob(`/api/signed-documents/${enc(exp.document_id)}/pdf`), `${exp.file_name.replace(/\.pdf$/, "")}-ttd.pdf`);
      } catch (error) { holder.append(errorBox(error)); }
    }),
    h("a", { href: `/verifikasi/${enc(exp.document_id)}`, class: "button-link" }, "Halaman verifikasi")));
  return holder;
}

/** One page in the menus of several roles: the same route once per role's menu (the router takes
 * the first; the menu shows each copy under its role). */
function inMenus(route, roles) {
  return roles.map((role) => ({ ...route, menuRole: role }));
}

export const routes = [
  { path: "/bkd/daerah", title: "Sinkronisasi daerah", roles: SYNC_READERS, menuRole: "administrator", menu: "Sinkronisasi daerah", render: regionsPage },
  { path: "/bkd/daerah/:region", title: "Status daerah", roles: SYNC_READERS, render: regionPage },
  { path: "/bkd/daerah/:region/rekonsiliasi/:id", title: "Rekonsiliasi", roles: SYNC_READERS, render: reconciliationPage },
  ...inMenus({ path: "/laporan", title: "Laporan", roles: REPORT_READERS, menu: "Laporan", render: reportIndex }, REPORT_READERS),
  { path: "/laporan/:name", title: "Laporan", roles: REPORT_READERS, render: reportPage },
];
