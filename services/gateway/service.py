"""HTTP entrypoints of the gateway. Each route declares its roles and schemas in `endpoint`;
the body calls one service over RPC. Who may act on which OPD's data is checked again by the
service behind it."""

import base64

import eventlet
from nameko.timer import timer
from werkzeug.wrappers import Response

from services.gateway import openapi
from services.gateway.dependencies import GatewayRequestContext, RateLimits, SessionCache
from services.gateway.events import REGISTRY
from services.gateway.exceptions import (
    ServiceUnavailable,
    SnapshotDigestMismatch,
    UnsupportedMediaType,
)
from services.gateway.http import (
    abandon_body,
    endpoint,
    http,
    stream_upload,
    unrouted_response,
)
from services.gateway.schemas import OpdSchema, ReadinessSchema
from services.gateway.usecases import agency, auditing
from services.gateway.usecases import limits as rate_limits
from services.gateway.web import WebApplication, WebConfigSchema
from shared import SERVICES
from shared.callers import GATEWAY
from shared.contracts import agency as ag
from shared.contracts import disclosures as dc
from shared.contracts import identity as c
from shared.contracts import monev as mv
from shared.contracts import records as r
from shared.contracts import reporting as rp
from shared.contracts import requests as q
from shared.contracts import signing as g
from shared.contracts import sync as y
from shared.contracts import verification as v
from shared.db import Database
from shared.objectstore import DocumentStore
from shared.reference import opds
from shared.rpc import RpcProxy
from shared.schemas import HealthSchema
from shared.service import ServiceBase

BACKENDS = [s for s in SERVICES if s != "gateway"]
READY_TIMEOUT = 3.0
ANYONE = ("pegawai", "fasilitator", "administrator", "auditor")
BKD = ("administrator",)
#: a staff role held without its integrity pact in force (identity's authenticate)
UNSIGNED = "unsigned"
#: the caller's own session and account: anyone signed in, a role waiting for its pact too
SELF = ANYONE + (UNSIGNED,)
#: who signs and withdraws their own integrity pacts: staff, and staff whose role waits for one
PACT_SIGNERS = ("fasilitator", "administrator", "auditor", UNSIGNED)


