"""Nameko entrypoints of the identity service. Each validates its payload against the shared
contract, runs one use case in one unit of work, and returns a dumped schema."""

import uuid

from nameko.timer import timer

from services.identity import schemas as s
from services.identity.dependencies import FencedDatabase, Identity, Mail
from services.identity.events import REGISTRY
from services.identity.usecases import access, accounts, emails, leases, pacts, throttle
from shared.auth import Principal
from shared.consumer import idempotent_handler
from shared.errors import Conflict
from shared.idempotency import once
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import ServiceBase, rpc

#: the schemas of the hottest reads, made once (a schema's construction costs more than a dump)
PRINCIPAL = s.Principal()
ACCOUNT = s.Account()

#: the mails queued from the requests events (`simasn projections rebuild identity.notifications`)
NOTIFICATIONS = "identity.notifications"


def _committed(outcome: accounts.Outcome):
    """The result of an attempt with a secret, or its refusal, raised only now that the
    transaction counting the failure has committed."""
    if outcome.error:
        raise outcome.error
    return outcome.result


def _mail_on(event_type: str):
    """The consumer `mail_on_<event type>` of one requests event: it queues the employee's
    mail. The service declares one per event, by name, in its class body."""

    def handle(self, uow, event):
        emails.queue(uow, event)

    handle.__name__ = handle.__qualname__ = f"mail_on_{event_type.lower()}"
    return idempotent_handler("requests", event_type, subscription=NOTIFICATIONS)(handle)


#: integrity pacts whose signed document BKD revoked (not rebuildable: the effects are events)
PACTS = "identity.pacts"

#: the access reviews' list: each without its items (a dict's `items` would be its method)
REVIEW_LIST = s.Review(many=True, exclude=("items",))


