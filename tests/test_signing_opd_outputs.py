"""A fasilitator's OPD's signed outputs (issue 20 part 4), enforced in the signing service: the
list holds their OPDs' signed documents only (newest first, paged, filtered by OPD, employee or
kind), never a confidential one; they read and download one of their OPD's, another OPD's
fasilitator gets not found; the download is logged like every other."""

import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.signing.service import SigningService
from shared.errors import Forbidden, NotFound
from tests.helpers import signed
from tests.records_helpers import ADMIN, FASIL, OTHER_FASIL, new_person, principal

pytestmark = pytest.mark.timeout(180)

SYSTEM = principal("service:uji", ["system"])


@pytest.fixture
def call(container_factory, service_config):
    for service in (RecordsService, SigningService):
        container_factory(service, service_config).start()

    def proxy(context, service="signing"):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    return proxy


def employee(call, opd_id: str) -> str:
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    person["opd_id"] = opd_id
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    return nip


def issue(call, nip, key="KARPEG", confidential=False) -> dict:
    with call(SYSTEM) as signing:
        return signing.issue_document({
            "subject": f"case:{uuid.uuid4()}", "document_key": key, "signer": "admin.bkd",
            "nip": nip, "confidential": confidential})


def test_a_fasilitator_lists_and_downloads_only_their_opds_signed_outputs(call):
    own, other = employee(call, "dkp"), employee(call, "dindik")
    first, second = issue(call, own), issue(call, own, key="IZIN_BELAJAR")
    secret = issue(call, own, confidential=True)
    elsewhere = issue(call, other)
    assert {first["opd_id"], second["opd_id"], elsewhere["opd_id"]} == {"dkp", "dindik"}

    with call(FASIL) as fasilitator:
        listed = [d["document_id"] for d in fasilitator.opd_documents({"nip": own})]
        assert listed == [second["document_id"], first["document_id"]]  # newest first
        page = fasilitator.opd_documents({"nip": own, "limit": 1, "offset": 1})
        assert [d["document_id"] for d in page] == [first["document_id"]]
        kinds = fasilitator.opd_documents({"nip": own,
                                           "document_type": first["document_type"]})
        assert [d["document_id"] for d in kinds] == [first["document_id"]]
        assert fasilitator.opd_documents({"opd_id": "dindik"}) == []  # not in their scope
        assert fasilitator.get_document(first["document_id"])["number"] == first["number"]
        download = fasilitator.authorize_download(first["document_id"])
        assert download["sha256"] == first["sha256"]
        for hidden in (secret, elsewhere):
            with pytest.raises(NotFound):
                fasilitator.get_document(hidden["document_id"])
            with pytest.raises(NotFound):
                fasilitator.authorize_download(hidden["document_id"])
    with call(OTHER_FASIL) as stranger:
        assert first["document_id"] not in {
            d["document_id"] for d in stranger.opd_documents({})}
        assert elsewhere["document_id"] in {
            d["document_id"] for d in stranger.opd_documents({"nip": other})}
        with pytest.raises(NotFound):
            stranger.authorize_download(first["document_id"])
    with call(principal(own, ["pegawai"])) as pegawai:
        with pytest.raises(Forbidden):
            pegawai.opd_documents({})
