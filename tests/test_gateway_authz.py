"""The authorization matrix: every gateway route x every role x own-OPD/other-OPD, through real
HTTP, identity and RabbitMQ. A route missing from MATRIX fails the test, so no route can be
added without deciding who may call it. Every answer is also checked against the OpenAPI
document (status, media type, body), and the roles a route declares (`x-roles`) must be exactly
the roles the matrix sees reach it."""

import re
import uuid

import psycopg2
import pyotp
import pytest

from services.gateway import openapi
from services.gateway import service as gateway_service
from services.gateway.http import ROUTES
from services.records.service import RecordsService
from services.reporting.service import ReportingService
from services.requests.service import RequestsService
from services.signing.service import SigningService
from services.sync import domain as sync_domain
from services.sync.service import SyncService
from services.verification.service import VerificationService
from shared.objectstore import FileSystemStore
from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.gateway_helpers import conformance_problems
from tests.helpers import RelayThread
from tests.identity_helpers import (
    PASSWORD,
    People,
    context_of,
    employee_for,
    outbox_tokens,
    rpc,
    unique_nip,
    unique_username,
)
from tests.reporting_helpers import STATISTIC, registered_test_reports

JABATAN = {"jenis_jabatan": "fungsional", "nama_jabatan": "Analis", "tmt": "2016-01-01"}

#: `unsigned`: a fasilitator whose integrity pact was withdrawn (issue 17 part 5): the role no
#: longer works, the account reaches only itself and its pacts
PERSONAS = ("anonymous", "pegawai", "fasilitator_own", "fasilitator_other", "administrator",
            "auditor", "machine", "unsigned")
PUBLIC = set(PERSONAS)
ANYONE = set(PERSONAS) - {"anonymous", "machine", "unsigned"}
#: the caller's own session and account
SELF = ANYONE | {"unsigned"}
PACT_SIGNERS = {"fasilitator_own", "fasilitator_other", "administrator", "auditor", "unsigned"}
BKD = {"administrator"}
READERS_OWN_OPD = {"administrator", "auditor", "fasilitator_own"}
REPORT_PEOPLE = {"fasilitator_own", "fasilitator_other", "administrator", "auditor"}

