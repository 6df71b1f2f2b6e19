// Pages anyone may open without logging in: the document verification page the QR code on every
// signed document opens (/verifikasi/<id>), checking an uploaded PDF, and the public statistics.

import { api } from "../api.js";
import { busy, clear, datetime, facts, form, h, section, table } from "../ui.js";

const STATUS = {
  valid: ["Dokumen SAH", "ok", "Dokumen ini diterbitkan dan ditandatangani secara elektronik oleh SIMASN Jatim, dan tidak diubah sejak ditandatangani."],
  revoked: ["Dokumen DICABUT", "bad", "Dokumen ini pernah diterbitkan SIMASN Jatim tetapi sudah dicabut: jangan dipakai."],
  superseded: ["Dokumen DIGANTI", "warn", "Dokumen ini sudah diganti dengan dokumen yang lebih baru: pakai penggantinya."],
  not_valid: ["Dokumen TIDAK SAH", "bad", "Dokumen ini tidak dapat dipastikan keasliannya."],
};

function verdict(answer) {
  const [title, kind, text] = STATUS[answer.status] || STATUS.not_valid;
  const doc = answer.document;
  const sig = answer.signature;
  return h("div", { class: "verdict", dataset: { status: answer.status } },
    h("div", { class: `notice ${kind === "ok" ? "ok" : "warn"}`, role: "status" },
      h("h2", {}, title), h("p", {}, text), h("p", { class: "small" }, `Alasan: ${answer.reason}`)),
    doc ? section("Dokumen", facts([
      ["Judul", doc.title], ["Nomor", doc.number], ["Penandatangan", doc.signer_name],
      ["Jabatan", doc.jabatan], ["Ditandatangani", datetime(doc.signed_at)],
      ["Tingkat PAdES", doc.pades_level],
      doc.revoked_at ? ["Dicabut", `${datetime(doc.revoked_at)} — ${doc.revoked_reason || ""}`] : null,
      doc.superseded_by ? ["Diganti oleh", h("a", { href: `/verifikasi/${encodeURIComponent(doc.superseded_by)}` },
        doc.superseded_by_number || doc.superseded_by)] : null,
      ["ID dokumen", doc.document_id],
    ])) : null,
    sig ? section("Tanda tangan elektronik", facts([
      ["Hasil", sig.reason], ["Nama pada sertifikat", sig.signer], ["Waktu", datetime(sig.signed_at)],
      ["Cap waktu tepercaya", sig.timestamped ? "Ya" : "Tidak"],
    ])) : null,
    answer.sha256 ? h("p", { class: "small muted wrap" }, `SHA-256: ${answer.sha256}`) : null);
}

async function byLink(main, params) {
  clear(main, h("h1", {}, "Verifikasi dokumen"),
    h("p", {}, "Halaman ini dibuka dari kode QR pada dokumen SIMASN Jatim."));
  const holder = h("div", {});
  main.append(holder);
  const answer = await busy(holder, () => api.get(`/api/public/verification/${encodeURIComponent(params.id)}`),
    "Memeriksa dokumen…");
  holder.append(verdict(answer),
    h("p", {}, "Punya berkas PDF-nya? ", h("a", { href: "#/verifikasi" }, "Periksa berkasnya"),
      " untuk memastikan isinya sama dengan yang ditandatangani."));
}

function byUpload(main) {
  const result = h("div", { "aria-live": "polite" });
  clear(main, h("h1", {}, "Verifikasi dokumen"),
    h("p", {}, "Unggah PDF yang Anda terima untuk memeriksa tanda tangan elektroniknya. "
      + "Berkas tidak disimpan."),
    form({
      id: "verify-form", submit: "Periksa",
      fields: [{ name: "pdf", label: "Berkas PDF", type: "file", accept: "application/pdf,.pdf", required: true,
                 hint: "Maksimal 10 MB." }],
      onsubmit: async (data) => {
        clear(result);
        const answer = await busy(result, () => api.upload("/api/public/verification", data.pdf[0]),
          "Memeriksa tanda tangan…");
        result.append(verdict(answer));
      },
    }),
    result);
}

const DIMENSIONS = { instansi: "Instansi", golongan: "Golongan", education: "Pendidikan",
                     gender: "Jenis kelamin", age_band: "Kelompok umur" };

async function statistics(main) {
  clear(main, h("h1", {}, "Statistik ASN Jawa Timur"));
  const holder = h("div", {});
  main.append(holder);
  const stats = await busy(holder, () => api.get("/api/public/statistics"));
  holder.append(h("p", { class: "muted" }, `Data per ${datetime(stats.generated_at)}. Angka di bawah `
    + `${stats.threshold} orang disembunyikan agar tidak ada orang yang dapat dikenali.`));
  for (const t of stats.tables) {
    holder.append(table({
      caption: `Jumlah ASN menurut ${(DIMENSIONS[t.dimension] || t.dimension).toLowerCase()}`,
      columns: [{ key: "label", label: DIMENSIONS[t.dimension] || t.dimension, render: (c) => c.label || c.value || "–" },
                { key: "count", label: "Jumlah", cls: "num", render: (c) => (c.suppressed ? "<" + stats.threshold : c.count) }],
      rows: t.cells,
    }));
  }
}

export const routes = [
  { path: "/verifikasi/:id", title: "Verifikasi dokumen", roles: null, render: byLink },
  { path: "/verifikasi", title: "Verifikasi dokumen", roles: null, render: byUpload },
  { path: "/statistik", title: "Statistik ASN", roles: null, render: statistics },
];
