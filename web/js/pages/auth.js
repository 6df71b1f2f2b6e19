// Logging in (password, then TOTP where the role requires it, or its first enrolment), the
// forgotten password, and "Akun saya": sessions per device, password and contact.

import { api, ApiError } from "../api.js";
import { button, clear, datetime, errorBox, facts, field, form, h, notify, section, table } from "../ui.js";

const DEVICE = "Peramban web";

function loginPage(main, params, ctx) {
  if (ctx.me) { ctx.navigate(ctx.home()); return; }
  const holder = h("div", { class: "login" });
  clear(main, holder);
  passwordStep(holder, ctx);
}

function passwordStep(holder, ctx, message) {
  const formEl = form({
    id: "login-form",
    submit: "Masuk",
    fields: [
      { name: "login", label: "NIP atau nama pengguna", required: true, autocomplete: "username",
        hint: "Pegawai: NIP 18 digit. Staf: nama pengguna dari BKD." },
      { name: "password", label: "Kata sandi", type: "password", required: true,
        autocomplete: "current-password" },
    ],
    onsubmit: async (data) => {
      const body = { login: data.login, password: data.password, device: DEVICE };
      try {
        await finish(holder, ctx, await api.post("/api/auth/login", body), body);
      } catch (error) {
        if (error instanceof ApiError && error.code === "totp_required") {
          otpStep(holder, ctx, body);
          return;
        }
        throw error;
      }
    },
  });
  clear(holder,
    h("h1", {}, "Masuk ke SIMASN Jatim"),
    message ? h("p", { class: "notice warn" }, message) : null,
    formEl,
    h("p", {}, h("a", { href: "#/lupa-sandi" }, "Lupa kata sandi?")),
    h("p", { class: "muted small" }, "Periksa keaslian dokumen tanpa masuk: ",
      h("a", { href: "#/verifikasi" }, "Verifikasi dokumen"), "."));
}

function otpStep(holder, ctx, body) {
  clear(holder,
    h("h1", {}, "Kode OTP"),
    h("p", {}, "Buka aplikasi autentikator Anda dan masukkan kode 6 digit untuk akun ", h("strong", {}, body.login), "."),
    form({
      id: "otp-form", submit: "Masuk",
      fields: [{ name: "otp", label: "Kode OTP", required: true, inputmode: "numeric",
                 autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6 }],
      onsubmit: async (data) => {
        await finish(holder, ctx, await api.post("/api/auth/login", { ...body, otp: data.otp }), body);
      },
    }),
    button("Kembali", () => passwordStep(holder, ctx)));
  holder.querySelector("input").focus();
}

async function finish(holder, ctx, answer, body) {
  if (answer.status === "totp_enrollment_required") {
    enrolStep(holder, ctx, answer, body);
    return;
  }
  await ctx.signedIn(answer);
  const after = sessionStorage.getItem("simasn.after-login");
  if (after) { sessionStorage.removeItem("simasn.after-login"); ctx.navigate(after); }
}

function enrolStep(holder, ctx, answer, body) {
  clear(holder,
    h("h1", {}, "Aktifkan verifikasi dua langkah"),
    h("p", {}, "Peran Anda mewajibkan kode OTP. Tambahkan akun ini ke aplikasi autentikator "
      + "(mis. Google Authenticator, FreeOTP) dengan kunci berikut, lalu masukkan kode 6 digit yang muncul."),
    facts([["Akun", body.login], ["Kunci rahasia", h("code", { class: "secret" }, answer.totp_secret)]]),
    h("p", { class: "small" }, h("a", { href: answer.totp_uri }, "Buka di aplikasi autentikator ponsel ini")),
    form({
      id: "totp-enrol-form", submit: "Aktifkan dan masuk",
      fields: [{ name: "otp", label: "Kode OTP", required: true, inputmode: "numeric",
                 autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6 }],
      onsubmit: async (data) => {
        const done = await api.post("/api/auth/totp/confirm", {
          enrollment_token: answer.enrollment_token, otp: data.otp, device: DEVICE });
        await finish(holder, ctx, done, body);
      },
    }));
}

