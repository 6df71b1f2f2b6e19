"""The yearly evaluation report per layanan against a hand-computed fixture (issue 5)."""

from dataclasses import dataclass

from services.requests.usecases import evaluation

OK = {"original": True, "legible": True, "matches_record": True}


@dataclass
class Ev:
    event_type: str
    payload: dict
    recorded_at: str


def request(layanan, *steps, version=1):
    events = [Ev("RequestDrafted", {"layanan": layanan, "catalogue_version": version},
                 steps[0][1] + "T01:00:00Z" if steps else "2026-01-01T01:00:00Z")]
    for kind, day, *payload in steps:
        events.append(Ev(kind, payload[0] if payload else {}, f"{day}T03:00:00Z"))
    return events


FIXTURE = [
    # A: decided in 4 working days, 4 of them with BKD (SLA 5): approved, no breach
    request("KGB", ("RequestSubmitted", "2026-03-02"), ("VerificationStarted", "2026-03-03"),
            ("RequestVerified", "2026-03-04", {"checks": {"skp_1_tahun": OK}}),
            ("RequestApproved", "2026-03-06")),
    # B: returned once (5 days back with the employee not counted), a copy judged not original,
    #    10 working days to the decision, 7 with BKD: approved, SLA breached
    request("KGB", ("RequestSubmitted", "2026-03-09"), ("VerificationStarted", "2026-03-10"),
            ("RequestReturned", "2026-03-11", {"documents": {"skp_1_tahun": "belum ttd"}}),
            ("RequestSubmitted", "2026-03-16"), ("VerificationStarted", "2026-03-17"),
            ("RequestVerified", "2026-03-18", {"checks": {
                "sk_pangkat_terakhir": {**OK, "original": False}, "skp_1_tahun": OK}}),
            ("RequestApproved", "2026-03-23")),
    # C: returned, then withdrawn
    request("KGB", ("RequestSubmitted", "2026-03-02"), ("VerificationStarted", "2026-03-03"),
            ("RequestReturned", "2026-03-04", {"documents": {"skp_1_tahun": "buram"}}),
            ("RequestWithdrawn", "2026-03-05", {"reason": "x"})),
    # D: submitted the year before: not in 2026
    request("KGB", ("RequestSubmitted", "2025-12-30"), ("RequestWithdrawn", "2026-01-02")),
    # E: rejected after 3 working days (SLA 10)
    request("KARPEG", ("RequestSubmitted", "2026-04-01"), ("VerificationStarted", "2026-04-02"),
            ("RequestVerified", "2026-04-03", {"checks": {}}),
            ("RequestRejected", "2026-04-06", {"reason": "sudah ada KPE"})),
    # F: a draft never submitted
    request("KGB"),
]
SLA = {("KGB", 1): 5, ("KARPEG", 1): 10}


def test_the_yearly_evaluation_matches_the_hand_computed_figures():
    report = evaluation.report(FIXTURE, 2026, lambda kode, version: SLA[(kode, version)])
    assert report == [
        {"layanan": "KARPEG", "year": 2026, "volume": 1, "approved": 0, "rejected": 1,
         "withdrawn": 0, "open": 0, "approval_rate": 0.0, "rejection_rate": 1.0,
         "return_rate": 0.0, "turnaround_median_days": 3.0, "turnaround_p90_days": 3,
         "sla_breaches": 0, "most_rejected_documents": []},
        {"layanan": "KGB", "year": 2026, "volume": 3, "approved": 2, "rejected": 0,
         "withdrawn": 1, "open": 0, "approval_rate": 0.6667, "rejection_rate": 0.0,
         "return_rate": 0.6667, "turnaround_median_days": 7.0, "turnaround_p90_days": 10,
         "sla_breaches": 1, "most_rejected_documents": [
             {"document": "skp_1_tahun", "count": 2},
             {"document": "sk_pangkat_terakhir", "count": 1}]},
    ]


def test_percentiles_by_nearest_rank():
    assert evaluation.nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert evaluation.nearest_rank([5], 0.9) == 5 and evaluation.nearest_rank([], 0.9) is None
    assert evaluation.median([3, 1, 2]) == 2.0 and evaluation.median([1, 2, 3, 4]) == 2.5


def test_holidays_are_not_counted_in_the_turnaround():
    holiday = frozenset({evaluation.date(2026, 3, 3)})  # the Tuesday of request A
    report = evaluation.report(FIXTURE[:1], 2026, lambda kode, version: 5, holiday)
    assert report[0]["turnaround_median_days"] == 3.0  # Wed, Thu, Fri
