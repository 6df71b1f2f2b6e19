"""Nameko entrypoints of the sync service: regions' signed pushes and reads (through the gateway,
which does not know the keys), administrators' onboarding, keys, status and quarantine decisions,
and the timers that apply what arrived and watch for gaps and silence. The work is in
usecases/; the protocol in docs/design/sync.md."""

from __future__ import annotations

import eventlet
from nameko.timer import timer

from services.sync.dependencies import SyncSettings, region_batches
from services.sync.events import REGISTRY
from services.sync.usecases import (
    SYSTEM,
    applying,
    berita_acara,
    decisions,
    monitoring,
    quarantine,
    receiving,
    reconciling,
    regions,
    settlement,
    snapshots,
)
from shared.auth import Principal
from shared.contracts import sync as c
from shared.db import Database
from shared.objectstore import DocumentStore
from shared.rpc import RpcProxy
from shared.schemas import load
from shared.service import ServiceBase, rpc

#: seconds between two runs of the applier and of the watch (gaps, silence)
TICK = 1.0
#: seconds between two looks for a reconciliation being applied: a cheap query on a small
#: table, so an administrator's apply starts within a quarter of a second
SETTLE_TICK = 0.25
#: regions one applier run applies side by side (each its own chunk and records call)
REGIONS_AT_ONCE = 4