function forgotPage(main) {
  clear(main,
    h("div", { class: "login" },
      h("h1", {}, "Lupa kata sandi"),
      h("p", {}, "Kata sandi diatur ulang oleh administrator BKD atau fasilitator OPD Anda: "
        + "hubungi mereka. Anda akan menerima tautan pengaturan ulang melalui surel yang terdaftar."),
      h("p", {}, "Sudah menerima kode pengaturan ulang? Masukkan di sini."),
      form({
        id: "reset-form", submit: "Simpan kata sandi baru",
        fields: [
          { name: "token", label: "Kode dari surel", required: true, autocomplete: "off" },
          { name: "new_password", label: "Kata sandi baru", type: "password", required: true,
            autocomplete: "new-password", hint: "Minimal 12 karakter; hindari kata yang mudah ditebak." },
        ],
        onsubmit: async (data) => {
          await api.post("/api/auth/password-reset", data);
          notify("Kata sandi baru tersimpan. Silakan masuk.");
          window.location.hash = "/masuk";
        },
      })));
}

async function accountPage(main, params, ctx) {
  const me = ctx.me;
  clear(main, h("h1", {}, "Akun saya"),
    section("Identitas", facts([["Akun", me.account_id], ["Nama", me.display_name],
      ["Peran", (me.roles || []).join(", ")], ["OPD", (me.opd_scope || []).join(", ") || me.home_opd]])));
  if (ctx.isStaff()) {
    main.append(section("Pakta integritas", h("p", {}, "Peran fasilitator dan administrator "
      + "bekerja selama pakta integritasnya berlaku. ", h("a", { href: "#/pakta" }, "Lihat dan tandatangani pakta"))));
  }
  const sessions = h("section", { class: "card" }, h("h2", {}, "Sesi dan perangkat"));
  main.append(sessions);
  await showSessions(sessions, ctx);
  main.append(section("Ganti kata sandi", form({
    id: "password-form", submit: "Ganti kata sandi",
    fields: [
      { name: "current_password", label: "Kata sandi saat ini", type: "password", required: true,
        autocomplete: "current-password" },
      { name: "new_password", label: "Kata sandi baru", type: "password", required: true,
        autocomplete: "new-password", hint: "Minimal 12 karakter; hindari kata yang mudah ditebak." },
    ],
    onsubmit: async (data, formEl) => {
      await api.put("/api/me/password", data);
      formEl.reset();
      notify("Kata sandi diganti. Sesi di perangkat lain diakhiri.");
    },
  })));
  main.append(section("Kontak", form({
    id: "contact-form", submit: "Simpan kontak",
    fields: [
      { name: "email", label: "Surel", type: "email", autocomplete: "email" },
      { name: "phone", label: "Nomor telepon", type: "tel", autocomplete: "tel", hint: "Contoh: 081234567890" },
      { name: "current_password", label: "Kata sandi saat ini (konfirmasi)", type: "password",
        required: true, autocomplete: "current-password" },
    ],
    onsubmit: async (data, formEl) => {
      const body = { current_password: data.current_password };
      if (data.email) body.email = data.email;
      if (data.phone) body.phone = data.phone;
      await api.put("/api/me/contact", body);
      formEl.reset();
      notify("Kontak tersimpan.");
    },
  })));
}

async function showSessions(holder, ctx) {
  const list = h("div", {});
  holder.append(list);
  const load = async () => {
    const items = await api.get("/api/me/sessions");
    clear(list, table({
      caption: "Sesi yang masih berlaku",
      columns: [
        { key: "device", label: "Perangkat", render: (s) => [s.device || "–",
          s.current ? h("span", { class: "badge ok" }, " sesi ini") : null] },
        { key: "created_at", label: "Dibuka", render: (s) => datetime(s.created_at) },
        { key: "refreshed_at", label: "Terakhir aktif", render: (s) => datetime(s.refreshed_at || s.created_at) },
        { key: "end", label: "Tindakan", render: (s) => (s.current ? "–"
          : button("Akhiri", async () => {
            try { await api.del(`/api/me/sessions/${encodeURIComponent(s.session_id)}`); notify("Sesi diakhiri."); await load(); } catch (error) { list.append(errorBox(error)); }
          }, { class: "danger", "aria-label": `Akhiri sesi ${s.device || ""}` })) },
      ],
      rows: items,
    }));
  };
  await load();
}

export const routes = [
  { path: "/masuk", title: "Masuk", roles: null, render: loginPage },
  { path: "/lupa-sandi", title: "Lupa kata sandi", roles: null, render: forgotPage },
  { path: "/akun", title: "Akun saya",
    roles: ["pegawai", "fasilitator", "administrator", "auditor", "unsigned"],
    render: accountPage },
];
