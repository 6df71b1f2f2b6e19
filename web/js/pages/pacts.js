// "Pakta integritas" (issue 17 part 5): a fasilitator or administrator role works only while the
// person's integrity pact for it is in force. The page lists the caller's pacts, signs one
// (password and OTP again; the signing service renders and signs the PDF) and withdraws one.
// An account whose role waits for its pact (role `unsigned`) reaches only this page and "Akun saya".

import { api } from "../api.js";
import { button, clear, datetime, errorBox, form, h, notify, section, table } from "../ui.js";

const SIGNERS = ["administrator", "fasilitator", "auditor", "unsigned"];
const ROLE_NAMES = { fasilitator: "Fasilitator OPD", administrator: "Administrator BKD" };

function basis(pact) {
  return pact.document_id ? `Dokumen bertanda tangan ${pact.document_id}`
    : `Pakta kertas: ${pact.paper_reference}`;
}

async function pactsPage(main, params, ctx) {
  const list = h("div", {});
  clear(main, h("h1", {}, "Pakta integritas"),
    h("p", {}, "Peran fasilitator dan administrator hanya bekerja selama pakta integritas Anda "
      + "untuk peran itu berlaku. Pakta yang ditarik menghentikan peran tersebut seketika."),
    ctx.has("unsigned") ? h("p", { class: "problem", id: "pact-waiting" },
      "Peran Anda menunggu pakta integritas: tanda tangani di bawah agar peran itu bekerja.") : null,
    section("Pakta saya", list));
  const load = async () => {
    const pacts = await api.get("/api/me/integrity-pacts");
    clear(list, pacts.length ? table({
      caption: "Pakta integritas saya (terbaru dahulu)",
      columns: [
        { key: "role", label: "Peran", render: (p) => ROLE_NAMES[p.role] || p.role },
        { key: "opd_scope", label: "OPD", render: (p) => (p.opd_scope || []).join(", ") || "–" },
        { key: "signed_at", label: "Ditandatangani", render: (p) => datetime(p.signed_at) },
        { key: "basis", label: "Dasar", render: basis },
        { key: "state", label: "Status", render: (p) => (p.in_force
          ? h("span", { class: "badge ok" }, "Berlaku")
          : `Ditarik ${datetime(p.withdrawn_at)}: ${p.withdrawn_reason || ""}`) },
        { key: "withdraw", label: "Tindakan", render: (p) => (!p.in_force ? "–"
          : button("Tarik", async () => {
            const reason = window.prompt("Alasan menarik pakta (minimal 3 karakter):");
            if (!reason) return;
            try {
              await api.post(`/api/me/integrity-pacts/${encodeURIComponent(p.pact_id)}/withdraw`, { reason });
              notify("Pakta ditarik; peran yang bergantung padanya berhenti.");
              await ctx.refreshMe();
              await pactsPage(main, params, ctx);
            } catch (error) { list.append(errorBox(error)); }
          }, { class: "danger", "aria-label": `Tarik pakta ${ROLE_NAMES[p.role] || p.role}` })) },
      ],
      rows: pacts,
    }) : h("p", {}, "Anda belum memiliki pakta integritas."));
  };
  await load();
  main.append(section("Tandatangani pakta", form({
    id: "pact-form", submit: "Tandatangani pakta",
    fields: [
      { name: "role", label: "Peran", type: "select", required: true,
        options: [["fasilitator", "Fasilitator OPD"], ["administrator", "Administrator BKD"]] },
      { name: "opd_scope", label: "OPD yang difasilitasi (kode, dipisah koma)",
        hint: "Untuk fasilitator; kosongkan untuk memakai OPD akun Anda." },
      { name: "password", label: "Kata sandi", type: "password", required: true,
        autocomplete: "current-password" },
      { name: "otp", label: "Kode OTP", inputmode: "numeric", autocomplete: "one-time-code",
        hint: "Enam angka dari aplikasi autentikator." },
    ],
    onsubmit: async (data, formEl) => {
      const body = { role: data.role, password: data.password };
      const scope = (data.opd_scope || "").split(",").map((s) => s.trim()).filter(Boolean);
      if (scope.length && data.role === "fasilitator") body.opd_scope = scope;
      if (data.otp) body.otp = data.otp;
      await api.post("/api/me/integrity-pacts", body);
      formEl.reset();
      notify("Pakta integritas ditandatangani.");
      await ctx.refreshMe();
      await pactsPage(main, params, ctx);
    },
  })));
}

export const routes = [
  { path: "/pakta", title: "Pakta integritas", roles: SIGNERS, menu: "Pakta integritas",
    menuRole: ["unsigned"], render: pactsPage },
];