class SyncService(ServiceBase):
    """Feeds from the 38 kabupaten/kota and the yearly reconciliation."""

    name = "sync"
    db = Database(REGISTRY)
    settings = SyncSettings()
    records = RpcProxy("records")
    signing = RpcProxy("signing", signs={"issue_document"})
    documents = DocumentStore()

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    # -- a region's signed requests (the gateway hands them over as they came) ---------------

    @rpc
    def receive_batch(self, region, payload):
        """A region's signed batch: checked, every event logged with its raw payload and queued
        in one transaction; answered per event without waiting for records."""
        request = load(c.SignedRequest(), payload)
        with self.db.transaction(reason="batch daerah") as uow:
            return c.BatchAnswer().dump(receiving.receive(uow, self.settings, str(region),
                                                          request))

    @region_batches
    def receive_published_batch(self, delivered):
        """A batch a region published on its own exchange (the AMQP push): the same checks and
        recording as `receive_batch`, committed before the ack; refusals dead-lettered into the
        region's log."""
        receiving.receive_message(self.db, self.settings, delivered)

    @rpc
    def signed_status(self, region, payload):
        """The region's own feed status, for its signed read."""
        request = load(c.SignedRequest(), payload)
        with self.db.transaction() as uow:
            receiving.authenticate(uow, self.settings, str(region), request)
            return c.RegionStatus().dump(monitoring.status(uow, str(region)))

    @rpc
    def signed_quarantine(self, region, payload):
        """The region's quarantined events with records' reasons, for its signed read."""
        request = load(c.SignedRequest(), payload)
        with self.db.transaction() as uow:
            receiving.authenticate(uow, self.settings, str(region), request)
            return c.QuarantineEntry(many=True).dump(quarantine.listing(uow, str(region), 1000))

    @rpc
    def signed_corrections(self, region, reconciliation_id, payload):
        """The differences BKD asks the region to correct, for its signed read."""
        request = load(c.SignedRequest(), payload)
        with self.db.transaction() as uow:
            receiving.authenticate(uow, self.settings, str(region), request)
            return c.CorrectionAsked(many=True).dump(
                decisions.corrections(uow, str(region), reconciliation_id))

    @rpc
    def permit_snapshot(self, region, payload):
        """Before the gateway reads a snapshot's body: signed, fresh, snapshot id unused."""
        request = load(c.SignedRequest(), payload)
        with self.db.transaction() as uow:
            return c.SnapshotPermit().dump(snapshots.permit(uow, self.settings, str(region),
                                                            request))

    @rpc
    def receive_snapshot(self, region, payload, upload):
        """A snapshot the gateway streamed into the object store, recorded for the loader."""
        request = load(c.SignedRequest(), payload)
        stored = load(c.SnapshotUpload(), upload)
        with self.db.transaction(reason="snapshot daerah") as uow:
            return c.Snapshot().dump(snapshots.receive(uow, self.settings, str(region),
                                                       request, stored))

    @rpc
    def signed_snapshot(self, region, snapshot_id, payload):
        request = load(c.SignedRequest(), payload)
        with self.db.transaction() as uow:
            return c.Snapshot().dump(snapshots.signed_get(uow, self.settings, str(region),
                                                          str(snapshot_id), request))

    @rpc
    def signed_reconciliation(self, region, reconciliation_id, payload):
        request = load(c.SignedRequest(), payload)
        with self.db.transaction() as uow:
            return c.Reconciliation().dump(reconciling.signed_get(
                uow, self.settings, str(region), reconciliation_id, request))

    @rpc
    def signed_differences(self, region, reconciliation_id, payload, query=None):
        request = load(c.SignedRequest(), payload)
        data = load(c.DifferenceQuery(), query or {})
        with self.db.transaction() as uow:
            return c.DifferencePage().dump(reconciling.signed_differences(
                uow, self.settings, str(region), reconciliation_id, request, data))

    # -- administrators -------------------------------------------------------------------------

    @rpc
    def list_snapshots(self, region):
        with self.db.transaction() as uow:
            return c.Snapshot(many=True).dump(snapshots.listing(uow, self._actor(), str(region)))

    @rpc
    def start_reconciliation(self, region, payload):
        data = load(c.ReconciliationStart(), payload)
        with self.db.transaction(reason=f"rekonsiliasi {data['year']}") as uow:
            return c.Reconciliation().dump(reconciling.start(uow, self._actor(), str(region),
                                                             data))

    @rpc
    def list_reconciliations(self, region):
        with self.db.transaction() as uow:
            return c.Reconciliation(many=True).dump(reconciling.listing(uow, self._actor(),
                                                                        str(region)))

    @rpc
    def get_reconciliation(self, region, reconciliation_id):
        with self.db.transaction() as uow:
            return c.Reconciliation().dump(reconciling.for_administrator(
                uow, self._actor(), str(region), reconciliation_id))

    @rpc
    def list_differences(self, region, reconciliation_id, query=None):
        data = load(c.DifferenceQuery(), query or {})
        with self.db.transaction() as uow:
            return c.DifferencePage().dump(reconciling.for_administrator_differences(
                uow, self._actor(), str(region), reconciliation_id, data))

    @rpc
    def onboard_region(self, payload):
        data = load(c.RegionOnboard(), payload)
        with self.db.transaction(reason=data["reason"]) as uow:
            return c.KeySecret().dump(regions.onboard(uow, self._actor(), self.settings, data))

    @rpc
    def add_region_key(self, region, payload):
        data = load(c.ReasonRequest(), payload)
        with self.db.transaction(reason=data["reason"]) as uow:
            return c.KeySecret().dump(regions.add_key(uow, self._actor(), self.settings,
                                                      str(region), data["reason"]))

    @rpc
    def retire_region_key(self, region, key_id, payload):
        data = load(c.ReasonRequest(), payload)
        with self.db.transaction(reason=data["reason"]) as uow:
            return c.RegionKey().dump(regions.retire_key(uow, self._actor(), str(region),
                                                         str(key_id), data["reason"]))

    @rpc
    def list_region_keys(self, region):
        with self.db.transaction() as uow:
            return c.RegionKey(many=True).dump(regions.keys(uow, self._actor(), str(region)))

    @rpc
    def list_regions(self):
        """Every onboarded region's feed status (administrators, auditors)."""
        with self.db.transaction() as uow:
            return c.RegionStatus(many=True).dump(monitoring.listing(uow, self._actor()))

    @rpc
    def get_region(self, region):
        with self.db.transaction() as uow:
            return c.RegionStatus().dump(monitoring.for_administrator(uow, self._actor(),
                                                                      str(region)))

    @rpc
    def list_quarantine(self, region, payload=None):
        query = load(c.QuarantineQuery(), payload or {})
        with self.db.transaction() as uow:
            return c.QuarantineEntry(many=True).dump(
                quarantine.for_administrator(uow, self._actor(), str(region), query["limit"]))

    @rpc
    def skip_quarantined(self, region, sequence, payload):
        data = load(c.ReasonRequest(), payload)
        with self.db.transaction(reason=data["reason"]) as uow:
            return c.QuarantineDecision().dump(quarantine.skip(
                uow, self._actor(), str(region), c.sequence_of(sequence), data["reason"]))

    @rpc
    def retry_quarantined(self, region, sequence, payload):
        data = load(c.ReasonRequest(), payload)
        with self.db.transaction(reason=data["reason"]) as uow:
            return c.QuarantineDecision().dump(quarantine.retry(
                uow, self._actor(), str(region), c.sequence_of(sequence), data["reason"]))

    # -- a reconciliation's decisions, applying them, the berita acara ---------------------------

    @rpc
    def record_decisions(self, region, reconciliation_id, payload):
        request = load(c.DecisionsRequest(), payload)
        with self.db.transaction(reason="keputusan rekonsiliasi") as uow:
            return c.DecisionsAnswer().dump(decisions.record(
                uow, self._actor(), str(region), reconciliation_id, request))

    @rpc
    def list_decisions(self, region, reconciliation_id, payload=None):
        query = load(c.DecidedDifferenceQuery(), payload or {})
        with self.db.transaction() as uow:
            return c.DecidedDifference(many=True).dump(decisions.listing(
                uow, self._actor(), str(region), reconciliation_id, query))

    @rpc
    def apply_decisions(self, region, reconciliation_id):
        """Status applying; the timer applies the take_region decisions (usecases/settlement)."""
        with self.db.transaction(reason="terapkan keputusan rekonsiliasi") as uow:
            return c.ReconciliationState().dump(settlement.start(
                uow, self._actor(), str(region), reconciliation_id))

    @rpc
    def produce_berita_acara(self, region, reconciliation_id, payload):
        """The meeting's berita acara, signed by signing; the reconciliation closed."""
        data = load(c.BeritaAcaraRequest(), payload)
        return c.ReconciliationState().dump(berita_acara.produce(
            self.db, self.signing, self._actor(), str(region), reconciliation_id, data))

    # -- the worker -------------------------------------------------------------------------------

    @timer(interval=TICK)
    def apply_due(self):
        """What arrived, applied to records in sequence order per region (usecases/applying)."""
        self.context.update(SYSTEM)
        applying.tick(self.db, self.records, self.settings,
                      eventlet.GreenPool(REGIONS_AT_ONCE).imap)

    @timer(interval=SETTLE_TICK)
    def apply_reconciliations(self):
        """take_region decisions applied to records, resumable (usecases/settlement)."""
        self.context.update(SYSTEM)
        settlement.tick(self.db, self.records, self.settings)

    @timer(interval=TICK)
    def load_snapshots(self):
        """Snapshots received, loaded row by row into snapshot_rows (usecases/snapshots)."""
        self.context.update(SYSTEM)
        snapshots.load_next(self.db, self.documents, self.settings)

    @timer(interval=TICK)
    def report_reconciliations(self):
        """Reconciliations started, compared and reported (usecases/reconciling)."""
        self.context.update(SYSTEM)
        reconciling.run_next(self.db, self.records, self.settings)

    @timer(interval=TICK)
    def watch_regions(self):
        """Gaps open too long reported, silent regions flagged."""
        self.context.update(SYSTEM)
        monitoring.watch(self.db, self.settings)