#: (method, path) -> personas that are allowed; every other persona must be refused
MATRIX = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/opds"): ANYONE,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/totp/confirm"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,
    ("POST", "/api/auth/password-reset"): PUBLIC,
    ("POST", "/api/auth/logout"): SELF,
    ("GET", "/api/me"): SELF | {"machine"},
    ("GET", "/api/me/integrity-pacts"): PACT_SIGNERS,
    ("POST", "/api/me/integrity-pacts"): PACT_SIGNERS,
    ("POST", "/api/me/integrity-pacts/<pact_id>/withdraw"): PACT_SIGNERS,
    ("GET", "/api/me/inbox"): ANYONE,
    ("GET", "/api/me/inbox/updates"): ANYONE,
    ("POST", "/api/auth/unlock"): SELF,
    ("POST", "/api/me/inbox/<notification_id>/read"): {"pegawai"},
    ("GET", "/api/me/sessions"): SELF,
    # the web application's lists (issue 16): a pegawai's own requests and what they may apply
    # for; staff's requests within their scope (another OPD's fasilitator: an empty page)
    ("GET", "/api/me/requests"): {"pegawai"},
    ("GET", "/api/me/eligibility"): {"pegawai"},
    ("GET", "/api/me/signed-documents"): {"pegawai"},
    ("GET", "/api/requests"): REPORT_PEOPLE,
    ("GET", "/api/employees/<nip>/eligibility"): READERS_OWN_OPD,
    ("DELETE", "/api/me/sessions/<session_id>"): SELF,
    ("PUT", "/api/me/password"): SELF,
    ("PUT", "/api/me/contact"): SELF,
    ("GET", "/api/accounts"): READERS_OWN_OPD,
    ("POST", "/api/accounts"): BKD,
    ("GET", "/api/accounts/<account_id>"): READERS_OWN_OPD,
    ("POST", "/api/accounts/<account_id>/disable"): BKD,
    ("POST", "/api/accounts/<account_id>/enable"): BKD,
    ("POST", "/api/accounts/<account_id>/roles"): BKD,
    ("POST", "/api/accounts/<account_id>/roles/revoke"): BKD,
    ("POST", "/api/accounts/<account_id>/password-reset"): BKD,
    ("POST", "/api/accounts/<account_id>/totp-reset"): BKD,
    ("PUT", "/api/accounts/<account_id>/opd-scope"): BKD,
    ("POST", "/api/employees"): {"administrator", "fasilitator_own"},
    # the list (reporting): every fasilitator sees its own OPDs, BKD and auditors everyone; a
    # machine client only as a kabupaten/kota (OWN_TARGETS), never as an agency
    ("GET", "/api/employees"): {"fasilitator_own", "fasilitator_other", "administrator",
                                "auditor"},
    # the lists and statistics BKD works from: scoped like the employee list (another OPD's
    # fasilitator gets its own, empty figures; a region its instansi), never a pegawai
    ("GET", "/api/reports/<name>"): {"fasilitator_own", "fasilitator_other", "administrator",
                                     "auditor"},
    ("GET", "/api/public/statistics"): PUBLIC,
    ("GET", "/api/employees/<nip>"): READERS_OWN_OPD,
    # monev (reporting): rollups and lists within the caller's scope (a fasilitator's own OPDs,
    # so both fasilitators reach them; a machine client only as a kabupaten/kota); one
    # employee's completeness: the pegawai persona's own record, in fasilitator_own's OPD
    ("GET", "/api/monev/completeness"): {"fasilitator_own", "fasilitator_other",
                                         "administrator", "auditor"},
    ("GET", "/api/monev/completeness/employees"): {"fasilitator_own", "fasilitator_other",
                                                   "administrator", "auditor"},
    ("GET", "/api/monev/completeness/employees/<nip>"): {"pegawai", "fasilitator_own",
                                                         "administrator", "auditor"},
    ("GET", "/api/monev/completeness/trend"): {"fasilitator_own", "fasilitator_other",
                                               "administrator", "auditor"},
    ("GET", "/api/monev/workload"): {"fasilitator_own", "fasilitator_other", "administrator",
                                     "auditor"},
    # the yearly layanan evaluation (requests), recorded and signed by BKD, read by auditors
    ("POST", "/api/monev/evaluations/<int:year>"): BKD,
    ("GET", "/api/monev/evaluations/<int:year>"): {"administrator", "auditor"},
    ("GET", "/api/employees/<nip>/fields/<field>/history"): READERS_OWN_OPD,
    ("GET", "/api/employees/<nip>/timeline"): READERS_OWN_OPD,
    ("POST", "/api/employees/<nip>/histories"): {"administrator", "fasilitator_own"},
    ("POST", "/api/employees/<nip>/proposals"): {"pegawai"},
    ("POST", "/api/employees/<nip>/proposals/decision"): {"administrator", "fasilitator_own"},
    # an upload names its owner: the pegawai persona (another OPD's fasilitator may upload only
    # for its own OPD's employees)
    ("POST", "/api/documents"): {"pegawai", "fasilitator_own", "administrator"},
    ("POST", "/api/employees/<nip>/documents"): {"administrator", "fasilitator_own"},
    ("GET", "/api/employees/<nip>/documents/<sha256>"): READERS_OWN_OPD,
    ("POST", "/api/employee-imports"): {"administrator", "fasilitator_own"},
    ("GET", "/api/employee-imports/<import_id>"): READERS_OWN_OPD,
    ("GET", "/api/layanan"): ANYONE,
    ("GET", "/api/layanan/<kode>"): ANYONE,
    ("PUT", "/api/layanan/<kode>"): BKD,
    ("POST", "/api/layanan/<kode>/deactivate"): BKD,
    ("GET", "/api/layanan/<kode>/eligibility/<nip>"): READERS_OWN_OPD | {"pegawai"},
    ("GET", "/api/layanan-evaluations/<int:year>"): {"administrator", "auditor"},
    ("POST", "/api/requests"): {"pegawai", "fasilitator_own"},
    ("GET", "/api/requests/<request_id>"): READERS_OWN_OPD | {"pegawai"},
    ("GET", "/api/requests/<request_id>/timeline"): READERS_OWN_OPD | {"pegawai"},
    ("GET", "/api/requests/<request_id>/documents/<document>"): READERS_OWN_OPD | {"pegawai"},
    ("PUT", "/api/requests/<request_id>/documents"): {"pegawai", "fasilitator_own"},
    ("POST", "/api/requests/<request_id>/submit"): {"pegawai", "fasilitator_own"},
    ("POST", "/api/requests/<request_id>/withdraw"): {"pegawai"},
    ("POST", "/api/requests/<request_id>/verification"): {"fasilitator_own", "administrator"},
    ("POST", "/api/requests/<request_id>/return"): {"fasilitator_own", "administrator"},
    ("POST", "/api/requests/<request_id>/verify"): {"fasilitator_own", "administrator"},
    ("POST", "/api/requests/<request_id>/decision"): BKD,
    ("GET", "/api/verification/queue"): {"fasilitator_own", "fasilitator_other",
                                         "administrator", "auditor"},
    ("POST", "/api/verification/queue/<item_id>/claim"): {"fasilitator_own", "administrator"},
    ("POST", "/api/verification/fake-documents"): {"fasilitator_own", "administrator"},
    ("GET", "/api/verification/fake-documents"): BKD,
    ("POST", "/api/verification/fake-documents/<case_id>/issue"): BKD,
    ("POST", "/api/verification/fake-documents/<case_id>/dismiss"): BKD,
    ("POST", "/api/access-requests"): {"fasilitator_own", "administrator"},
    ("GET", "/api/access-requests"): {"administrator", "auditor", "fasilitator_own",
                                      "fasilitator_other"},
    ("POST", "/api/access-requests/<request_id>/approve"): BKD,
    ("POST", "/api/access-requests/<request_id>/refuse"): BKD,
    ("POST", "/api/access-reviews"): BKD,
    ("GET", "/api/access-reviews"): {"administrator", "auditor"},
    ("GET", "/api/access-reviews/<review_id>"): {"administrator", "auditor"},
    ("POST", "/api/access-reviews/<review_id>/sign-off"): BKD,
    ("POST", "/api/auth/token"): PUBLIC,
    ("POST", "/api/clients"): BKD,
    ("GET", "/api/clients"): {"administrator", "auditor"},
    ("POST", "/api/clients/<client_id>/rotate-secret"): BKD,
    ("POST", "/api/clients/<client_id>/revoke"): BKD,
    ("GET", "/api/public/verification/<document_id>"): PUBLIC,
    # the web application's page and files, and its settings (services/gateway/web.py)
    ("GET", "/"): PUBLIC,
    ("GET", "/verifikasi/<document_id>"): PUBLIC,
    ("GET", "/assets/<path:path>"): PUBLIC,
    ("GET", "/api/web/config"): PUBLIC,
    ("POST", "/api/public/verification"): PUBLIC,
    ("GET", "/api/public/checkpoints"): PUBLIC,
    ("GET", "/api/public/checkpoints/<position>"): PUBLIC,
    ("GET", "/api/signed-documents"): {"administrator", "auditor"},
    # a signed output: BKD, auditors, the employee it concerns and their OPD's fasilitator
    # (issue 20 part 4; another OPD's fasilitator: not found)
    ("GET", "/api/signed-documents/<document_id>"): {"administrator", "auditor", "pegawai",
                                                     "fasilitator_own"},
    ("GET", "/api/signed-documents/<document_id>/pdf"): {"administrator", "auditor", "pegawai",
                                                         "fasilitator_own"},
    ("GET", "/api/opd/signed-documents"): {"fasilitator_own", "fasilitator_other"},
    # the official named on a document signs it (with their BSrE passphrase when BSrE signs)
    ("POST", "/api/signed-documents/<document_id>/sign"): BKD,
    ("POST", "/api/signed-documents/<document_id>/revocation"): BKD,
    ("POST", "/api/signed-documents/<document_id>/reissue"): BKD,
    ("POST", "/api/signed-documents/<document_id>/retry"): BKD,
    ("GET", "/api/requests/<request_id>/output"): {"administrator", "auditor", "pegawai",
                                                   "fasilitator_own"},
    ("POST", "/api/audit/checkpoints"): BKD,
    ("GET", "/api/audit/checkpoints"): {"administrator", "auditor"},
    ("GET", "/api/audit/status"): {"administrator", "auditor"},
    # kabupaten/kota feeds: signed with the region's HMAC key, so no bearer token reaches them
    # (tests/test_sync_feeds.py signs them); administrators onboard and decide
    ("POST", "/api/sync/<region>/batches"): set(),
    ("GET", "/api/sync/<region>/status"): set(),
    ("GET", "/api/sync/<region>/quarantine"): set(),
    ("POST", "/api/sync/regions"): BKD,
    ("GET", "/api/sync/regions"): {"administrator", "auditor"},
    ("GET", "/api/sync/regions/<region>"): {"administrator", "auditor"},
    ("GET", "/api/sync/regions/<region>/keys"): {"administrator", "auditor"},
    ("POST", "/api/sync/regions/<region>/keys"): BKD,
    ("POST", "/api/sync/regions/<region>/keys/<key_id>/retire"): BKD,
    ("GET", "/api/sync/regions/<region>/quarantine"): {"administrator", "auditor"},
    ("POST", "/api/sync/regions/<region>/quarantine/<sequence>/skip"): BKD,
    ("POST", "/api/sync/regions/<region>/quarantine/<sequence>/retry"): BKD,
    # issue 14 part 4: a region's snapshot and its own report, signed (tests/test_sync_snapshots
    # signs them); BKD starts the reconciliation, BKD and auditors read it
    ("POST", "/api/sync/<region>/snapshots"): set(),
    ("GET", "/api/sync/<region>/snapshots/<snapshot_id>"): set(),
    ("GET", "/api/sync/<region>/reconciliations/<reconciliation_id>"): set(),
    ("GET", "/api/sync/<region>/reconciliations/<reconciliation_id>/differences"): set(),
    ("GET", "/api/sync/regions/<region>/snapshots"): {"administrator", "auditor"},
    ("POST", "/api/sync/regions/<region>/reconciliations"): BKD,
    ("GET", "/api/sync/regions/<region>/reconciliations"): {"administrator", "auditor"},
    ("GET", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>"):
        {"administrator", "auditor"},
    ("GET", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/differences"):
        {"administrator", "auditor"},
    # a reconciliation's decisions, applying them, the berita acara (issue 14 part 4)
    ("GET", "/api/sync/<region>/reconciliations/<reconciliation_id>/corrections"): set(),
    ("POST", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/decisions"): BKD,
    ("GET", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/decisions"):
        {"administrator", "auditor"},
    ("POST", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/apply"): BKD,
    ("POST", "/api/sync/regions/<region>/reconciliations/<reconciliation_id>/berita-acara"): BKD,
    # exports and charts of reports (issue 15 part 5): people who read reports, each within
    # their scope; an export's state and file are its requester's (BKD and auditors may read
    # any export's state); the disclosure log is BKD's and the auditors'
    ("POST", "/api/reports/<name>/export"): REPORT_PEOPLE,
    ("GET", "/api/reports/<name>/export/<export_id>"): REPORT_PEOPLE,
    ("GET", "/api/reports/<name>/export/<export_id>/file"): REPORT_PEOPLE,
    ("GET", "/api/reports/<name>/chart"): REPORT_PEOPLE,
    ("GET", "/api/disclosures"): {"administrator", "auditor"},
    # data requests with consent (issue 17 part 2): staff file them and read their own (BKD
    # and auditors: every one), BKD decides, only the requester releases and downloads; the
    # pegawai concerned answers the consent asked of them
    ("POST", "/api/data-requests"): REPORT_PEOPLE,
    ("GET", "/api/data-requests"): REPORT_PEOPLE,
    ("GET", "/api/data-requests/<request_id>"): REPORT_PEOPLE,
    ("POST", "/api/data-requests/<request_id>/decision"): BKD,
    ("POST", "/api/data-requests/<request_id>/release"): REPORT_PEOPLE,
    ("GET", "/api/data-requests/<request_id>/file"): REPORT_PEOPLE,
    ("GET", "/api/me/consents"): {"pegawai"},
    ("POST", "/api/me/consents/<request_id>"): {"pegawai"},
    # the disclosure log (issue 17 part 3): BKD's report; a pegawai's own releases
    ("GET", "/api/disclosures/report"): {"administrator", "auditor"},
    ("GET", "/api/me/disclosures"): {"pegawai"},
    # the agency web services (issue 17): a machine client whose agreement has the route's
    # scope (OWN_TARGETS "agency"); the matrix's machine persona has none (scope_missing); BKD
    # suspends and reinstates an agreement
    ("GET", "/api/agency/employees"): set(),
    ("GET", "/api/agency/employees/<nip>"): set(),
    ("POST", "/api/clients/<client_id>/suspend"): BKD,
    ("POST", "/api/clients/<client_id>/reinstate"): BKD,
}

#: (method, path) -> {persona: scenario}: personas the matrix refuses for its usual target that
#: reach the route with a target of their own (their own account or record, a request they
#: drafted on someone's behalf, a disciplinary request only BKD drafts). With MATRIX these are
#: all the roles that can get a 2xx, which is what a route declares (`x-roles`).
OWN_TARGETS = {
    ("GET", "/api/accounts/<account_id>"): {"pegawai": "own"},
    ("GET", "/api/employees"): {"machine": "region"},
    ("GET", "/api/agency/employees"): {"machine": "agency"},
    ("GET", "/api/agency/employees/<nip>"): {"machine": "agency"},
    ("GET", "/api/reports/<name>"): {"machine": "region"},
    ("GET", "/api/monev/completeness"): {"machine": "region"},
    ("GET", "/api/monev/completeness/employees"): {"machine": "region"},
    ("GET", "/api/monev/completeness/trend"): {"machine": "region"},
    ("GET", "/api/monev/workload"): {"machine": "region"},
    ("GET", "/api/employees/<nip>"): {"pegawai": "own"},
    ("GET", "/api/employees/<nip>/fields/<field>/history"): {"pegawai": "own"},
    ("GET", "/api/employees/<nip>/timeline"): {"pegawai": "own"},
    ("GET", "/api/employees/<nip>/documents/<sha256>"): {"pegawai": "own"},
    ("POST", "/api/requests"): {"administrator": "hukdis"},
    ("PUT", "/api/requests/<request_id>/documents"): {"administrator": "hukdis"},
    ("POST", "/api/requests/<request_id>/submit"): {"administrator": "hukdis"},
    ("POST", "/api/requests/<request_id>/withdraw"): {"fasilitator_own": "drafted",
                                                      "administrator": "hukdis"},
}
HUKDIS_CODES = ("surat_panggilan", "bap", "laporan_pemeriksaan", "sk_cpns",
                "sk_pangkat_terakhir", "sk_jabatan_terakhir")


def client_body(client_id=None):
    return {"client_kind": "agency", "client_id": client_id or unique_username("bpjs"),
            "name": "BPJS Kesehatan Kantor Cabang Surabaya", "agreement_kind": "PKS",
            "agreement_number": "PKS/12/BKD/2026", "scopes": ["records:read"],
            "valid_from": "2026-01-01", "valid_until": "2099-12-31", "reason": "uji matriks"}


def access_request_body():
    name = unique_username("calon")
    return {"role": "fasilitator", "opd_scope": ["dinkes"],
            "subject": {"login": name, "display_name": "Calon Fasilitator",
                        "email": f"{name}@jatimprov.go.id"},
            "justification": "SK penunjukan fasilitator Dinkes"}


def test_every_route_has_a_matrix_entry():
    assert gateway_service.GatewayService  # importing it registers the routes
    routes = {(r.method, r.path) for r in ROUTES}
    assert routes == set(MATRIX), {
        "routes without a matrix entry": sorted(routes - set(MATRIX)),
        "matrix entries without a route": sorted(set(MATRIX) - routes)}


def test_declared_roles_are_exactly_the_roles_that_reach_each_route():
    assert gateway_service.GatewayService  # importing it registers the routes
    paths = openapi.document()["paths"]
    wrong = []
    for route in ROUTES:
        personas = MATRIX[(route.method, route.path)] | set(
            OWN_TARGETS.get((route.method, route.path), {}))
        reaching = {p.split("_")[0] for p in personas} - {"anonymous"}
        path = re.sub(r"<(?:[a-z]+:)?([^>]+)>", r"{\1}", route.path)
        operation = paths.get(path, {}).get(route.method.lower())
        if operation is None:
            wrong.append(f"{route.method} {route.path}: not in the document as {path}")
        elif route.signed:  # the region's HMAC signature, no bearer token, no role
            if personas or "x-roles" in operation:
                wrong.append(f"{route.method} {route.path}: signed, yet reached by {personas}")
        elif route.roles is None:
            if "anonymous" not in personas or "x-roles" in operation:
                wrong.append(f"{route.method} {route.path}: public, yet not open to all")
        elif set(route.roles) != reaching or set(operation["x-roles"]) != reaching:
            wrong.append(f"{route.method} {route.path}: declares {sorted(route.roles)}, "
                         f"documents {sorted(operation['x-roles'])}, reached by "
                         f"{sorted(reaching)}")
    assert not wrong, "\n".join(wrong)


class World:
    """The people and targets the matrix needs, made through the real services."""

    def __init__(self, people: People, config: dict):
        self.people, self.config = people, config
        #: requests made for the pegawai persona, finished before the next is made
        self.made: list[str] = []
        self.logins = {
            "pegawai": people.pegawai("dinkes"),
            "fasilitator_own": people.staff(["fasilitator"], ["dinkes"]),
            "fasilitator_other": people.staff(["fasilitator"], ["dindik"]),
            "administrator": people.staff(["administrator"]),
            "auditor": people.staff(["auditor"]),
        }
        self.logins["unsigned"] = self.unsigned()
        self.sessions = {p: people.login(login) for p, login in self.logins.items()}
        self.records("administrator").register_employee(
            employee_for(self.logins["pegawai"]), "data awal")
        with rpc(config, self.context("administrator")) as svc:
            client = svc.register_client(client_body())
        with rpc(config) as svc:
            self.client_secret = (client["client_id"], client["client_secret"])
            self.sessions["machine"] = {"tokens": svc.client_token(
                {"client_id": client["client_id"], "client_secret": client["client_secret"]})}

    def unsigned(self) -> str:
        """A fasilitator whose integrity pact is withdrawn: the role holds, it does not work."""
        login = self.people.staff(["fasilitator"], ["dinkes"])
        principal = self.people.login(login)["principal"]
        with rpc(self.config, context_of(principal, "fasilitator")) as svc:
            (pact,) = svc.my_integrity_pacts()
            svc.withdraw_integrity_pact(pact["pact_id"], {"reason": "uji matriks"})
        return login

    def uploaded_document(self, nip: str | None = None) -> str:
        """A checked document of employee `nip` (the pegawai persona by default) in the store,
        as an upload through the gateway leaves it."""
        stored = FileSystemStore(self.config["DOCUMENT_ROOT"]).put(
            pdf_with_text(marker=unique_nip()))
        return self.records("administrator").upload_document(
            stored.sha256, "sk.pdf", nip or self.logins["pegawai"])["sha256"]

    def requests(self, persona):
        config, ctx = self.config, self.context(persona)

        class Call:
            def __getattr__(self, name):
                def call(*args):
                    with rpc(config, ctx, service="requests") as svc:
                        return getattr(svc, name)(*args)
                return call

        return Call()

    KK_CODES = ("sk_terakhir", "daftar_gaji", "kk", "ktp", "pas_foto")

    def service_request(self, state: str, actor: str) -> tuple[str, int]:
        """A KARTU_KESEHATAN request of the pegawai persona in `state`; claimed for
        verification by `actor` when that persona may verify (else by the administrator)."""
        pegawai, nip = self.requests("pegawai"), self.logins["pegawai"]
        sha = self.uploaded_document()
        self.settle()
        made = pegawai.create_request({"layanan": "KARTU_KESEHATAN", "nip": nip,
                                       "options": {"tanggungan": "sendiri"},
                                       "documents": {c: sha for c in self.KK_CODES}})
        rid, version = made["request_id"], made["version"]
        self.made.append(rid)
        if state == "draft":
            return rid, version
        version = pegawai.submit_request(rid, {"expected_version": version})["version"]
        if state == "submitted":
            return rid, version
        claimer = actor if actor in ("fasilitator_own", "administrator") else "administrator"
        if state == "under_approval":
            claimer = "fasilitator_own"
        version = self.requests(claimer).start_verification(
            rid, {"expected_version": version})["version"]
        if state == "under_verification":
            return rid, version
        verdict = {"original": True, "legible": True, "matches_record": True}
        version = self.requests(claimer).verify_request(rid, {
            "expected_version": version, "checks": {c: verdict for c in self.KK_CODES}})[
            "version"]
        return rid, version

    def admin_signer(self) -> str:
        """The administrator persona, with a certificate in the key store."""
        from services.signing import keystore, pki

        admin = self.sessions["administrator"]["principal"]["account_id"]
        directory = self.config["SIGNING_KEYSTORE_DIR"]
        if not keystore.Keystore(directory).has(admin):
            pki.add_signer(directory, admin, "Administrator Matriks", "Kepala Bidang BKD")
        return admin

    def evaluation_recorded(self, year: int) -> str:
        """The year's layanan evaluation recorded and signed (once); returns its signer."""
        admin = self.admin_signer()
        with rpc(self.config, self.context("administrator"), service="requests") as svc:
            try:
                svc.record_evaluation(year, {"signer": admin})
            except Exception as exc:  # noqa: BLE001 - recorded by an earlier call: fine
                if getattr(exc, "code", None) != "evaluation_recorded":
                    raise
        return admin

    def signed_document(self, subject=None, signer="admin.bkd") -> dict:
        """A signed output document about the pegawai persona (the administrator persona has a
        certificate, so may re-issue it; signed by `signer`)."""
        self.admin_signer()
        with rpc(self.config, {"actor_id": "service:matrix", "actor_roles": ["system"]},
                 service="signing") as svc:
            return svc.issue_document({
                "subject": subject or f"case:{unique_username('m')}",
                "document_key": "IZIN_BELAJAR", "signer": signer,
                "nip": self.logins["pegawai"]})

    def queued_change(self) -> str:
        """A fresh proposal of the pegawai persona, once it shows in the verification queue."""
        nip = self.logins["pegawai"]
        proposed = self.records(context={"actor_id": nip, "actor_roles": ["pegawai"]}
                                ).propose_change(nip, {"changes": {"address": "Jl. Antre"}})
        item = f"change:{nip}:{proposed['change_id']}"

        def queued():
            with rpc(self.config, self.context("administrator"),
                     service="verification") as svc:
                return item in {i["item_id"] for i in svc.queue()}

        wait_for(queued, timeout=30, message="the proposal reaches the queue")
        return item

    def context(self, persona):
        return context_of(self.sessions[persona]["principal"], persona.split("_")[0])

    def records(self, persona=None, context=None):
        """A records RPC call as one persona (or with a given context)."""
        config, ctx = self.config, context or self.context(persona)

        class Call:
            def __getattr__(self, name):
                def call(*args):
                    with rpc(config, ctx, service="records") as svc:
                        return getattr(svc, name)(*args)
                return call

        return Call()

    def employee(self, opd="dinkes"):
        """A fresh employee record; returns (nip, record)."""
        nip = unique_nip()
        return nip, self.records("administrator").register_employee(employee_for(nip, opd),
                                                                    "data awal")

    def sync_target(self, method, path, token):
        """A region onboarded for this matrix run, keys to retire and a quarantined event."""
        if path == "/api/sync/regions":
            body = {"region": self.free_region(), "reason": "uji matriks"} \
                if method == "POST" else None
            return path, token, body
        if not getattr(self, "sync_region", None):
            self.sync_region = self.free_region()
            self.admin_call("onboard_region", {"region": self.sync_region,
                                               "reason": "uji matriks"}, service="sync")
            self.sync_sequence = 0
        region = self.sync_region
        body = {"reason": "uji matriks"} if method == "POST" else None
        if path.endswith("/batches"):
            body = {"events": []}
        if path.endswith(("/decisions", "/apply", "/berita-acara", "/corrections")):
            return self.reconciliation_target(method, path, token, region)
        if path.endswith("/reconciliations") or "<snapshot_id>" in path or \
                "<reconciliation_id>" in path:
            snapshot_id, reconciliation_id = self.sync_reconciliation(region)
            path = path.replace("<snapshot_id>", snapshot_id).replace("<reconciliation_id>",
                                                                      reconciliation_id)
            if method == "POST":
                body = {"snapshot_id": snapshot_id, "year": 2026}
        if "<key_id>" in path:
            active = [k["key_id"] for k in self.admin_call("list_region_keys", region,
                                                           service="sync")
                      if k["status"] == "active"]
            if len(active) >= 3:
                self.admin_call("retire_region_key", region, active[0], {"reason": "cukup"},
                                service="sync")
            key = self.admin_call("add_region_key", region, {"reason": "rotasi"}, service="sync")
            path = path.replace("<key_id>", key["key_id"])
        if "<sequence>" in path:
            # a quarantined event, as the applier leaves one records refused (the refusal
            # itself is tests/test_sync_apply.py's)
            self.sync_sequence += 1
            batch = f"matriks-{self.sync_sequence:04d}"
            conn = psycopg2.connect(self.config["DATABASE_URL"])
            with conn, conn.cursor() as cur:
                cur.execute("INSERT INTO sync.batches (region, batch_id, key_id, event_count) "
                            "VALUES (%s, %s, 'x', 1)", (region, batch))
                cur.execute("INSERT INTO sync.inbound (region, sequence, event_id, kind, nip, "
                            "data, batch_id, status, refusal) VALUES (%s, %s, %s, "
                            "'data_pokok_changed', %s, '{}', %s, 'quarantined', "
                            "'{\"code\": \"validation_failed\", \"status\": 422, "
                            "\"message\": \"uji\"}')",
                            (region, self.sync_sequence, str(uuid.uuid4()), unique_nip(), batch))
            conn.close()
            path = path.replace("<sequence>", str(self.sync_sequence))
        return path.replace("<region>", region), token, body

    def reconciliation_target(self, method, path, token, region):
        """A reconciliation of its own for each call, made in the tables (the real chain is
        tests/test_sync_snapshots.py's): reported with one difference, or for the berita acara
        already applied with it decided."""
        from tests.sync_helpers import reported_reconciliation

        nip = unique_nip()
        closing = path.endswith("/berita-acara")
        rid = reported_reconciliation(
            self.config["DATABASE_URL"], region, {}, [{"kind": "missing_in_region", "nip": nip}],
            status="applied" if closing else "reported",
            decision="keep_province" if closing else None)
        body = None
        if path.endswith("/decisions") and method == "POST":
            body = {"decisions": [{"difference_id": 1, "decision": "keep_province"}]}
        elif closing:
            body = {"meeting_date": "2026-12-04", "place": "Ruang Rapat BKD",
                    "participants": [{"name": "Dr. Budi Santoso", "position": "Kepala BKD",
                                      "instansi": "Pemerintah Provinsi Jawa Timur"}],
                    "signer": "admin.bkd"}
        return path.replace("<region>", region).replace("<reconciliation_id>", rid), token, body

    def sync_reconciliation(self, region: str) -> tuple[str, str]:
        """A loaded snapshot of the region and a reported reconciliation on it, as the loader
        and the report leave them (their making is tests/test_sync_snapshots.py's)."""
        snapshot_id, reconciliation_id = str(uuid.uuid4()), str(uuid.uuid4())
        conn = psycopg2.connect(self.config["DATABASE_URL"])
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO sync.snapshots (snapshot_id, region, format, sha256, "
                        "size_bytes, key_id, status, rows_total, columns) VALUES (%s, %s, "
                        "'csv', %s, 10, 'x', 'loaded', 0, '{}')",
                        (snapshot_id, region, "0" * 64))
            cur.execute("INSERT INTO sync.reconciliations (reconciliation_id, region, "
                        "snapshot_id, year, status, requested_by, reported_at, figures) VALUES "
                        "(%s, %s, %s, 2026, 'reported', 'uji', now(), '{}')",
                        (reconciliation_id, region, snapshot_id))
        conn.close()
        return snapshot_id, reconciliation_id

    def free_region(self) -> str:
        taken = {r["region"] for r in self.admin_call("list_regions", service="sync")}
        return next(code for code in sync_domain.regions() if code not in taken)

    def admin_call(self, method, *args, service="identity"):
        with rpc(self.config, self.context("administrator"), service=service) as svc:
            return getattr(svc, method)(*args)

    def token(self, persona):
        return self.sessions[persona]["tokens"]["access_token"] if persona != "anonymous" \
            else None

    def clone(self, persona):
        """A fresh account in the same role, for routes that change the caller's own account."""
        if persona == "anonymous":
            return None
        if persona == "machine":
            return self.sessions["machine"]
        if persona == "pegawai":
            login = self.people.pegawai("dinkes")
        elif persona == "unsigned":
            login = self.unsigned()
        else:
            role = "fasilitator" if persona.startswith("fasilitator") else persona
            login = self.people.staff([role], ["dinkes"] if persona == "fasilitator_own"
                                      else ["dindik"] if persona == "fasilitator_other" else [])
        return self.people.login(login)

    def agency_path(self, path: str) -> str:
        return path.replace("<nip>", self.logins["pegawai"]) + "?purpose=uji-matriks"

    def agency_token(self) -> str:
        """An access token of an agency whose agreement has both agency scopes."""
        client = self.admin_call("register_client", {
            **client_body(), "scopes": ["agency:list", "agency:read"],
            "allowed_fields": ["name"], "population_instansi": ["35"],
            "purposes": ["uji-matriks"]})
        with rpc(self.config) as svc:
            return svc.client_token({"client_id": client["client_id"],
                                     "client_secret": client["client_secret"]})["access_token"]

    def region_token(self) -> str:
        """An access token of a kabupaten/kota's machine client (one not registered yet)."""
        from shared.reference import instansi

        for code in sorted(instansi(), reverse=True):
            body = {**client_body(), "client_kind": "kabkota", "kabkota_code": code}
            body.pop("client_id")
            try:
                client = self.admin_call("register_client", body)
            except Exception as exc:  # noqa: BLE001 - taken by another test: the next one
                if getattr(exc, "code", None) in ("account_exists", "validation_failed"):
                    continue
                raise
            with rpc(self.config) as svc:
                return svc.client_token({"client_id": client["client_id"],
                                         "client_secret": client["client_secret"]})[
                    "access_token"]
        raise AssertionError("no kabupaten/kota left to register")

    def hukdis(self) -> tuple[str, int]:
        """A draft disciplinary request (only BKD drafts one) about the pegawai persona, by the
        administrator persona, with every document it needs."""
        body = self.hukdis_body()
        self.settle()
        made = self.requests("administrator").create_request(body)
        self.made.append(made["request_id"])
        return made["request_id"], made["version"]

    def settle(self) -> None:
        """Finish the requests made so far for the pegawai persona — withdrawn, returned and
        withdrawn, or rejected — since one request of a layanan is open per employee at a
        time (none is approved here: a grant would stop the next request)."""
        admin = self.requests("administrator")
        for rid in self.made:
            request = admin.get_request(rid)
            version = {"expected_version": request["version"]}
            if request["state"] == "under_verification":
                verifier = next(s["actor_id"] for s in reversed(admin.request_timeline(rid))
                                if s["event"] == "VerificationStarted")
                persona = next(p for p, login in self.logins.items() if login == verifier)
                request = self.requests(persona).return_request(rid, {
                    **version, "documents": {"usulan": "selesai diuji"}})
            elif request["state"] == "under_approval":
                other = {"actor_id": "admin.penutup", "actor_role": "administrator",
                         "actor_roles": ["administrator"], "actor_scope": []}
                with rpc(self.config, other, service="requests") as svc:
                    svc.decide_request(rid, {**version, "approve": False,
                                             "reason": "selesai diuji"})
                continue
            if request["state"] in ("draft", "submitted", "returned"):
                drafter = "administrator" if request["layanan"] == "HUKDIS" else "pegawai"
                self.requests(drafter).withdraw_request(rid, {
                    "expected_version": request["version"], "reason": "selesai diuji"})
        self.made.clear()

    def hukdis_body(self) -> dict:
        return {"layanan": "HUKDIS", "nip": self.logins["pegawai"],
                "options": {"pelanggaran": "lainnya"},
                "documents": {c: self.uploaded_document() for c in HUKDIS_CODES}}

    def report_target(self, method, path, persona, token):
        """An export of the employee list (the persona's own when it may export, else BKD's),
        ready when its file is asked for; the chart of a statistic registered by the test."""
        if path.endswith("/chart"):
            return path.replace("<name>", STATISTIC) + "?format=svg", token, None
        path = path.replace("<name>", "employees")
        body = {"format": "csv", "purpose": "uji matriks otorisasi", "params": {"limit": 5}}
        if method == "POST":
            return path, token, body
        owner = persona if persona in REPORT_PEOPLE else "administrator"
        with rpc(self.config, self.context(owner), service="reporting") as svc:
            export = svc.start_export("employees", body)
            if path.endswith("/file"):
                wait_for(lambda: svc.get_export("employees", export["export_id"])["status"]
                         == "ready", timeout=30, message="the export's file")
        return path.replace("<export_id>", export["export_id"]), token, None

    #: BKD's approver of the matrix's data requests (never their requester; a signer in the
    #: test key store, so a release is signed)
    DATA_APPROVER = {"actor_id": "admin.bkd", "actor_role": "administrator",
                     "actor_roles": ["administrator"], "actor_scope": []}

    def data_request(self, owner: str, step: str = "submitted") -> str:
        """A data request about the pegawai persona filed by `owner`, taken to `step`
        (approved, consented, released: its file ready)."""
        body = {"organisation": "Lembaga Uji Matriks", "purpose": "uji matriks otorisasi",
                "fields": ["name"], "population": {"nips": [self.logins["pegawai"]]},
                "period_from": "2026-12-01", "period_until": "2027-06-30"}
        with rpc(self.config, self.context(owner), service="reporting") as svc:
            rid = svc.file_data_request(body)["request_id"]
        if step == "submitted":
            return rid
        def approved():
            with rpc(self.config, self.DATA_APPROVER, service="reporting") as svc:
                try:
                    return svc.decide_data_request(rid, {"approve": True,
                                                         "reason": "uji matriks"})
                except Exception as exc:  # noqa: BLE001 - the list has not caught up yet
                    if getattr(exc, "code", None) != "population_empty":
                        raise
                    return None
        wait_for(approved, timeout=60, message="the employee list holds the pegawai")
        if step == "approved":
            return rid
        with rpc(self.config, self.context("pegawai"), service="reporting") as svc:
            svc.answer_consent(rid, {"consent": True})
        if step == "consented":
            return rid
        with rpc(self.config, self.context(owner), service="reporting") as svc:
            svc.release_data_request(rid, {"format": "csv"})
            wait_for(lambda: (svc.get_data_request(rid)["export"] or {}).get("status")
                     == "ready", timeout=30, message="the release's file")
        return rid

    def data_request_target(self, method, path, persona, token):
        """A data request of the persona's own when it may file one (else fasilitator_own's),
        in the state the route needs."""
        if path == "/api/data-requests":
            body = None if method == "GET" else {
                "organisation": "Lembaga Uji Matriks", "purpose": "uji matriks otorisasi",
                "fields": ["name"], "population": {"nips": [self.logins["pegawai"]]},
                "period_from": "2026-12-01", "period_until": "2027-06-30"}
            return path, token, body
        if path == "/api/me/consents":
            return path, token, None
        owner = persona if persona in REPORT_PEOPLE else "fasilitator_own"
        step, body = {"decision": ("submitted", {"approve": False, "reason": "uji matriks"}),
                      "release": ("consented", {"format": "csv"}),
                      "file": ("released", None)}.get(path.rsplit("/", 1)[-1], (None, None))
        if path.startswith("/api/me/consents/"):
            step, body = "approved", {"consent": True}
        if path.endswith("/decision"):
            owner = "fasilitator_own"  # never the deciding administrator's own (four eyes)
        return path.replace("<request_id>", self.data_request(owner, step or "submitted")), \
            token, body

    def own_target(self, method, path, persona, scenario):
        """(path, token, body) for a persona reaching a route with a target of its own."""
        token, nip = self.token(persona), self.logins["pegawai"]
        if scenario == "agency":
            return self.agency_path(path), self.agency_token(), None
        if scenario == "region" and "<name>" in path:
            return path.replace("<name>", "headcount") + "?by=gender", self.region_token(), None
        if scenario == "region":
            query = "?sort=name" if path == "/api/employees" else ""
            return path + query, self.region_token(), None
        if scenario == "own" and "<account_id>" in path:
            return path.replace("<account_id>", nip), token, None
        if scenario == "own" and path.endswith("/<sha256>"):
            record = self.records("administrator").get_employee(nip)
            sha = self.uploaded_document()
            self.records("administrator").attach_document(nip, {
                "slot": "ktp", "sha256": sha, "expected_version": record["version"],
                "reason": "KTP"})
            return path.replace("<nip>", nip).replace("<sha256>", sha), token, None
        if scenario == "own":
            return path.replace("<nip>", nip).replace("<field>", "name"), token, None
        if scenario == "drafted":
            self.settle()
            made = self.requests(persona).create_request(
                {"layanan": "KARTU_KESEHATAN", "nip": nip, "options": {"tanggungan": "sendiri"}})
            self.made.append(made["request_id"])
            return (path.replace("<request_id>", made["request_id"]), token,
                    {"expected_version": made["version"], "reason": "tidak jadi"})
        if path == "/api/requests":
            body = self.hukdis_body()
            self.settle()
            return path, token, body
        rid, version = self.hukdis()
        body = {"expected_version": version}
        if path.endswith("/documents"):
            body["documents"] = {"bap": self.uploaded_document()}
        elif path.endswith("/withdraw"):
            body["reason"] = "berkas belum lengkap"
        return path.replace("<request_id>", rid), token, body

    def request(self, method, path, persona, scenario=None):
        """(path, token, body) for one call; allowed calls are valid, so they must succeed."""
        if scenario is not None:
            return self.own_target(method, path, persona, scenario)
        token = self.token(persona)
        admin = self.context("administrator")
        if path.startswith(("/api/data-requests", "/api/me/consents")):
            return self.data_request_target(method, path, persona, token)
        if path == "/api/auth/login":
            return path, token, {"login": self.people.pegawai(), "password": PASSWORD}
        if path == "/api/auth/refresh":
            fresh = self.people.login(self.people.pegawai())
            return path, token, {"refresh_token": fresh["tokens"]["refresh_token"]}
        if path == "/api/auth/password-reset":
            nip = unique_nip()
            with rpc(self.config, admin) as svc:
                svc.register_account({"login": nip, "display_name": "Baru", "roles": ["pegawai"],
                                      "email": f"{nip}@mail.test", "home_opd": "dinkes",
                                      "reason": "uji matriks"})
            (reset,) = outbox_tokens(self.config, f"{nip}@mail.test")
            return path, token, {"token": reset, "new_password": "Matriks-Akses-2026"}
        if path == "/api/auth/totp/confirm":
            name = "totp" + unique_nip()[-8:]
            self.people.boot.create({"login": name, "display_name": "Baru", "roles":
                                     ["fasilitator"], "email": f"{name}@x.id",
                                     "opd_scope": ["dinkes"]}, PASSWORD)
            with rpc(self.config) as svc:
                first = svc.login({"login": name, "password": PASSWORD})
            return path, token, {"enrollment_token": first["enrollment_token"],
                                 "otp": pyotp.TOTP(first["totp_secret"]).now()}
        if path in ("/api/auth/logout", "/api/me/password", "/api/me/contact",
                    "/api/me/sessions/<session_id>"):
            own = self.clone(persona)
            own_token = own["tokens"]["access_token"] if own else None
            body = {"/api/me/password": {"current_password": PASSWORD,
                                         "new_password": "Sandi-Baru-Matriks-9"},
                    "/api/me/contact": {"current_password": PASSWORD,
                                        "phone": "081298765432"}}.get(path)
            if path.endswith("<session_id>"):
                sid = own["tokens"]["session_id"] if own else "00000000-0000-0000-0000-0000000000"
                path = f"/api/me/sessions/{sid}"
            return path, own_token, body
        if path.startswith("/api/me/integrity-pacts") and method == "POST":
            # a pact for a role the persona holds none for (signing one grants nothing)
            role = "fasilitator" if persona == "administrator" else "administrator"
            if path.endswith("/withdraw"):  # a fresh account's own pact, recorded from paper
                own = self.clone(persona)
                pact_id = (self.people.pact(own["principal"]["account_id"], role)
                           if own and persona not in ("machine", "pegawai")
                           else "00000000-0000-0000-0000-000000000000")
                return (path.replace("<pact_id>", pact_id), own and own["tokens"]["access_token"],
                        {"reason": "uji matriks"})
            body = {"role": role, "opd_scope": ["dinkes"], "password": PASSWORD}
            code = self.people.otp(self.logins.get(persona, ""))
            if code:
                body["otp"] = code
            return path, token, body
        if path == "/api/auth/unlock":
            body = {"password": PASSWORD}
            code = self.people.otp(self.logins.get(persona, ""))
            if code:
                body["otp"] = code
            return path, token, body
        if path == "/api/auth/token":
            client_id, secret = self.client_secret
            return path, token, {"client_id": client_id, "client_secret": secret}
        if path == "/api/clients" and method == "POST":
            return path, token, client_body()
        if path.startswith("/api/agency/"):
            return self.agency_path(path), token, None
        if "<client_id>" in path:
            client = self.admin_call("register_client", client_body())
            if path.endswith("/reinstate"):
                self.admin_call("suspend_client", client["client_id"], {"reason": "uji"})
            return path.replace("<client_id>", client["client_id"]), token, {"reason": "uji"}
        if path == "/api/employees" and method == "GET":
            return path + "?sort=name&limit=5", token, None
        if path.startswith("/api/reports/"):
            return self.report_target(method, path, persona, token)
        if path == "/api/employees":
            return path, token, employee_for(unique_nip())
        if path.startswith("/api/layanan/<kode>"):
            if path.endswith("/deactivate"):
                return (path.replace("<kode>", "DUPAK_PAK"), token,
                        {"decree_number": "800/9/BKD/2026", "decree_date": "2026-11-01",
                         "reason": "uji matriks"})
            if path.endswith("/eligibility/<nip>"):
                return (path.replace("<kode>", "KARTU_KESEHATAN").replace(
                    "<nip>", self.logins["pegawai"]), token, None)
            if method == "PUT":
                current = self.requests("administrator").get_layanan("TASPEN")
                return path.replace("<kode>", "TASPEN"), token, {
                    "changes": {"sla_hari_kerja": current["sla_hari_kerja"]},
                    "sop": {"nomor": "SOP/BKD/02/2026", "versi": current["sop"]["versi"] + 1},
                    "approval": {"reference": "BA/SIMASN/1/2026"}, "reason": "uji matriks"}
            return path.replace("<kode>", "KGB"), token, None
        if path.startswith("/api/monev/evaluations/"):
            # recorded once (signed by the administrator persona); a POST is then a correction
            signer = self.evaluation_recorded(2026)
            body = {"signer": signer, "correction": True, "reason": "uji matriks"} \
                if method == "POST" else None
            return path.replace("<int:year>", "2026"), token, body
        if "<int:year>" in path:
            return path.replace("<int:year>", "2026"), token, None
        if path == "/api/requests" and method == "GET":
            return path + "?limit=5&state=submitted", token, None
        if path == "/api/requests":
            self.settle()
            return path, token, {"layanan": "KARTU_KESEHATAN", "nip": self.logins["pegawai"],
                                 "options": {"tanggungan": "sendiri"}}
        if path == "/api/requests/<request_id>/output":
            rid, _ = self.service_request("submitted", persona)
            self.signed_document(f"request:{rid}")
            return path.replace("<request_id>", rid), token, None
        if path.endswith("/sign"):  # a document the administrator persona signs
            document = self.signed_document(signer=self.admin_signer())
            return (path.replace("<document_id>", document["document_id"]), token,
                    {"passphrase": "uji-matriks"})
        if "<document_id>" in path:
            document = self.signed_document()
            body = {"reason": "uji matriks tanda tangan"} if method == "POST" and not \
                path.endswith("/retry") else None
            return path.replace("<document_id>", document["document_id"]), token, body
        if path == "/api/reports/<name>":
            return path.replace("<name>", "duk") + "?limit=5", token, None
        if "<position>" in path:
            return path.replace("<position>", "latest"), token, None
        if "<path:path>" in path:
            return path.replace("<path:path>", "js/app.js"), token, None
        if path == "/api/public/verification":
            document = self.signed_document()
            return path, token, FileSystemStore(self.config["DOCUMENT_ROOT"]).read(
                document["sha256"])
        if "<request_id>" in path and path.startswith("/api/requests"):
            step = path.rsplit("/", 1)[-1]
            state = {"documents": "draft", "submit": "draft", "withdraw": "submitted",
                     "verification": "submitted", "return": "under_verification",
                     "verify": "under_verification", "decision": "under_approval"}.get(
                step, "submitted")
            rid, version = self.service_request(state, persona)
            body = {"expected_version": version}
            if step == "documents":
                body["documents"] = {"kk": self.uploaded_document()}
            elif step == "withdraw":
                body["reason"] = "tidak jadi"
            elif step == "return":
                body["documents"] = {"kk": "KK belum dilegalisir"}
            elif step == "verify":
                verdict = {"original": True, "legible": True, "matches_record": True}
                body["checks"] = {c: verdict for c in self.KK_CODES}
            elif step == "decision":
                # refused, not approved: an approved request would stay open while it is
                # signed, and once signed the KARTU_KESEHATAN would be granted for good
                body.update(approve=False, reason="belum memenuhi syarat")
            elif method == "GET":
                body = None
            return path.replace("<request_id>", rid).replace("<document>", "kk"), token, body
        if path == "/api/verification/fake-documents" and method == "POST":
            rid, _ = self.service_request("submitted", persona)
            return path, token, {"request_id": rid, "document": "kk", "note": "cap ditempel"}
        if "<case_id>" in path:
            rid, _ = self.service_request("submitted", persona)
            with rpc(self.config, self.context("fasilitator_own"),
                     service="verification") as svc:
                case = svc.report_fake_document({"request_id": rid, "document": "kk",
                                                 "note": "cap ditempel"})
            return (path.replace("<case_id>", case["case_id"]), token,
                    {"reason": "hasil pemeriksaan"})
        if "<notification_id>" in path:
            rid, _ = self.service_request("submitted", persona)
            pegawai = self.context("pegawai")

            def notified():
                with rpc(self.config, pegawai, service="verification") as svc:
                    return next((n["notification_id"] for n in svc.inbox()
                                 if n["request_id"] == rid), None)

            wait_for(notified, timeout=30, message="the pegawai is notified")
            return path.replace("<notification_id>", notified()), token, None
        if "<item_id>" in path:
            return path.replace("<item_id>", self.queued_change()), token, None
        if path == "/api/documents":
            return (f"{path}?file_name=sk.pdf&nip={self.logins['pegawai']}", token,
                    pdf_with_text(marker=unique_nip()))
        if path == "/api/employee-imports":
            nip = unique_nip()
            row = employee_for(nip)
            data = ("nip,name,date_of_birth,gender,status,tmt_cpns\n"
                    f"{nip},{row['name']},{row['date_of_birth']},{row['gender']},PNS,"
                    f"{row['tmt_cpns']}\n").encode()
            return f"{path}?opd_id=dinkes&file_name=matriks.csv", token, data
        if "<import_id>" in path:
            stored = FileSystemStore(self.config["DOCUMENT_ROOT"]).put(
                b"nip,name,date_of_birth,gender,status\n123,X,1990-01-01,L,PNS\n")
            job = self.records("administrator").start_import(
                {"opd_id": "dinkes", "sha256": stored.sha256, "file_name": "kosong.csv"})
            return path.replace("<import_id>", job["import_id"]), token, None
        if path == "/api/monev/completeness/employees/<nip>":
            # the pegawai persona's record (in fasilitator_own's OPD), long caught up by the
            # reporting read models
            return path.replace("<nip>", self.logins["pegawai"]), token, None
        if "<nip>" in path:
            if path.endswith("/proposals"):
                nip = self.logins["pegawai"]
                return path.replace("<nip>", nip), token, {"changes": {"address": "Jl. Baru"}}
            nip, record = self.employee()
            body = None
            if path.endswith("/histories"):
                body = {"history": "jabatan", "entry": JABATAN,
                        "expected_version": record["version"], "reason": "SK jabatan"}
            elif path.endswith("/documents"):
                sha = self.uploaded_document(nip)
                body = {"slot": "sk_cpns", "sha256": sha, "expected_version": record["version"],
                        "reason": "SK CPNS asli"}
            elif path.endswith("/<sha256>"):
                sha = self.uploaded_document(nip)
                self.records("administrator").attach_document(nip, {
                    "slot": "ktp", "sha256": sha, "expected_version": record["version"],
                    "reason": "KTP"})
                path = path.replace("<sha256>", sha)
            elif path.endswith("/decision"):
                proposed = self.records(context={"actor_id": nip, "actor_roles": ["pegawai"]}
                                        ).propose_change(nip, {"changes": {"address": "Jl. X"}})
                body = {"change_id": proposed["change_id"], "apply": True, "reason": "sesuai",
                        "expected_version": proposed["version"]}
            path = path.replace("<nip>", nip).replace("<field>", "name")
            return path, token, body
        if path.startswith("/api/sync/"):
            return self.sync_target(method, path, token)
        if path == "/api/access-requests" and method == "POST":
            return path, token, access_request_body()
        if "<request_id>" in path:
            with rpc(self.config, self.context("fasilitator_own")) as svc:
                pending = svc.request_access(access_request_body())
            return path.replace("<request_id>", pending["request_id"]), token, {"note": "uji"}
        if path == "/api/access-reviews" and method == "GET":
            return path + "?limit=5", token, None
        if path == "/api/access-reviews":
            return path, token, {"stale_days": 90}
        if "<review_id>" in path:
            review = self.admin_call("generate_access_review", {"stale_days": 90})
            body = {"note": "sudah diperiksa"} if method == "POST" else None
            return path.replace("<review_id>", review["review_id"]), token, body
        if path == "/api/accounts" and method == "GET":
            return "/api/accounts?opd_id=dinkes", token, None
        if path == "/api/accounts":
            return path, token, {"login": unique_nip(), "display_name": "Pegawai Baru",
                                 "email": "baru@mail.test", "roles": ["pegawai"],
                                 "home_opd": "dinkes", "reason": "uji matriks"}
        if "<account_id>" in path:
            if path.endswith("/totp-reset") or path.endswith("/opd-scope"):
                target = self.people.staff(["fasilitator"], ["dinkes"])
                body = {"reason": "uji matriks"}
                if path.endswith("/opd-scope"):
                    body["opd_scope"] = ["dinkes", "dinsos"]
            elif path.endswith("/roles") or path.endswith("/roles/revoke"):
                target = self.people.staff(["auditor"])
                self.people.pact(target, "fasilitator")  # a grant rests on the person's pact
                body = {"role": "fasilitator" if path.endswith("/roles") else "auditor",
                        "opd_scope": ["dinkes"], "reason": "uji matriks"}
            else:
                target = self.people.pegawai("dinkes")
                body = None if method == "GET" else {"reason": "uji matriks"}
            return path.replace("<account_id>", target), token, body
        return path, token, None


@pytest.fixture
def gateway(start_gateway, database_url):
    # the client-wide rate limit is tested in test_gateway_api; here it would only get in the way
    client, people, config = start_gateway(RecordsService, RequestsService,
                                           VerificationService, SigningService, SyncService,
                                           ReportingService,
                                           GATEWAY_CLIENT_RATE=100000,
                                           GATEWAY_CLIENT_BURST=100000)
    # the verification queue is fed by the records and requests events
    relays = [RelayThread(database_url, log, log, config["AMQP_URI"], name="matrix")
              for log in ("records", "requests")]
    for relay in relays:
        relay.__enter__()
    with registered_test_reports():
        yield client, World(people, config)
    for relay in relays:
        relay.__exit__(None, None, None)


def send(client, method, path, token, body):
    if isinstance(body, bytes):  # a raw upload
        kind = "application/pdf" if body.startswith(b"%PDF") else "text/csv"
        return client.call(method, path, token=token, raw=body, headers={"Content-Type": kind})
    return client.call(method, path, token=token, body=body)


def test_authorization_matrix(gateway):
    client, world = gateway
    failures, mismatches = [], []
    for (method, rule), allowed in sorted(MATRIX.items()):
        for persona in PERSONAS:
            path, token, body = world.request(method, rule, persona)
            answer = send(client, method, path, token, body)
            if rule == "/api/requests" and answer.status == 201:
                world.made.append(answer.body["request_id"])
            mismatches += conformance_problems(method, rule, answer)
            ok = answer.status < 400 or (rule == "/health/ready" and answer.status == 503)
            refused = answer.status in (401, 403, 404)
            if persona in allowed and not ok:
                failures.append(f"{persona} {method} {path}: {answer.status} {answer.code}")
            if persona not in allowed and not refused:
                failures.append(f"{persona} {method} {path} should be refused: {answer.status}")
    for (method, rule), personas in sorted(OWN_TARGETS.items()):
        for persona, scenario in personas.items():
            path, token, body = world.request(method, rule, persona, scenario)
            answer = send(client, method, path, token, body)
            if rule == "/api/requests" and answer.status == 201:
                world.made.append(answer.body["request_id"])
            mismatches += conformance_problems(method, rule, answer)
            if answer.status >= 400:
                failures.append(f"{persona} ({scenario}) {method} {path}: {answer.status} "
                                f"{answer.code}")
    print(f"authorization matrix: {len(MATRIX)} routes x {len(PERSONAS)} personas")
    assert not failures, "\n".join(failures)
    assert not mismatches, "answers the OpenAPI document does not declare:\n" + "\n".join(
        sorted(set(mismatches)))
