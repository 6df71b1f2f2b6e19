"""People and records shared by the records tests (one module, so one NIP sequence per run)."""

import itertools


def principal(account_id, roles, scope=()):
    return {"actor_id": account_id, "actor_role": roles[0], "actor_roles": list(roles),
            "actor_scope": list(scope)}


ADMIN = principal("admin.bkd", ["administrator"])
FASIL = principal("fas.dkp", ["fasilitator"], ["dkp"])
OTHER_FASIL = principal("fas.dindik", ["fasilitator"], ["dindik"])
AUDITOR = principal("auditor.inspektorat", ["auditor"])


_SEQUENCE = itertools.count(1)  # each run has its own database: unique within the run


def new_person():
    nip = f"199001012015032{next(_SEQUENCE):03d}"
    return nip, {"nip": nip, "nik": "3578014101900001", "name": "Siti Rahayu",
                 "date_of_birth": "1990-01-01", "gender": "P", "status": "PNS",
                 "tmt_cpns": "2015-03-01", "opd_id": "dkp", "golongan": "III/a",
                 "education_id": "40", "catatan_kesehatan": "alergi penisilin"}