class IdentityService(ServiceBase):
    """Accounts, roles, OPD assignments, sessions and the access lifecycle."""

    name = "identity"
    db = FencedDatabase(REGISTRY)
    kit = Identity()
    mail = Mail()
    #: renders and signs the integrity pacts staff sign (usecases/pacts.py)
    signing = RpcProxy("signing", signs={"issue_document"})
    #: a rebuild empties nothing: the outbox is what people were sent, and a replay queues
    #: only the mails with no outbox row yet (keyed by event), so nobody is mailed twice
    rebuildable = {NOTIFICATIONS: ()}

    # request notifications by email, one handler per requests event of shared.notifications.
    # NOTIFIED_EVENTS: queued once per event, delivered at most once (usecases/emails.py)
    mail_on_requestsubmitted = _mail_on("RequestSubmitted")
    mail_on_verificationstarted = _mail_on("VerificationStarted")
    mail_on_requestreturned = _mail_on("RequestReturned")
    mail_on_requestverified = _mail_on("RequestVerified")
    mail_on_requestapproved = _mail_on("RequestApproved")
    mail_on_requestrejected = _mail_on("RequestRejected")
    mail_on_requestcompleted = _mail_on("RequestCompleted")
    mail_on_requestwithdrawn = _mail_on("RequestWithdrawn")

    # an employee's output document signed, revoked or replaced (issue 20): by email too
    @idempotent_handler("signing", "DocumentSigned", subscription=NOTIFICATIONS)
    def mail_on_documentsigned(self, uow, event):
        emails.queue_document(uow, event, self._document_of(event))

    @idempotent_handler("signing", "DocumentRevoked", subscription=NOTIFICATIONS)
    def mail_on_documentrevoked(self, uow, event):
        emails.queue_document(uow, event, self._document_of(event))

    @idempotent_handler("signing", "DocumentSuperseded", subscription=NOTIFICATIONS)
    def mail_on_documentsuperseded(self, uow, event):
        emails.queue_document(uow, event, self._document_of(event))

    def _document_of(self, event) -> dict:
        return self._as_system(
            lambda: self.signing.get_document(event.stream_id.split(":", 1)[1]))

    @idempotent_handler("signing", "DocumentRevoked", subscription=PACTS)
    def withdraw_pact_of_revoked_document(self, uow, event):
        """BKD revoked a signed integrity pact: the role it carried stops at once (fenced)."""
        pacts.on_document_revoked(uow, event.stream_id.split(":", 1)[1],
                                  event.payload["reason"])

    @timer(interval=2)
    def deliver_mail(self):
        emails.deliver(self.db, self.mail, self.kit.box)

    @timer(interval=3600)
    def prune_login_throttle(self):
        """Sources that stopped failing a day ago start afresh (usecases/throttle.py)."""
        with self.db.transaction() as uow:
            throttle.prune(uow)

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    def _client(self) -> str | None:
        """The caller's address, as the gateway saw it (failed attempts are counted per it)."""
        return self.context.get("client_address")

    @rpc
    def login(self, payload, user_agent=None):
        data = load(s.LoginRequest(), payload)
        data["user_agent"] = user_agent
        with self.db.transaction(actor_id=data["login"]) as uow:
            outcome = accounts.login(uow, self.kit, data, self._client())
        return s.TokenResponse().dump(_committed(outcome))

    @rpc
    def confirm_totp(self, payload, user_agent=None):
        data = {**load(s.TotpConfirmRequest(), payload), "user_agent": user_agent}
        with self.db.transaction() as uow:
            result = accounts.confirm_totp(uow, self.kit, data, self._client())
        return s.TokenResponse().dump(result)

    @rpc
    def refresh(self, payload):
        data = load(s.RefreshRequest(), payload)
        with self.db.transaction() as uow:
            result = accounts.refresh(uow, self.kit, data["refresh_token"])
        if "error" in result:
            raise result["error"]
        return s.TokenResponse().dump(result)

    @rpc
    def authenticate(self, access_token):
        with self.db.read() as uow:  # one statement (docs/design/performance.md)
            return PRINCIPAL.dump(accounts.authenticate(uow, self.kit, access_token or ""))

    @rpc
    def renew_session_lease(self, holder):
        """A caching gateway replica's lease (services/identity/fences.py)."""
        holder = load(s.LeaseRequest(), {"holder": holder})["holder"]
        with self.db.transaction() as uow:
            return s.LeaseAnswer().dump(leases.renew(uow, str(holder), self.db.announcer.scope,
                                                     self.kit.lease_seconds))

    @rpc
    def release_session_lease(self, holder):
        holder = load(s.LeaseRequest(), {"holder": holder})["holder"]
        with self.db.transaction() as uow:
            leases.release(uow, str(holder))

    @rpc
    def logout(self):
        with self.db.transaction(reason="keluar") as uow:
            accounts.logout(uow, self._actor())

    @rpc
    def list_sessions(self):
        with self.db.transaction() as uow:
            return s.Session(many=True).dump(accounts.list_sessions(uow, self._actor()))

    @rpc
    def revoke_session(self, session_id):
        with self.db.transaction(reason="sesi diakhiri") as uow:
            accounts.revoke_session(uow, self._actor(), session_id)

    @rpc
    def unlock_session(self, payload):
        """The clear-screen lock: the session's owner proves it is still them (no new token)."""
        data = load(s.UnlockRequest(), payload)
        with self.db.transaction(reason="layar dibuka kembali") as uow:
            outcome = accounts.unlock(uow, self.kit, self._actor(), data, self._client())
        _committed(outcome)

    # -- the integrity pact (issue 17 part 5) -------------------------------------------------

    @rpc
    def sign_integrity_pact(self, payload):
        """The caller signs the integrity pact for a staff role, re-authenticated by password:
        checked and re-authenticated first (a wrong password counts, committed), then signing
        renders and signs the PDF, then the pact is recorded with its document."""
        data = load(s.IntegrityPactSign(), payload)
        actor = self._actor()
        with self.db.transaction(reason="pakta integritas") as uow:
            pact = pacts.check_signing(uow, actor, data)
            outcome = accounts.reauthenticate(uow, self.kit, actor, data, self._client())
        _committed(outcome)
        pact_id = str(uuid.uuid4())
        document = self._as_system(lambda: self.signing.issue_document(
            pacts.document_request(pact, pact_id, self.kit.pact_signer)))
        if document.get("status") != "signed":
            raise Conflict("pakta integritas belum dapat ditandatangani: "
                           f"{document.get('last_error') or document.get('status')}"[:300],
                           field="role", code="integrity_pact_not_signed")
        with self.db.transaction(reason="pakta integritas ditandatangani") as uow:
            return s.IntegrityPact().dump(pacts.record_signed(uow, actor, pact, pact_id,
                                                              document["document_id"]))

    def _as_system(self, call):
        """`call` made as the identity service (a backend vouches only for a system caller),
        the caller's context restored after."""
        caller = dict(self.context)
        self.context.clear()
        self.context.update(pacts.SYSTEM)
        try:
            return call()
        finally:
            self.context.clear()
            self.context.update(caller)

    @rpc
    def my_integrity_pacts(self):
        with self.db.transaction() as uow:
            return s.IntegrityPact(many=True).dump(pacts.mine(uow, self._actor()))

    @rpc
    def withdraw_integrity_pact(self, pact_id, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return s.IntegrityPact().dump(pacts.withdraw(uow, self._actor(), str(pact_id),
                                                         data["reason"]))

    @rpc
    def change_password(self, payload):
        data = load(s.PasswordChangeRequest(), payload)
        with self.db.transaction(reason="diubah oleh pemilik akun") as uow:
            outcome = accounts.change_password(uow, self.kit, self._actor(),
                                               data["current_password"], data["new_password"],
                                               self._client())
        _committed(outcome)

    @rpc
    def change_contact(self, payload):
        data = load(s.ContactChangeRequest(), payload)
        with self.db.transaction() as uow:
            outcome = accounts.change_contact(uow, self.kit, self._actor(), data, self._client())
        return s.Account().dump(_committed(outcome))

    @rpc
    def complete_password_reset(self, payload):
        data = load(s.PasswordResetComplete(), payload)
        with self.db.transaction(reason="reset oleh pemilik akun") as uow:
            account_id = accounts.complete_password_reset(uow, self.kit, data["token"],
                                                          data["new_password"])
        return {"account_id": account_id}

    @rpc
    def register_account(self, payload):
        data = load(s.AccountCreate(), payload)
        with self.db.transaction() as uow:
            return once(uow, "register_account", payload, lambda: s.Account().dump(
                accounts.register(uow, self.kit, self._actor(), data)))

    @rpc
    def get_account(self, account_id):
        with self.db.read() as uow:  # one statement
            return ACCOUNT.dump(accounts.get_account(uow, self._actor(), str(account_id)))

    @rpc
    def list_accounts(self, query):
        q = load(s.AccountQuery(), query)
        with self.db.transaction() as uow:
            return s.AccountList().dump(accounts.list_accounts(
                uow, self._actor(), q.get("opd_id"), q.get("role"), q["limit"], q["offset"]))

    @rpc
    def set_account_status(self, account_id, enabled, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "set_account_status", [account_id, enabled, payload],
                        lambda: s.Account().dump(accounts.set_status(
                            uow, self._actor(), str(account_id), bool(enabled), data["reason"])))

    @rpc
    def change_role(self, account_id, grant, payload):
        data = load(s.RoleChange(), payload)
        with self.db.transaction() as uow:
            return once(uow, "change_role", [account_id, grant, payload],
                        lambda: s.Account().dump(accounts.change_role(
                            uow, self._actor(), str(account_id), data["role"], bool(grant),
                            data["opd_scope"], data["reason"])))

    @rpc
    def reset_totp(self, account_id, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "reset_totp", [account_id, payload], lambda: s.Account().dump(
                accounts.reset_totp(uow, self._actor(), str(account_id), data["reason"])))

    @rpc
    def set_opd_scope(self, account_id, payload):
        data = load(s.OpdScopeChange(), payload)
        with self.db.transaction() as uow:
            return once(uow, "set_opd_scope", [account_id, payload], lambda: s.Account().dump(
                accounts.set_opd_scope(uow, self._actor(), str(account_id), data["opd_scope"],
                                       data["reason"])))

    @rpc
    def trigger_password_reset(self, account_id, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return s.ResetTriggered().dump(accounts.trigger_password_reset(
                uow, self.kit, self._actor(), str(account_id), data["reason"]))

    # -- access lifecycle -------------------------------------------------------------------

    @rpc
    def request_access(self, payload):
        data = load(s.AccessRequestCreate(), payload)
        with self.db.transaction() as uow:
            return once(uow, "request_access", payload, lambda: s.AccessRequest().dump(
                access.request_access(uow, self._actor(), data)))

    @rpc
    def list_access_requests(self, query):
        q = load(s.AccessRequestQuery(), query)
        with self.db.transaction() as uow:
            return s.AccessRequest(many=True).dump(
                access.list_access_requests(uow, self._actor(), q.get("status")))

    @rpc
    def decide_access_request(self, request_id, approve, payload):
        data = load(s.DecisionRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "decide_access_request", [str(request_id), bool(approve), payload],
                        lambda: s.AccessRequest().dump(access.decide_access(
                            uow, self.kit, self._actor(), str(request_id), bool(approve),
                            data["note"])))

    @rpc
    def generate_access_review(self, payload):
        data = load(s.ReviewCreate(), payload)
        with self.db.transaction() as uow:
            return once(uow, "generate_access_review", payload, lambda: s.Review().dump(
                access.generate_review(uow, self._actor(), data["stale_days"])))

    @rpc
    def list_access_reviews(self, query):
        data = load(s.ReviewQuery(), query or {})
        with self.db.transaction() as uow:
            return REVIEW_LIST.dump(
                access.list_reviews(uow, self._actor(), data["limit"], data["offset"]))

    @rpc
    def get_access_review(self, review_id):
        with self.db.transaction() as uow:
            return s.Review().dump(access.get_review(uow, self._actor(), str(review_id)))

    @rpc
    def sign_off_access_review(self, review_id, payload):
        data = load(s.DecisionRequest(), payload)
        with self.db.transaction() as uow:
            return once(uow, "sign_off_access_review", [str(review_id), payload],
                        lambda: s.Review().dump(access.sign_off_review(
                            uow, self._actor(), str(review_id), data["note"])))

    # -- machine clients --------------------------------------------------------------------

    @rpc
    def register_client(self, payload):
        data = load(s.ClientCreate(), payload)
        with self.db.transaction() as uow:
            return s.Client().dump(access.register_client(uow, self.kit, self._actor(), data))

    @rpc
    def list_clients(self):
        with self.db.transaction() as uow:
            return s.Client(many=True).dump(access.list_clients(uow, self._actor()))

    @rpc
    def rotate_client_secret(self, client_id, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return s.Client().dump(access.rotate_client_secret(
                uow, self.kit, self._actor(), str(client_id), data["reason"]))

    @rpc
    def revoke_client(self, client_id, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return s.Client().dump(access.revoke_client(uow, self._actor(), str(client_id),
                                                        data["reason"]))

    @rpc
    def suspend_client(self, client_id, payload):
        """BKD suspends a client's agreement (with a reason): refused at once, until reinstated."""
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return s.Client().dump(access.suspend_client(uow, self._actor(), str(client_id),
                                                         True, data["reason"]))

    @rpc
    def reinstate_client(self, client_id, payload):
        data = load(s.ReasonRequest(), payload)
        with self.db.transaction() as uow:
            return s.Client().dump(access.suspend_client(uow, self._actor(), str(client_id),
                                                         False, data["reason"]))

    @rpc
    def client_token(self, payload):
        data = load(s.ClientTokenRequest(), payload)
        with self.db.transaction(actor_id=data["client_id"]) as uow:
            result = access.client_token(uow, self.kit, data, self._client())
        return s.TokenResponse().dump(result)