IMPORT_MAX_BYTES = 64 << 20  # a 50,000-row CSV is about 10 MB
#: the gateway's hard cap; the records document policy (DOCUMENT_MAX_BYTES) decides within it
DOCUMENT_MAX_BYTES = 20 << 20
VERIFY_MAX_BYTES = 10 << 20
#: the gateway's hard cap on a region's batch; SYNC_MAX_BATCH_BYTES (sync) decides within it
SYNC_BATCH_MAX_BYTES = 8 << 20  # a signed output is tens of KB; a scanned copy is not ours
#: the gateway's hard cap on a region's snapshot; SYNC_MAX_SNAPSHOT_BYTES (sync) decides within
SYNC_SNAPSHOT_MAX_BYTES = 1 << 30
SNAPSHOT_TYPES = tuple(y.SNAPSHOT_TYPES)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: what a stored document is, judged by its bytes (records' checks): what a download answers
DOCUMENT_TYPES = ("application/pdf", "image/jpeg", "image/png")
#: who may read an output document: BKD, auditors, the employee it concerns, and the fasilitator
#: of that employee's OPD once it is signed (the signing service decides per document)
OUTPUT_READERS = ("pegawai", "fasilitator", "administrator", "auditor")
#: who may export reports and see their charts (the reporting service scopes the rows): people;
#: a machine client reads the JSON of a report, not files made for a person
REPORT_READERS = ("fasilitator", "administrator", "auditor")
#: the scope a machine client needs for the lists and figures it may read (a kab/kota's client)
MACHINE_READ = "records:read"
EXPORT_TYPES = {"csv": "text/csv", "xlsx": XLSX_TYPE, "pdf": "application/pdf"}
#: who may file a data request (permintaan data, issue 17 part 2): an OPD's fasilitator asking
#: for another OPD's data, BKD and auditors on behalf of a third party
DATA_REQUESTERS = ("fasilitator", "administrator", "auditor")
DATA_REQUEST_CREATE = rp.DataRequestCreate()
AGENCY_SEARCH = ag.AgencyEmployeeSearch()
PRINCIPAL = c.Principal()  # made once: a schema's construction costs more than its dump
READINESS = ReadinessSchema()


class GatewayService(ServiceBase):
    """The HTTP JSON API (port 8000 by default)."""

    name = "gateway"
    context = GatewayRequestContext()
    db = Database(REGISTRY)
    limits = RateLimits()
    sessions = SessionCache()
    documents = DocumentStore()
    web = WebApplication()
    rpc_identity = RpcProxy("identity", issuer=GATEWAY, signs={"sign_integrity_pact"})
    rpc_records = RpcProxy("records", issuer=GATEWAY)
    rpc_requests = RpcProxy("requests", issuer=GATEWAY, signs={"record_evaluation"})
    rpc_verification = RpcProxy("verification", issuer=GATEWAY)
    rpc_signing = RpcProxy("signing", issuer=GATEWAY,
                           signs={"sign_document", "retry_document", "reissue_document"})
    rpc_reporting = RpcProxy("reporting", issuer=GATEWAY)
    rpc_sync = RpcProxy("sync", issuer=GATEWAY, signs={"produce_berita_acara"})

    @timer(interval=600)
    def prune_rate_buckets(self):
        """Login rate buckets untouched for a day are full again: drop them."""
        with self.db.transaction() as uow:
            rate_limits.prune_rate_buckets(uow)

    def record_auditor_read(self, request):
        """Every auditor read is itself recorded (Pergub 73/2020)."""
        with self.db.transaction(reason="akses auditor") as uow:
            auditing.record_auditor_read(uow, self.context["actor_id"], request.method,
                                         request.path, request.query_string.decode())

    # -- health and documentation ----------------------------------------------------------

    @endpoint("GET", "/health", summary="Gateway hidup", tag="sistem",
              response=HealthSchema)
    def http_health(self, request, **_):
        return self.health()

    @endpoint("GET", "/health/ready", summary="Semua layanan siap", response=ReadinessSchema,
              tag="sistem")
    def http_ready(self, request, **_):
        answers, down, pending = {}, [], {}
        for service in BACKENDS:
            try:
                pending[service] = getattr(self, f"rpc_{service}").health.call_async()
            except Exception:  # noqa: BLE001 - e.g. UnknownService: no instance is running
                down.append(service)
        for service, reply in pending.items():
            try:
                with eventlet.Timeout(READY_TIMEOUT):
                    answers[service] = reply.result()
            except (Exception, eventlet.Timeout):  # noqa: BLE001 - any failure: not ready
                down.append(service)
        if down:
            raise ServiceUnavailable(f"not answering: {', '.join(down)}", field="services")
        return READINESS.dump({"status": "ok", "services": answers})

    @endpoint("GET", "/api/openapi.json", summary="Dokumen OpenAPI 3", tag="sistem",
              media=("application/json",))
    def http_openapi(self, request, **_):
        return openapi.document()

    @endpoint("GET", "/api/docs", summary="Halaman dokumentasi API", tag="sistem",
              media=("text/html",))
    def http_docs(self, request, **_):
        return Response(openapi.DOCS_PAGE, mimetype="text/html")

    # -- the web application (services/gateway/web.py, docs/design/web.md) ---------------------

    @endpoint("GET", "/", summary="Aplikasi web SIMASN Jatim", tag="aplikasi web",
              media=("text/html",))
    def http_web_page(self, request, **_):
        return self.web.page(request)

    @endpoint("GET", "/verifikasi/<document_id>",
              summary="Halaman verifikasi dokumen (alamat yang dibuka kode QR)",
              tag="aplikasi web", media=("text/html",), errors=(404,))
    def http_web_verification_page(self, request, document_id, **_):
        # the page asks the API for the verdict; an id no document can have (they are UUIDs)
        # is answered here, as the API would
        return self.web.verification_page(request, document_id)

    @endpoint("GET", "/assets/<path:path>", summary="Berkas aplikasi web (skrip, gaya, gambar)",
              tag="aplikasi web", errors=(404,),
              media=("text/javascript", "text/css", "image/svg+xml", "image/png"))
    def http_web_asset(self, request, path, **_):
        return self.web.asset(request, path)

    @endpoint("GET", "/api/web/config", summary="Pengaturan aplikasi web (kunci layar, notifikasi)",
              response=WebConfigSchema, tag="aplikasi web")
    def http_web_config(self, request, **_):
        return self.web.config(DOCUMENT_MAX_BYTES)

    @endpoint("GET", "/api/opds", summary="Daftar OPD", roles=ANYONE, response=OpdSchema,
              many=True, tag="referensi")
    def http_opds(self, request, **_):
        return OpdSchema(many=True).dump(
            [{"code": code, "name": name} for code, name in opds().items()])

    # -- authentication ----------------------------------------------------------------------

    @endpoint("POST", "/api/auth/login", summary="Masuk dengan NIP/nama pengguna dan kata sandi",
              body=c.LoginRequest, response=c.TokenResponse, tag="autentikasi",
              login_limited=True, errors=(401, 403))
    def http_login(self, request, body, **_):
        return self.rpc_identity.login(body, request.headers.get("User-Agent"))

    @endpoint("POST", "/api/auth/totp/confirm", summary="Daftarkan OTP lalu masuk",
              body=c.TotpConfirmRequest, response=c.TokenResponse, tag="autentikasi",
              login_limited=True, errors=(401, 409))
    def http_confirm_totp(self, request, body, **_):
        return self.rpc_identity.confirm_totp(body, request.headers.get("User-Agent"))

    @endpoint("POST", "/api/auth/refresh", summary="Perbarui token akses", body=c.RefreshRequest,
              response=c.TokenResponse, tag="autentikasi", login_limited=True, errors=(401,))
    def http_refresh(self, request, body, **_):
        return self.rpc_identity.refresh(body)

    @endpoint("POST", "/api/auth/password-reset", summary="Buat kata sandi baru dengan token",
              body=c.PasswordResetComplete, tag="autentikasi", login_limited=True,
              changes_access=True, errors=(401, 409))
    def http_reset(self, request, body, **_):
        self.rpc_identity.complete_password_reset(body)

    @endpoint("POST", "/api/auth/unlock",
              summary="Buka kunci layar: kata sandi (dan OTP) lagi untuk sesi ini; tidak "
                      "menerbitkan token baru", roles=SELF, body=c.UnlockRequest,
              tag="autentikasi")
    def http_unlock(self, request, body, **_):
        self.rpc_identity.unlock_session(body)

    @endpoint("POST", "/api/auth/logout", summary="Keluar (mengakhiri sesi ini)", roles=SELF,
              tag="autentikasi", changes_access=True)
    def http_logout(self, request, **_):
        self.rpc_identity.logout()

    # -- self-service ------------------------------------------------------------------------

    @endpoint("GET", "/api/me", summary="Akun saya", roles=SELF + ("machine",),
              response=c.Principal, tag="akun saya")
    def http_me(self, request, principal, **_):
        return PRINCIPAL.dump(principal)

    @endpoint("GET", "/api/me/sessions", summary="Sesi saya per perangkat", roles=SELF,
              response=c.Session, many=True, tag="akun saya")
    def http_sessions(self, request, **_):
        return self.rpc_identity.list_sessions()

    @endpoint("DELETE", "/api/me/sessions/<session_id>", summary="Akhiri salah satu sesi saya",
              roles=SELF, tag="akun saya", changes_access=True)
    def http_revoke_session(self, request, session_id, **_):
        self.rpc_identity.revoke_session(session_id)

    @endpoint("PUT", "/api/me/password", summary="Ganti kata sandi saya", roles=SELF,
              body=c.PasswordChangeRequest, tag="akun saya", changes_access=True, errors=(409,))
    def http_change_password(self, request, body, **_):
        self.rpc_identity.change_password(body)

    @endpoint("PUT", "/api/me/contact", summary="Ganti email/telepon saya", roles=SELF,
              body=c.ContactChangeRequest, response=c.Account, tag="akun saya", errors=(409,))
    def http_change_contact(self, request, body, **_):
        return self.rpc_identity.change_contact(body)

    # -- the integrity pact (issue 17 part 5) -------------------------------------------------

    @endpoint("GET", "/api/me/integrity-pacts",
              summary="Pakta integritas saya (terbaru dahulu; yang berlaku dan yang ditarik)",
              roles=PACT_SIGNERS, response=c.IntegrityPact, many=True, tag="akun saya")
    def http_my_pacts(self, request, **_):
        return self.rpc_identity.my_integrity_pacts()

    @endpoint("POST", "/api/me/integrity-pacts",
              summary="Tandatangani pakta integritas untuk peran fasilitator/administrator "
                      "(kata sandi, dan OTP, lagi); PDF ditandatangani layanan tanda tangan",
              roles=PACT_SIGNERS, body=c.IntegrityPactSign, response=c.IntegrityPact,
              status=201, tag="akun saya", changes_access=True, errors=(409,))
    def http_sign_pact(self, request, body, **_):
        return self.rpc_identity.sign_integrity_pact(body)

    @endpoint("POST", "/api/me/integrity-pacts/<pact_id>/withdraw",
              summary="Tarik pakta integritas saya: peran yang bergantung padanya berhenti "
                      "seketika", roles=PACT_SIGNERS, body=c.ReasonRequest,
              response=c.IntegrityPact, tag="akun saya", changes_access=True, errors=(409,))
    def http_withdraw_pact(self, request, pact_id, body, **_):
        return self.rpc_identity.withdraw_integrity_pact(pact_id, body)

    # -- accounts ------------------------------------------------------------------------------

    @endpoint("GET", "/api/accounts", summary="Daftar akun (fasilitator: pegawai OPD-nya)",
              roles=("administrator", "auditor", "fasilitator"), query=c.AccountQuery,
              response=c.AccountList, tag="akun")
    def http_accounts(self, request, query, **_):
        return self.rpc_identity.list_accounts(query)

    @endpoint("POST", "/api/accounts", summary="Daftarkan akun", roles=BKD,
              body=c.AccountCreate, response=c.Account, status=201, tag="akun", errors=(409,),
              idempotent=True)
    def http_register(self, request, body, **_):
        return self.rpc_identity.register_account(body)

    @endpoint("GET", "/api/accounts/<account_id>", summary="Satu akun", roles=ANYONE,
              response=c.Account, tag="akun")
    def http_account(self, request, account_id, **_):
        return self.rpc_identity.get_account(account_id)

    @endpoint("POST", "/api/accounts/<account_id>/disable", summary="Nonaktifkan akun",
              roles=BKD, body=c.ReasonRequest, response=c.Account, tag="akun", changes_access=True,
              errors=(409,), idempotent=True)
    def http_disable(self, request, account_id, body, **_):
        return self.rpc_identity.set_account_status(account_id, False, body)

    @endpoint("POST", "/api/accounts/<account_id>/enable", summary="Aktifkan kembali akun",
              roles=BKD, body=c.ReasonRequest, response=c.Account, tag="akun", changes_access=True,
              errors=(409,), idempotent=True)
    def http_enable(self, request, account_id, body, **_):
        return self.rpc_identity.set_account_status(account_id, True, body)

    @endpoint("POST", "/api/accounts/<account_id>/roles", summary="Berikan peran", roles=BKD,
              body=c.RoleChange, response=c.Account, tag="akun", changes_access=True,
              errors=(409,), idempotent=True)
    def http_grant_role(self, request, account_id, body, **_):
        return self.rpc_identity.change_role(account_id, True, body)

    @endpoint("POST", "/api/accounts/<account_id>/roles/revoke", summary="Cabut peran",
              roles=BKD, body=c.RoleChange, response=c.Account, tag="akun", changes_access=True,
              errors=(409,), idempotent=True)
    def http_revoke_role(self, request, account_id, body, **_):
        return self.rpc_identity.change_role(account_id, False, body)

    @endpoint("POST", "/api/accounts/<account_id>/password-reset",
              summary="Kirim tautan reset kata sandi ke pemilik akun", roles=BKD,
              body=c.ReasonRequest, response=c.ResetTriggered, tag="akun", errors=(409,))
    def http_trigger_reset(self, request, account_id, body, **_):
        return self.rpc_identity.trigger_password_reset(account_id, body)

    @endpoint("POST", "/api/accounts/<account_id>/totp-reset",
              summary="Reset OTP (perangkat autentikator hilang)", roles=BKD,
              body=c.ReasonRequest, response=c.Account, tag="akun", changes_access=True,
              errors=(409,), idempotent=True)
    def http_reset_totp(self, request, account_id, body, **_):
        return self.rpc_identity.reset_totp(account_id, body)

    @endpoint("PUT", "/api/accounts/<account_id>/opd-scope",
              summary="Atur OPD yang dikelola fasilitator", roles=BKD, body=c.OpdScopeChange,
              response=c.Account, tag="akun", changes_access=True, errors=(409,), idempotent=True)
    def http_set_opd_scope(self, request, account_id, body, **_):
        return self.rpc_identity.set_opd_scope(account_id, body)

    # -- employee records ------------------------------------------------------------------------

    @endpoint("POST", "/api/employees", summary="Daftarkan data pegawai",
              roles=("administrator", "fasilitator"), body=r.EmployeeCreate,
              response=r.Employee, status=201, tag="data pegawai", errors=(409,), idempotent=True)
    def http_register_employee(self, request, body, **_):
        return self.rpc_records.register_employee(body, body["reason"])

    @endpoint("GET", "/api/employees", summary="Cari pegawai (daftar sesuai cakupan peran)",
              roles=REPORT_READERS + ("machine",), scope=MACHINE_READ,
              query=rp.EmployeeSearch, response=rp.EmployeePage, tag="data pegawai")
    def http_find_employees(self, request, query, **_):
        """Fasilitator: their OPDs; a kabupaten/kota's client: its instansi; BKD and auditors:
        everyone (the reporting service's read model, services/reporting/usecases/search.py)."""
        return self.rpc_reporting.find_employees(query)

    # -- the lists and statistics BKD works from (reporting's registry of reports) -------------

    @endpoint("GET", "/api/reports/<name>",
              summary="Statistik dan daftar kepegawaian (jumlah pegawai, DUK, nominatif, "
                      "pensiun, KP, KGB; per waktu dengan as_of)",
              roles=REPORT_READERS + ("machine",), scope=MACHINE_READ,
              query=rp.ReportQuery, response=rp.ReportAnswer, tag="laporan", errors=(404,))
    def http_report(self, request, name, query, **_):
        """One registered report (services/reporting/usecases/reports.py), its parameters
        checked by the reporting service against that report's schema; scoped as the employee
        list is."""
        return self.rpc_reporting.report(name, query)
    # -- monitoring and evaluation (monev), the reporting service's read models -----------------

    @endpoint("GET", "/api/monev/completeness",
              summary="Kelengkapan data dan dokumen per OPD, instansi atau fasilitator",
              roles=REPORT_READERS + ("machine",), scope=MACHINE_READ,
              query=mv.CompletenessRollupQuery, response=mv.CompletenessRollup, tag="monev")
    def http_monev_completeness(self, request, query, **_):
        return self.rpc_reporting.monev_completeness(query)

    @endpoint("GET", "/api/monev/completeness/employees",
              summary="Kekurangan data dan dokumen setiap pegawai (sesuai cakupan peran)",
              roles=REPORT_READERS + ("machine",), scope=MACHINE_READ,
              query=mv.CompletenessListQuery, response=mv.CompletenessPage, tag="monev")
    def http_monev_missing(self, request, query, **_):
        return self.rpc_reporting.monev_missing(query)

    @endpoint("GET", "/api/monev/completeness/employees/<nip>",
              summary="Kelengkapan data seorang pegawai (pegawai: miliknya sendiri)",
              roles=ANYONE, response=mv.EmployeeCompleteness, tag="monev")
    def http_monev_employee(self, request, nip, **_):
        return self.rpc_reporting.monev_employee(nip)

    @endpoint("GET", "/api/monev/completeness/trend",
              summary="Tren kelengkapan data per OPD per hari",
              roles=REPORT_READERS + ("machine",), scope=MACHINE_READ,
              query=mv.TrendQuery, response=mv.Trend, tag="monev")
    def http_monev_trend(self, request, query, **_):
        return self.rpc_reporting.monev_trend(mv.TrendQuery().dump(query))

    @endpoint("GET", "/api/monev/workload",
              summary="Beban verifikasi dan ketepatan SLA per OPD",
              roles=REPORT_READERS + ("machine",), scope=MACHINE_READ,
              query=mv.WorkloadQuery, response=mv.Workload, tag="monev")
    def http_monev_workload(self, request, query, **_):
        return self.rpc_reporting.monev_workload(query)

    @endpoint("POST", "/api/monev/evaluations/<int:year>",
              summary="Catat dan tandatangani evaluasi tahunan layanan (ralat: dengan alasan)",
              roles=("administrator",), body=mv.EvaluationRecord,
              response=mv.RecordedEvaluation, status=201, tag="monev", errors=(409, 503))
    def http_record_evaluation(self, request, year, body, **_):
        return self.rpc_requests.record_evaluation(year, body)

    @endpoint("GET", "/api/monev/evaluations/<int:year>",
              summary="Evaluasi tahunan layanan yang dicatat, dengan PDF bertanda tangan",
              roles=("administrator", "auditor"), response=mv.RecordedEvaluation, tag="monev")
    def http_recorded_evaluation(self, request, year, **_):
        return self.rpc_requests.recorded_evaluation(year)

    @endpoint("GET", "/api/employees/<nip>", summary="Data pegawai (kini atau per waktu)",
              roles=ANYONE, query=r.EmployeeQuery, response=r.Employee, tag="data pegawai")
    def http_employee(self, request, nip, query, **_):
        as_of = query.get("as_of")
        return self.rpc_records.get_employee(nip, as_of.isoformat() if as_of else None)

    @endpoint("GET", "/api/employees/<nip>/fields/<field>/history",
              summary="Riwayat nilai satu kolom", roles=ANYONE, response=r.FieldChange,
              many=True, tag="data pegawai")
    def http_field_history(self, request, nip, field, **_):
        return self.rpc_records.field_history(nip, field)

    @endpoint("GET", "/api/employees/<nip>/timeline",
              summary="Riwayat data pegawai: setiap perubahan, kapan, oleh siapa, alasannya",
              roles=ANYONE, response=r.RecordStep, many=True, tag="data pegawai")
    def http_record_timeline(self, request, nip, **_):
        return self.rpc_records.record_timeline(nip)

    @endpoint("POST", "/api/employees/<nip>/histories", summary="Catat riwayat (pangkat, ...)",
              roles=("administrator", "fasilitator"), body=r.HistoryRequest,
              response=r.Employee, tag="data pegawai", errors=(409,), idempotent=True)
    def http_record_history(self, request, nip, body, **_):
        return self.rpc_records.record_history(nip, body)

    @endpoint("POST", "/api/employees/<nip>/proposals", summary="Usulkan perubahan data sendiri",
              roles=("pegawai",), body=r.ProposalRequest, response=r.Employee, status=201,
              tag="data pegawai", errors=(409,), idempotent=True)
    def http_propose(self, request, nip, body, **_):
        return self.rpc_records.propose_change(nip, body)

    @endpoint("POST", "/api/employees/<nip>/proposals/decision",
              summary="Terapkan atau tolak usulan perubahan",
              roles=("administrator", "fasilitator"), body=r.DecisionRequest,
              response=r.Employee, tag="data pegawai", errors=(409,), idempotent=True)
    def http_decide(self, request, nip, body, **_):
        return self.rpc_records.decide_change(nip, body)

    # -- exports and charts of reports, the disclosure log (issue 15 part 5) -------------------

    @endpoint("POST", "/api/reports/<name>/export",
              summary="Ekspor laporan ke CSV/XLSX/PDF (data perorangan: dicatat sebagai "
                      "pengungkapan)", roles=REPORT_READERS, body=rp.ExportRequest,
              response=rp.Export, status=202, tag="laporan", errors=(404,), idempotent=True)
    def http_start_export(self, request, name, body, **_):
        return self.rpc_reporting.start_export(name, body)

    @endpoint("GET", "/api/reports/<name>/export/<export_id>",
              summary="Status ekspor laporan", roles=REPORT_READERS, response=rp.Export,
              tag="laporan", errors=(404,))
    def http_export(self, request, name, export_id, **_):
        return self.rpc_reporting.get_export(name, export_id)

    @endpoint("GET", "/api/reports/<name>/export/<export_id>/file",
              summary="Unduh berkas ekspor (hanya peminta)", roles=REPORT_READERS,
              tag="laporan", media=tuple(EXPORT_TYPES.values()), errors=(404, 409))
    def http_export_file(self, request, name, export_id, **_):
        return self._export_file(self.rpc_reporting.authorize_export_download(name, export_id))

    def _export_file(self, meta: dict) -> Response:
        """An export's file streamed from the store to the one it was made for."""
        response = Response(self.documents.open(meta["sha256"]),
                            mimetype=EXPORT_TYPES[meta["format"]], direct_passthrough=True)
        response.headers["Content-Length"] = str(meta["size"])
        response.headers["Content-Disposition"] = f'attachment; filename="{meta["file_name"]}"'
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @endpoint("GET", "/api/reports/<name>/chart",
              summary="Grafik statistik atau tren (PNG/SVG; filter sama dengan laporannya)",
              roles=REPORT_READERS, query=rp.ChartQuery, tag="laporan",
              media=("image/png", "image/svg+xml"), errors=(404,))
    def http_chart(self, request, name, query, **_):
        chart = self.rpc_reporting.chart(name, query)
        response = Response(base64.b64decode(chart["body_base64"]),
                            mimetype=chart["content_type"])
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        # the report exists (the chart was drawn), so its name is a registered one
        extension = "png" if chart["content_type"] == "image/png" else "svg"
        response.headers["Content-Disposition"] = f'inline; filename="{name}.{extension}"'
        # an SVG opened on its own runs nothing: labels are escaped, and no script may run
        response.headers["Content-Security-Policy"] = ("default-src 'none'; "
                                                       "style-src 'unsafe-inline'")
        return response

    # -- the agency web services (issue 17 parts 1 and 4, usecases/agency.py) -----------------

    @endpoint("GET", "/api/agency/employees",
              summary="API instansi: daftar pegawai sesuai perjanjian (kolom, populasi, "
                      "tujuan; dicatat sebagai pengungkapan)", roles=("machine",),
              query=ag.AgencyEmployeeSearch, response=ag.AgencyEmployeePage,
              tag="berbagi data", scope=ag.SCOPE_LIST)
    def http_agency_employees(self, request, principal, query, **_):
        grant = agency.grant_for(principal, query)
        agency.spend(self.db, self.limits.agency, principal)
        return self.rpc_records.agency_employees(grant, AGENCY_SEARCH.dump(query))

    @endpoint("GET", "/api/agency/employees/<nip>",
              summary="API instansi: data seorang pegawai sesuai perjanjian (dicatat sebagai "
                      "pengungkapan)", roles=("machine",), query=ag.AgencyEmployeeQuery,
              response=ag.AgencyEmployee, tag="berbagi data", scope=ag.SCOPE_READ)
    def http_agency_employee(self, request, principal, nip, query, **_):
        grant = agency.grant_for(principal, query)
        agency.spend(self.db, self.limits.agency, principal)
        return self.rpc_records.agency_employee(grant, nip)

    @endpoint("POST", "/api/clients/<client_id>/suspend",
              summary="Tangguhkan perjanjian klien (seketika; dengan alasan)", roles=BKD,
              body=c.ReasonRequest, response=c.Client, tag="klien", changes_access=True,
              errors=(409,))
    def http_suspend_client(self, request, client_id, body, **_):
        return self.rpc_identity.suspend_client(client_id, body)

    @endpoint("POST", "/api/clients/<client_id>/reinstate",
              summary="Berlakukan kembali perjanjian klien yang ditangguhkan", roles=BKD,
              body=c.ReasonRequest, response=c.Client, tag="klien", changes_access=True,
              errors=(409,))
    def http_reinstate_client(self, request, client_id, body, **_):
        return self.rpc_identity.reinstate_client(client_id, body)

    # -- the disclosure log (issue 17 part 3, records' usecases/disclosures.py) ----------------

    @endpoint("GET", "/api/disclosures",
              summary="Log pengungkapan data perorangan (API instansi, permintaan data, ekspor, "
                      "akses auditor: siapa, apa, untuk apa)",
              roles=("administrator", "auditor"), query=dc.DisclosureQuery,
              response=dc.Disclosure, many=True, tag="berbagi data")
    def http_disclosures(self, request, query, **_):
        return self.rpc_records.list_disclosures(dc.DisclosureQuery().dump(query))

    @endpoint("GET", "/api/disclosures/report",
              summary="Laporan pengungkapan data per instansi penerima dan per tujuan",
              roles=("administrator", "auditor"), query=dc.DisclosureReportQuery,
              response=dc.DisclosureReport, tag="berbagi data")
    def http_disclosure_report(self, request, query, **_):
        return self.rpc_records.disclosure_report(dc.DisclosureReportQuery().dump(query))

    @endpoint("GET", "/api/me/disclosures",
              summary="Siapa yang menerima data saya: kapan, kolom apa, untuk apa",
              roles=("pegawai",), query=dc.MyDisclosureQuery, response=dc.MyDisclosure,
              many=True, tag="berbagi data")
    def http_my_disclosures(self, request, query, **_):
        return self.rpc_records.my_disclosures(query)

    # -- data requests with consent (permintaan data, issue 17 part 2) -----------------------

    @endpoint("POST", "/api/data-requests",
              summary="Ajukan permintaan data pegawai (tujuan, kolom, populasi, periode)",
              roles=DATA_REQUESTERS, body=rp.DataRequestCreate, response=rp.DataRequest,
              status=201, tag="permintaan data", idempotent=True)
    def http_file_data_request(self, request, body, **_):
        return self.rpc_reporting.file_data_request(DATA_REQUEST_CREATE.dump(body))

    @endpoint("GET", "/api/data-requests",
              summary="Permintaan data saya (BKD dan auditor: semua)", roles=DATA_REQUESTERS,
              query=rp.DataRequestQuery, response=rp.DataRequest, many=True,
              tag="permintaan data")
    def http_data_requests(self, request, query, **_):
        return self.rpc_reporting.list_data_requests(query)

    @endpoint("GET", "/api/data-requests/<request_id>", summary="Satu permintaan data",
              roles=DATA_REQUESTERS, response=rp.DataRequest, tag="permintaan data",
              errors=(404,))
    def http_data_request(self, request, request_id, **_):
        return self.rpc_reporting.get_data_request(request_id)

    @endpoint("POST", "/api/data-requests/<request_id>/decision",
              summary="Setujui (minta persetujuan pegawai) atau tolak permintaan data",
              roles=BKD, body=rp.DataRequestDecision, response=rp.DataRequest,
              tag="permintaan data", errors=(404, 409), idempotent=True)
    def http_decide_data_request(self, request, request_id, body, **_):
        return self.rpc_reporting.decide_data_request(request_id, body)

    @endpoint("POST", "/api/data-requests/<request_id>/release",
              summary="Buat berkas data pegawai yang menyetujui (bertanda tangan, berbatas "
                      "waktu)", roles=DATA_REQUESTERS, body=rp.DataRequestRelease,
              response=rp.DataRequest, status=202, tag="permintaan data", errors=(404, 409),
              idempotent=True)
    def http_release_data_request(self, request, request_id, body, **_):
        return self.rpc_reporting.release_data_request(request_id, body)

    @endpoint("GET", "/api/data-requests/<request_id>/file",
              summary="Unduh berkas permintaan data (hanya peminta, sampai kedaluwarsa)",
              roles=DATA_REQUESTERS, tag="permintaan data", media=tuple(EXPORT_TYPES.values()),
              errors=(404, 409, 410))
    def http_data_request_file(self, request, request_id, **_):
        return self._export_file(self.rpc_reporting.authorize_data_request_file(request_id))

    @endpoint("GET", "/api/me/consents",
              summary="Permintaan persetujuan atas data saya (permintaan data)",
              roles=("pegawai",), response=rp.Consent, many=True, tag="permintaan data")
    def http_my_consents(self, request, **_):
        return self.rpc_reporting.my_consents()

    @endpoint("POST", "/api/me/consents/<request_id>",
              summary="Beri atau tolak persetujuan atas data saya", roles=("pegawai",),
              body=rp.ConsentAnswer, response=rp.Consent, tag="permintaan data",
              errors=(404, 409), idempotent=True)
    def http_answer_consent(self, request, request_id, body, **_):
        return self.rpc_reporting.answer_consent(request_id, body)

    # -- documents -------------------------------------------------------------------------------

    @endpoint("POST", "/api/documents", summary="Unggah dokumen (PDF/JPEG/PNG asli dan terbaca)",
              roles=("pegawai", "fasilitator", "administrator"), query=r.DocumentUploadQuery,
              response=r.StoredDocument, status=201, tag="dokumen", upload=DOCUMENT_MAX_BYTES,
              upload_types=DOCUMENT_TYPES, errors=(404,))
    def http_upload_document(self, request, query, upload, **_):
        return self.rpc_records.upload_document(upload.sha256, query.get("file_name"),
                                                query.get("nip"), upload.created)

    @endpoint("POST", "/api/employees/<nip>/documents",
              summary="Simpan dokumen pada slot (versi baru; yang lama tetap)",
              roles=("administrator", "fasilitator"), body=r.AttachRequest,
              response=r.Employee, tag="dokumen", errors=(409,), idempotent=True)
    def http_attach_document(self, request, nip, body, **_):
        return self.rpc_records.attach_document(nip, body)

    @endpoint("GET", "/api/employees/<nip>/documents/<sha256>",
              summary="Unduh dokumen pegawai (dicatat)", roles=ANYONE, tag="dokumen",
              media=DOCUMENT_TYPES)
    def http_download_document(self, request, nip, sha256, **_):
        return self._stream_document(self.rpc_records.authorize_download(nip, sha256))

    def _stream_document(self, meta: dict) -> Response:
        """A checked document streamed from the store, never sniffed or cached by browsers."""
        chunks = self.documents.open(meta["sha256"])
        response = Response(chunks, mimetype=meta["content_type"], direct_passthrough=True)
        response.headers["Content-Length"] = str(meta["size"])
        extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{meta["sha256"][:16]}.{extension[meta["content_type"]]}"')
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @endpoint("POST", "/api/employee-imports", summary="Impor data pegawai OPD (CSV/XLSX)",
              roles=("administrator", "fasilitator"), query=r.ImportUploadQuery,
              response=r.ImportJob, status=202, tag="data pegawai", upload=IMPORT_MAX_BYTES,
              upload_types=("text/csv", XLSX_TYPE))
    def http_start_import(self, request, query, upload, **_):
        return self.rpc_records.start_import({"opd_id": query["opd_id"], "sha256": upload.sha256,
                                              "file_name": query["file_name"]})

    @endpoint("GET", "/api/employee-imports/<import_id>",
              summary="Laporan impor: kemajuan dan masalah per baris",
              roles=("administrator", "fasilitator", "auditor"), query=r.ImportReportQuery,
              response=r.ImportJob, tag="data pegawai")
    def http_import_report(self, request, import_id, query, **_):
        return self.rpc_records.get_import(import_id, query["offset"], query["limit"])

    # -- layanan catalogue and requests ------------------------------------------------------

    @endpoint("GET", "/api/layanan", summary="Katalog layanan kepegawaian", roles=ANYONE,
              response=q.Layanan, many=True, tag="layanan")
    def http_layanan(self, request, **_):
        return self.rpc_requests.list_layanan()

    @endpoint("GET", "/api/layanan/<kode>", summary="Satu layanan: syarat, dokumen, SOP",
              roles=ANYONE, response=q.Layanan, tag="layanan")
    def http_one_layanan(self, request, kode, **_):
        return self.rpc_requests.get_layanan(kode)

    @endpoint("PUT", "/api/layanan/<kode>",
              summary="Ubah layanan (persetujuan tim SIMASN dan SOP baru)", roles=BKD,
              body=q.LayananChange, response=q.Layanan, tag="layanan", errors=(409,),
              idempotent=True)
    def http_change_layanan(self, request, kode, body, **_):
        return self.rpc_requests.change_layanan(kode, body)

    @endpoint("POST", "/api/layanan/<kode>/deactivate",
              summary="Nonaktifkan layanan dengan keputusan Kepala BKD", roles=BKD,
              body=q.LayananDeactivation, response=q.Layanan, tag="layanan", errors=(409,),
              idempotent=True)
    def http_deactivate_layanan(self, request, kode, body, **_):
        return self.rpc_requests.deactivate_layanan(kode, {**body, "decree_date":
                                                           body["decree_date"].isoformat()})

    @endpoint("GET", "/api/layanan/<kode>/eligibility/<nip>",
              summary="Apakah pegawai memenuhi syarat, aturan demi aturan", roles=ANYONE,
              response=q.Eligibility, tag="layanan")
    def http_eligibility(self, request, kode, nip, **_):
        return self.rpc_requests.eligibility(kode, nip)

    @endpoint("GET", "/api/me/eligibility",
              summary="Layanan apa yang dapat saya ajukan: setiap layanan aktif, syarat, "
                      "alasan dan dokumen yang diperlukan (satu panggilan)",
              roles=("pegawai",), response=q.EligibilityOverview, tag="layanan")
    def http_my_eligibility(self, request, principal, **_):
        return self.rpc_requests.eligibility_overview(principal["account_id"])

    @endpoint("GET", "/api/employees/<nip>/eligibility",
              summary="Layanan yang dapat diajukan untuk seorang pegawai (sesuai cakupan OPD)",
              roles=("fasilitator", "administrator", "auditor"),
              response=q.EligibilityOverview, tag="layanan")
    def http_employee_eligibility(self, request, nip, **_):
        return self.rpc_requests.eligibility_overview(nip)

    @endpoint("GET", "/api/layanan-evaluations/<int:year>",
              summary="Evaluasi tahunan setiap layanan (volume, tingkat persetujuan, waktu "
                      "penyelesaian, pelanggaran SLA, dokumen paling sering ditolak)",
              roles=("administrator", "auditor"), response=q.LayananEvaluation, many=True,
              tag="layanan", errors=(422,))
    def http_evaluation(self, request, year, **_):
        return self.rpc_requests.evaluation_report(year)

    @endpoint("POST", "/api/requests", summary="Buat usulan layanan (draf)",
              roles=("pegawai", "fasilitator", "administrator"), body=q.RequestCreate,
              response=q.Request, status=201, tag="usulan", errors=(404, 409), idempotent=True)
    def http_create_request(self, request, body, **_):
        return self.rpc_requests.create_request(body)

    @endpoint("GET", "/api/me/requests",
              summary="Usulan saya (terbaru dahulu, berhalaman; filter status)",
              roles=("pegawai",), query=q.MyRequestQuery, response=q.RequestPage, tag="usulan")
    def http_my_requests(self, request, query, **_):
        return self.rpc_requests.my_requests(query)

    @endpoint("GET", "/api/requests",
              summary="Daftar usulan sesuai cakupan (fasilitator: OPD-nya; filter status, "
                      "layanan, OPD, NIP, tanggal pengajuan; berhalaman)",
              roles=("fasilitator", "administrator", "auditor"), query=q.RequestListQuery,
              response=q.RequestPage, tag="usulan")
    def http_list_requests(self, request, query, **_):
        return self.rpc_requests.list_requests(q.RequestListQuery().dump(query))

    @endpoint("GET", "/api/requests/<request_id>", summary="Usulan layanan", roles=ANYONE,
              response=q.Request, tag="usulan")
    def http_request(self, request, request_id, **_):
        return self.rpc_requests.get_request(request_id)

    @endpoint("GET", "/api/requests/<request_id>/documents/<document>",
              summary="Unduh dokumen usulan (untuk verifikasi; dicatat)", roles=ANYONE,
              tag="usulan", media=DOCUMENT_TYPES)
    def http_request_document(self, request, request_id, document, **_):
        return self._stream_document(self.rpc_requests.authorize_document(request_id, document))

    @endpoint("GET", "/api/requests/<request_id>/timeline",
              summary="Jejak usulan: setiap langkah, pelaku dan alasan", roles=ANYONE,
              response=q.TimelineEntry, many=True, tag="usulan")
    def http_request_timeline(self, request, request_id, **_):
        return self.rpc_requests.request_timeline(request_id)

    @endpoint("PUT", "/api/requests/<request_id>/documents",
              summary="Lengkapi atau perbaiki dokumen usulan",
              roles=("pegawai", "fasilitator", "administrator"), body=q.RequestDocuments,
              response=q.Request, tag="usulan", errors=(409,), idempotent=True)
    def http_request_documents(self, request, request_id, body, **_):
        return self.rpc_requests.change_request_documents(request_id, body)

    @endpoint("POST", "/api/requests/<request_id>/submit", summary="Ajukan usulan",
              roles=("pegawai", "fasilitator", "administrator"), body=q.Transition,
              response=q.Request, tag="usulan", errors=(409,), idempotent=True)
    def http_submit_request(self, request, request_id, body, **_):
        return self.rpc_requests.submit_request(request_id, body)

    @endpoint("POST", "/api/requests/<request_id>/withdraw",
              summary="Tarik usulan (sebelum diverifikasi)",
              roles=("pegawai", "fasilitator", "administrator"), body=q.Withdrawal,
              response=q.Request, tag="usulan", errors=(409,), idempotent=True)
    def http_withdraw_request(self, request, request_id, body, **_):
        return self.rpc_requests.withdraw_request(request_id, body)

    @endpoint("POST", "/api/requests/<request_id>/verification",
              summary="Mulai verifikasi usulan", roles=("fasilitator", "administrator"),
              body=q.Transition, response=q.Request, tag="verifikasi", errors=(409,),
              idempotent=True)
    def http_start_verification(self, request, request_id, body, **_):
        return self.rpc_requests.start_verification(request_id, body)

    @endpoint("POST", "/api/requests/<request_id>/return",
              summary="Kembalikan usulan untuk perbaikan (alasan per dokumen)",
              roles=("fasilitator", "administrator"), body=q.ReturnForCorrection,
              response=q.Request, tag="verifikasi", errors=(409,), idempotent=True)
    def http_return_request(self, request, request_id, body, **_):
        return self.rpc_requests.return_request(request_id, body)

    @endpoint("POST", "/api/requests/<request_id>/verify",
              summary="Nyatakan usulan terverifikasi (penilaian per dokumen)",
              roles=("fasilitator", "administrator"), body=q.Verification,
              response=q.Request, tag="verifikasi", errors=(409,), idempotent=True)
    def http_verify_request(self, request, request_id, body, **_):
        return self.rpc_requests.verify_request(request_id, body)

    @endpoint("POST", "/api/requests/<request_id>/decision",
              summary="Setujui atau tolak usulan", roles=BKD, body=q.Decision,
              response=q.Request, tag="verifikasi", errors=(409,), idempotent=True)
    def http_decide_request(self, request, request_id, body, **_):
        return self.rpc_requests.decide_request(request_id, body)

    @endpoint("GET", "/api/verification/queue",
              summary="Antrean verifikasi: usulan dan perubahan data yang menunggu, dengan SLA",
              roles=("fasilitator", "administrator", "auditor"), query=v.QueueQuery,
              response=v.QueueItem, many=True, tag="verifikasi", errors=(404,))
    def http_queue(self, request, query, **_):
        return self.rpc_verification.queue(query.get("opd_id"))

    @endpoint("POST", "/api/verification/queue/<item_id>/claim",
              summary="Ambil item antrean untuk dikerjakan", roles=("fasilitator", "administrator"),
              response=v.Claim, tag="verifikasi", errors=(409, 422))
    def http_claim(self, request, item_id, **_):
        return self.rpc_verification.claim(item_id)

    @endpoint("POST", "/api/verification/fake-documents",
              summary="Laporkan dokumen tidak asli (teguran tertulis disiapkan untuk BKD)",
              roles=("fasilitator", "administrator"), body=v.FakeDocumentReport,
              response=v.Case, status=201, tag="verifikasi", errors=(404,), idempotent=True)
    def http_report_fake(self, request, body, **_):
        return self.rpc_verification.report_fake_document(
            {**body, "request_id": str(body["request_id"])})

    @endpoint("GET", "/api/verification/fake-documents", summary="Kasus dokumen tidak asli",
              roles=BKD, query=v.CaseQuery, response=v.Case, many=True, tag="verifikasi")
    def http_fake_cases(self, request, query, **_):
        return self.rpc_verification.fake_document_cases(query.get("status"))

    @endpoint("POST", "/api/verification/fake-documents/<case_id>/issue",
              summary="Terbitkan teguran tertulis (dicatat sebagai hukuman disiplin)",
              roles=BKD, body=v.CaseDecision, response=v.Case, tag="verifikasi", errors=(409,),
              idempotent=True)
    def http_issue_warning(self, request, case_id, body, **_):
        return self.rpc_verification.issue_warning(case_id, body)

    @endpoint("POST", "/api/verification/fake-documents/<case_id>/dismiss",
              summary="Tutup kasus tanpa teguran", roles=BKD, body=v.CaseDecision,
              response=v.Case, tag="verifikasi", errors=(409,), idempotent=True)
    def http_dismiss_case(self, request, case_id, body, **_):
        return self.rpc_verification.dismiss_case(case_id, body)

    @endpoint("GET", "/api/me/inbox", summary="Pemberitahuan untuk saya (kotak masuk)",
              roles=ANYONE, query=v.InboxQuery, response=v.Notification, many=True,
              tag="pemberitahuan")
    def http_inbox(self, request, query, **_):
        return self.rpc_verification.inbox(query["unread_only"])

    @endpoint("GET", "/api/me/inbox/updates",
              summary="Pemberitahuan baru sejak kursor dan jumlah yang belum dibaca (ditanya "
                      "berkala oleh aplikasi web)", roles=ANYONE, query=v.InboxUpdatesQuery,
              response=v.InboxUpdates, tag="pemberitahuan")
    def http_inbox_updates(self, request, query, **_):
        return self.rpc_verification.inbox_updates(query)

    @endpoint("POST", "/api/me/inbox/<notification_id>/read", summary="Tandai sudah dibaca",
              roles=("pegawai",), response=v.Read, tag="pemberitahuan")
    def http_inbox_read(self, request, notification_id, **_):
        return self.rpc_verification.mark_read(notification_id)

    # -- access lifecycle ----------------------------------------------------------------------

    @endpoint("POST", "/api/access-requests", summary="Usulkan akses staf (mis. fasilitator OPD)",
              roles=("fasilitator", "administrator"), body=c.AccessRequestCreate,
              response=c.AccessRequest, status=201, tag="akses",
              idempotent=True)
    def http_request_access(self, request, body, **_):
        return self.rpc_identity.request_access(body)

    @endpoint("GET", "/api/access-requests", summary="Daftar permintaan akses",
              roles=("administrator", "auditor", "fasilitator"), query=c.AccessRequestQuery,
              response=c.AccessRequest, many=True, tag="akses")
    def http_access_requests(self, request, query, **_):
        return self.rpc_identity.list_access_requests(query)

    @endpoint("POST", "/api/access-requests/<request_id>/approve", summary="Setujui permintaan",
              roles=BKD, body=c.DecisionRequest, response=c.AccessRequest, tag="akses",
              changes_access=True, errors=(409,),
              idempotent=True)
    def http_approve_access(self, request, request_id, body, **_):
        return self.rpc_identity.decide_access_request(request_id, True, body)

    @endpoint("POST", "/api/access-requests/<request_id>/refuse", summary="Tolak permintaan",
              roles=BKD, body=c.DecisionRequest, response=c.AccessRequest, tag="akses",
              errors=(409,),
              idempotent=True)
    def http_refuse_access(self, request, request_id, body, **_):
        return self.rpc_identity.decide_access_request(request_id, False, body)

    @endpoint("POST", "/api/access-reviews", summary="Buat laporan peninjauan ulang akses",
              roles=BKD, body=c.ReviewCreate, response=c.Review, status=201, tag="akses",
              idempotent=True)
    def http_generate_review(self, request, body, **_):
        return self.rpc_identity.generate_access_review(body)

    @endpoint("GET", "/api/access-reviews", summary="Daftar peninjauan akses (terbaru dahulu)",
              roles=("administrator", "auditor"), query=c.ReviewQuery, response=c.Review,
              many=True, tag="akses")
    def http_reviews(self, request, query, **_):
        return self.rpc_identity.list_access_reviews(query)

    @endpoint("GET", "/api/access-reviews/<review_id>", summary="Laporan peninjauan akses",
              roles=("administrator", "auditor"), response=c.Review, tag="akses")
    def http_review(self, request, review_id, **_):
        return self.rpc_identity.get_access_review(review_id)

    @endpoint("POST", "/api/access-reviews/<review_id>/sign-off",
              summary="Sahkan peninjauan akses", roles=BKD, body=c.DecisionRequest,
              response=c.Review, tag="akses", errors=(409,),
              idempotent=True)
    def http_sign_off_review(self, request, review_id, body, **_):
        return self.rpc_identity.sign_off_access_review(review_id, body)

    # -- machine clients (kabupaten/kota, agencies with an agreement) ------------------------

    @endpoint("POST", "/api/auth/token", summary="Token untuk klien mesin (client credentials)",
              body=c.ClientTokenRequest, response=c.TokenResponse, tag="autentikasi",
              login_limited=True, errors=(401, 403))
    def http_client_token(self, request, body, **_):
        return self.rpc_identity.client_token(body)

    @endpoint("POST", "/api/clients", summary="Daftarkan klien mesin (MoU/PKS)", roles=BKD,
              body=c.ClientCreate, response=c.Client, status=201, tag="klien", errors=(409,))
    def http_register_client(self, request, body, **_):
        return self.rpc_identity.register_client(body)

    @endpoint("GET", "/api/clients", summary="Daftar klien mesin",
              roles=("administrator", "auditor"), response=c.Client, many=True, tag="klien")
    def http_clients(self, request, **_):
        return self.rpc_identity.list_clients()

    @endpoint("POST", "/api/clients/<client_id>/rotate-secret", summary="Ganti rahasia klien",
              roles=BKD, body=c.ReasonRequest, response=c.Client, tag="klien", changes_access=True,
              errors=(409,))
    def http_rotate_client(self, request, client_id, body, **_):
        return self.rpc_identity.rotate_client_secret(client_id, body)

    @endpoint("POST", "/api/clients/<client_id>/revoke", summary="Cabut akses klien",
              roles=BKD, body=c.ReasonRequest, response=c.Client, tag="klien", changes_access=True,
              errors=(409,))
    def http_revoke_client(self, request, client_id, body, **_):
        return self.rpc_identity.revoke_client(client_id, body)

    # -- signed output documents and their public verification --------------------------------

    @endpoint("GET", "/api/public/verification/<document_id>",
              summary="Periksa keaslian dokumen dari tautan QR (tanpa login)",
              response=g.VerificationAnswer, tag="verifikasi publik")
    def http_verify_document(self, request, document_id, **_):
        return self.rpc_signing.verify_document(document_id)

    @endpoint("POST", "/api/public/verification",
              summary="Periksa keaslian PDF yang diunggah (tanpa login; tidak disimpan)",
              response=g.VerificationAnswer, tag="verifikasi publik", upload=VERIFY_MAX_BYTES,
              upload_types=("application/pdf",), in_memory=True)
    def http_verify_pdf(self, request, raw, **_):
        return self.rpc_signing.verify_pdf({"pdf_base64": base64.b64encode(raw).decode()})

    @endpoint("GET", "/api/public/statistics",
              summary="Statistik ASN (tanpa login; sel kecil disembunyikan)",
              response=rp.PublicStatistics, tag="statistik publik")
    def http_public_statistics(self, request, **_):
        return self.rpc_reporting.public_statistics()

    @endpoint("GET", "/api/signed-documents",
              summary="Dokumen keluaran, terbaru dahulu (status, NIP, jenis, usulan; limit "
                      "1..200, offset)",
              roles=("administrator", "auditor"), query=g.DocumentQuery,
              response=g.SignedDocument, many=True, tag="tanda tangan")
    def http_signed_documents(self, request, query, **_):
        filters = {k: (str(v) if k == "request_id" else v) for k, v in query.items()
                   if k not in ("status", "limit")}
        return self.rpc_signing.list_documents(query.get("status"), query["limit"], filters)

    @endpoint("GET", "/api/me/signed-documents",
              summary="Dokumen keluaran bertanda tangan milik saya (terbaru dahulu; limit, "
                      "offset)", roles=("pegawai",), query=g.OwnDocumentQuery,
              response=g.SignedDocument, many=True, tag="tanda tangan")
    def http_my_signed_documents(self, request, query, **_):
        return self.rpc_signing.my_documents(query)

    @endpoint("GET", "/api/opd/signed-documents",
              summary="Dokumen keluaran bertanda tangan pegawai OPD saya (fasilitator; terbaru "
                      "dahulu; opd_id, nip, jenis; limit, offset)", roles=("fasilitator",),
              query=g.OpdDocumentQuery, response=g.SignedDocument, many=True,
              tag="tanda tangan")
    def http_opd_signed_documents(self, request, query, **_):
        return self.rpc_signing.opd_documents(query)

    @endpoint("POST", "/api/signed-documents/<document_id>/sign",
              summary="Tandatangani dengan passphrase BSrE atau kode OTP BeSign pejabat "
                      "(tidak disimpan)", roles=BKD,
              body=g.PassphraseSigning, response=g.SignedDocument, tag="tanda tangan")
    def http_sign_document(self, request, document_id, body, **_):
        return self.rpc_signing.sign_document(document_id, body)

    @endpoint("GET", "/api/signed-documents/<document_id>", summary="Satu dokumen keluaran",
              roles=OUTPUT_READERS, response=g.SignedDocument, tag="tanda tangan")
    def http_signed_document(self, request, document_id, **_):
        return self.rpc_signing.get_document(document_id)

    @endpoint("GET", "/api/requests/<request_id>/output",
              summary="Dokumen keluaran usulan (SK/surat bertanda tangan)", roles=OUTPUT_READERS,
              response=g.SignedDocument, tag="tanda tangan")
    def http_request_output(self, request, request_id, **_):
        return self.rpc_signing.request_output(request_id)

    @endpoint("GET", "/api/signed-documents/<document_id>/pdf",
              summary="Unduh PDF bertanda tangan (dicatat)", roles=OUTPUT_READERS,
              tag="tanda tangan", media=("application/pdf",))
    def http_signed_pdf(self, request, document_id, **_):
        return self._stream_document(self.rpc_signing.authorize_download(document_id))

    @endpoint("POST", "/api/signed-documents/<document_id>/revocation",
              summary="Cabut dokumen (mis. keputusan dibatalkan)", roles=BKD,
              body=g.Revocation, response=g.SignedDocument, tag="tanda tangan")
    def http_revoke_document(self, request, document_id, body, **_):
        return self.rpc_signing.revoke_document(document_id, body)

    @endpoint("POST", "/api/signed-documents/<document_id>/reissue",
              summary="Terbitkan pengganti (nomor baru; yang lama tercatat diganti)", roles=BKD,
              body=g.Reissue, response=g.SignedDocument, status=201, tag="tanda tangan")
    def http_reissue_document(self, request, document_id, body, **_):
        return self.rpc_signing.reissue_document(document_id, body)

    @endpoint("POST", "/api/signed-documents/<document_id>/retry",
              summary="Coba tanda tangani lagi (setelah gagal / sertifikat dipasang)", roles=BKD,
              response=g.SignedDocument, tag="tanda tangan")
    def http_retry_document(self, request, document_id, **_):
        return self.rpc_signing.retry_document(document_id)

    @endpoint("POST", "/api/audit/checkpoints",
              summary="Tanda tangani kepala semua log sekarang (checkpoint audit)", roles=BKD,
              response=g.Checkpoint, status=201, tag="audit", errors=(409,))
    def http_sign_checkpoint(self, request, **_):
        return self.rpc_signing.sign_checkpoint()

    @endpoint("GET", "/api/audit/status",
              summary="Status rantai setiap log menurut checkpoint bertanda tangan terbaru, "
                      "dan saksinya", roles=("administrator", "auditor"),
              response=g.AuditStatus, tag="audit")
    def http_audit_status(self, request, **_):
        return self.rpc_signing.audit_status()

    @endpoint("GET", "/api/audit/checkpoints", summary="Checkpoint audit bertanda tangan",
              roles=("administrator", "auditor"), response=g.Checkpoint, many=True, tag="audit")
    def http_checkpoints(self, request, **_):
        return self.rpc_signing.list_checkpoints()

    # -- published checkpoints: the witness's copy, for anyone to keep and check --------------

    @endpoint("GET", "/api/public/checkpoints",
              summary="Checkpoint audit yang diterbitkan (tanpa login; posisi, berhalaman)",
              query=g.PublicCheckpointQuery, response=g.PublicCheckpointList,
              tag="verifikasi publik", errors=(503,))
    def http_public_checkpoints(self, request, query, **_):
        return self.rpc_signing.public_checkpoints(query)

    @endpoint("GET", "/api/public/checkpoints/<position>",
              summary="Satu checkpoint audit bertanda tangan segel (tanpa login; posisi atau "
                      "latest)", response=g.PublicCheckpoint, tag="verifikasi publik",
              errors=(404, 503))
    def http_public_checkpoint(self, request, position, **_):
        return self.rpc_signing.public_checkpoint(position)

    # -- kabupaten/kota feeds: signed with the region's HMAC key, which only sync knows ---------

    def _signed(self, request, raw: bytes, headers=y.SIGNED_HEADERS) -> dict:
        """A region's request as sync checks it: method, path, the signing headers, the body."""
        return {"method": request.method, "path": request.path,
                "headers": {name: request.headers[name][:512] for name in headers
                            if name in request.headers},
                "body_base64": base64.b64encode(raw).decode()}

    @endpoint("POST", "/api/sync/<region>/snapshots",
              summary="Unggah snapshot lengkap pegawai daerah (CSV atau JSON lines; "
                      "ditandatangani HMAC atas SHA-256 isinya, tanpa token)",
              response=y.Snapshot, status=202, tag="sinkronisasi daerah",
              upload=SYNC_SNAPSHOT_MAX_BYTES, upload_types=SNAPSHOT_TYPES, signed=True,
              streamed=True, errors=(408, 409))
    def http_sync_snapshot(self, request, region, **_):
        """Sync checks the signature over the declared digest before a byte of the body is
        read; the body then streams into the object store, checked against that digest."""
        signed = {**self._signed(request, b"", y.SNAPSHOT_HEADERS),
                  "content_type": request.mimetype or None,
                  "content_length": request.content_length}
        try:
            permit = self.rpc_sync.permit_snapshot(region, signed)
            if not permit["format"]:
                raise UnsupportedMediaType(f"kirim snapshot sebagai {', '.join(SNAPSHOT_TYPES)}",
                                           field="Content-Type")
        except Exception:
            abandon_body(request)
            raise
        stored = stream_upload(self, request, min(SYNC_SNAPSHOT_MAX_BYTES, permit["max_bytes"]),
                               request.headers.get(y.CONTENT_SHA256, "").strip().lower(),
                               SnapshotDigestMismatch("isi snapshot tidak sama dengan "
                                                      f"{y.CONTENT_SHA256}", field="body"))
        try:
            return self.rpc_sync.receive_snapshot(region, signed, {
                "sha256": stored.sha256, "size": stored.size, "created": stored.created})
        except Exception:
            if stored.created:  # refused after all (a replay racing it): nothing refers to it
                self.documents.delete(stored.sha256)
            raise

    @endpoint("GET", "/api/sync/<region>/snapshots/<snapshot_id>",
              summary="Status snapshot daerah (ditandatangani HMAC, tanpa token)",
              response=y.Snapshot, tag="sinkronisasi daerah", signed=True, errors=(404,))
    def http_sync_signed_snapshot(self, request, region, snapshot_id, **_):
        return self.rpc_sync.signed_snapshot(region, snapshot_id, self._signed(request, b""))

    @endpoint("GET", "/api/sync/<region>/reconciliations/<reconciliation_id>",
              summary="Laporan rekonsiliasi daerah (ditandatangani HMAC, tanpa token)",
              response=y.Reconciliation, tag="sinkronisasi daerah", signed=True,
              errors=(404,))
    def http_sync_signed_reconciliation(self, request, region, reconciliation_id, **_):
        return self.rpc_sync.signed_reconciliation(region, reconciliation_id,
                                                   self._signed(request, b""))

    @endpoint("GET", "/api/sync/<region>/reconciliations/<reconciliation_id>/differences",
              summary="Selisih hasil rekonsiliasi daerah, berhalaman (ditandatangani HMAC)",
              query=y.DifferenceQuery, response=y.DifferencePage, tag="sinkronisasi daerah",
              signed=True, errors=(404,))
    def http_sync_signed_differences(self, request, region, reconciliation_id, query, **_):
        return self.rpc_sync.signed_differences(region, reconciliation_id,
                                                self._signed(request, b""), query)

    @endpoint("POST", "/api/sync/<region>/batches",
              summary="Kirim batch perubahan data pegawai daerah (ditandatangani HMAC, tanpa "
                      "token)", response=y.BatchAnswer, tag="sinkronisasi daerah",
              upload=SYNC_BATCH_MAX_BYTES, upload_types=("application/json",), in_memory=True,
              signed=True, errors=(400, 409))
    def http_sync_batch(self, request, region, raw, **_):
        return self.rpc_sync.receive_batch(region, self._signed(request, raw))

    @endpoint("GET", "/api/sync/<region>/status",
              summary="Status umpan daerah (ditandatangani HMAC, tanpa token)",
              response=y.RegionStatus, tag="sinkronisasi daerah", signed=True)
    def http_sync_signed_status(self, request, region, **_):
        return self.rpc_sync.signed_status(region, self._signed(request, b""))

    @endpoint("GET", "/api/sync/<region>/quarantine",
              summary="Peristiwa daerah yang dikarantina beserta alasannya (ditandatangani HMAC)",
              response=y.QuarantineEntry, many=True, tag="sinkronisasi daerah", signed=True)
    def http_sync_signed_quarantine(self, request, region, **_):
        return self.rpc_sync.signed_quarantine(region, self._signed(request, b""))

    @endpoint("POST", "/api/sync/regions", summary="Daftarkan daerah untuk sinkronisasi (kunci "
              "HMAC pertama, ditampilkan sekali)", roles=BKD, body=y.RegionOnboard,
              response=y.KeySecret, status=201, tag="sinkronisasi daerah", errors=(409,))
    def http_sync_onboard(self, request, body, **_):
        return self.rpc_sync.onboard_region(body)

    @endpoint("GET", "/api/sync/regions", summary="Status sinkronisasi setiap daerah",
              roles=("administrator", "auditor"), response=y.RegionStatus, many=True,
              tag="sinkronisasi daerah")
    def http_sync_regions(self, request, **_):
        return self.rpc_sync.list_regions()

    @endpoint("GET", "/api/sync/regions/<region>", summary="Status sinkronisasi satu daerah",
              roles=("administrator", "auditor"), response=y.RegionStatus,
              tag="sinkronisasi daerah")
    def http_sync_region(self, request, region, **_):
        return self.rpc_sync.get_region(region)

    @endpoint("GET", "/api/sync/regions/<region>/keys", summary="Kunci HMAC daerah (tanpa "
              "rahasia)", roles=("administrator", "auditor"), response=y.RegionKey, many=True,
              tag="sinkronisasi daerah")
    def http_sync_keys(self, request, region, **_):
        return self.rpc_sync.list_region_keys(region)

    @endpoint("POST", "/api/sync/regions/<region>/keys", summary="Tambah kunci HMAC (rotasi; "
              "rahasia ditampilkan sekali)", roles=BKD, body=y.ReasonRequest,
              response=y.KeySecret, status=201, tag="sinkronisasi daerah", errors=(409,))
    def http_sync_add_key(self, request, region, body, **_):
        return self.rpc_sync.add_region_key(region, body)

    @endpoint("POST", "/api/sync/regions/<region>/keys/<key_id>/retire",
              summary="Cabut kunci HMAC daerah", roles=BKD, body=y.ReasonRequest,
              response=y.RegionKey, tag="sinkronisasi daerah", errors=(409,))
    def http_sync_retire_key(self, request, region, key_id, body, **_):
        return self.rpc_sync.retire_region_key(region, key_id, body)

    @endpoint("GET", "/api/sync/regions/<region>/quarantine",
              summary="Karantina daerah: peristiwa yang ditolak data pegawai, dengan alasan",
              roles=("administrator", "auditor"), query=y.QuarantineQuery,
              response=y.QuarantineEntry, many=True, tag="sinkronisasi daerah")
    def http_sync_quarantine(self, request, region, query, **_):
        return self.rpc_sync.list_quarantine(region, query)

    @endpoint("POST", "/api/sync/regions/<region>/quarantine/<sequence>/skip",
              summary="Lewati peristiwa yang dikarantina (tidak diterapkan)", roles=BKD,
              body=y.ReasonRequest, response=y.QuarantineDecision, tag="sinkronisasi daerah",
              errors=(409,))
    def http_sync_skip(self, request, region, sequence, body, **_):
        return self.rpc_sync.skip_quarantined(region, sequence, body)

    @endpoint("POST", "/api/sync/regions/<region>/quarantine/<sequence>/retry",
              summary="Terapkan ulang peristiwa yang dikarantina apa adanya", roles=BKD,
              body=y.ReasonRequest, response=y.QuarantineDecision, tag="sinkronisasi daerah",
              errors=(409,))
    def http_sync_retry(self, request, region, sequence, body, **_):
        return self.rpc_sync.retry_quarantined(region, sequence, body)

    @endpoint("GET", "/api/sync/regions/<region>/snapshots",
              summary="Snapshot daerah yang diterima dan statusnya",
              roles=("administrator", "auditor"), response=y.Snapshot, many=True,
              tag="sinkronisasi daerah")
    def http_sync_snapshots(self, request, region, **_):
        return self.rpc_sync.list_snapshots(region)

    @endpoint("POST", "/api/sync/regions/<region>/reconciliations",
              summary="Mulai rekonsiliasi tahunan daerah atas snapshot yang sudah dimuat",
              roles=BKD, body=y.ReconciliationStart, response=y.Reconciliation, status=202,
              tag="sinkronisasi daerah", errors=(404, 409))
    def http_sync_start_reconciliation(self, request, region, body, **_):
        return self.rpc_sync.start_reconciliation(region, body)

    @endpoint("GET", "/api/sync/regions/<region>/reconciliations",
              summary="Rekonsiliasi daerah", roles=("administrator", "auditor"),
              response=y.Reconciliation, many=True, tag="sinkronisasi daerah")
    def http_sync_reconciliations(self, request, region, **_):
        return self.rpc_sync.list_reconciliations(region)

    @endpoint("GET", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>",
              summary="Satu rekonsiliasi: status dan angka per jenis selisih",
              roles=("administrator", "auditor"), response=y.Reconciliation,
              tag="sinkronisasi daerah", errors=(404,))
    def http_sync_reconciliation(self, request, region, reconciliation_id, **_):
        return self.rpc_sync.get_reconciliation(region, reconciliation_id)

    @endpoint("GET", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/"
              "differences", summary="Selisih hasil rekonsiliasi, berhalaman (kind, offset, "
              "limit)", roles=("administrator", "auditor"), query=y.DifferenceQuery,
              response=y.DifferencePage, tag="sinkronisasi daerah", errors=(404,))
    def http_sync_differences(self, request, region, reconciliation_id, query, **_):
        return self.rpc_sync.list_differences(region, reconciliation_id, query)

    # -- a reconciliation's decisions, applying them, the berita acara (issue 14 part 4) -------

    @endpoint("GET", "/api/sync/<region>/reconciliations/<reconciliation_id>/corrections",
              summary="Selisih yang diminta diperbaiki oleh daerah (ditandatangani HMAC)",
              response=y.CorrectionAsked, many=True, tag="sinkronisasi daerah", signed=True,
              errors=(404,))
    def http_sync_signed_corrections(self, request, region, reconciliation_id, **_):
        return self.rpc_sync.signed_corrections(region, reconciliation_id,
                                                self._signed(request, b""))

    @endpoint("POST", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/decisions",
              summary="Catat keputusan atas selisih rekonsiliasi (per selisih atau sekaligus)",
              roles=BKD, body=y.DecisionsRequest, response=y.DecisionsAnswer,
              tag="sinkronisasi daerah", errors=(404, 409))
    def http_sync_record_decisions(self, request, region, reconciliation_id, body, **_):
        return self.rpc_sync.record_decisions(region, reconciliation_id, body)

    @endpoint("GET", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/decisions",
              summary="Selisih rekonsiliasi beserta keputusan dan hasil penerapannya",
              roles=("administrator", "auditor"), query=y.DecidedDifferenceQuery,
              response=y.DecidedDifference, many=True, tag="sinkronisasi daerah",
              errors=(404,))
    def http_sync_list_decisions(self, request, region, reconciliation_id, query, **_):
        return self.rpc_sync.list_decisions(region, reconciliation_id, query)

    @endpoint("POST", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/apply",
              summary="Terapkan keputusan ambil data daerah ke data pegawai (berjalan di latar)",
              roles=BKD, response=y.ReconciliationState, status=202,
              tag="sinkronisasi daerah", errors=(404, 409))
    def http_sync_apply_decisions(self, request, region, reconciliation_id, **_):
        return self.rpc_sync.apply_decisions(region, reconciliation_id)

    @endpoint("POST",
              "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/berita-acara",
              summary="Buat dan tandatangani berita acara rapat rekonsiliasi (menutup "
                      "rekonsiliasi)", roles=BKD, body=y.BeritaAcaraRequest,
              response=y.ReconciliationState, status=201, tag="sinkronisasi daerah",
              errors=(404, 409, 503))
    def http_sync_berita_acara(self, request, region, reconciliation_id, body, **_):
        return self.rpc_sync.produce_berita_acara(region, reconciliation_id, body)

    # -- anything else -----------------------------------------------------------------------

    @http("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def http_not_found(self, request, path):
        """No route for this method: 405 with `Allow` if the path is a route's, else 404."""
        return unrouted_response(request)
