"""The risk register (docs/risk-register.md) names, for every control, the test that proves it.
A test renamed, moved or deleted would leave a control proved by nothing: each reference must
name an existing test file and, after `::`, a test function defined in it. Every risk names at
least one test, a likelihood, an impact and an owner."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTER = ROOT / "docs" / "risk-register.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")
ROW = re.compile(r"^\|\s*(R-\d+)\s*\|")
LEVELS = {"H", "M", "L"}
OWNERS = {"BKD-SI", "Ops", "Dev", "BKD-Adm", "OPD"}


def _rows() -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in REGISTER.read_text(encoding="utf-8").splitlines() if ROW.match(line)]


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")}


def test_every_risk_is_rated_owned_and_proved_by_a_test():
    rows = _rows()
    assert len(rows) >= 20, "the register lost its rows"
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), f"a risk id is used twice: {ids}"
    for row in rows:
        risk, _threat, likelihood, impact, _controls, proved_by, owner = row
        assert likelihood in LEVELS and impact in LEVELS, f"{risk}: rate it H, M or L"
        assert {o.strip() for o in owner.split(",")} <= OWNERS, f"{risk}: unknown owner {owner}"
        assert REFERENCE.search(proved_by), f"{risk} names no test that proves its control"


def test_every_test_the_register_names_exists():
    missing = []
    for row in _rows():
        for file, function in REFERENCE.findall(row[5]):
            path = ROOT / file
            if not path.is_file():
                missing.append(f"{row[0]}: {file}")
            elif function and function not in _test_functions(path):
                missing.append(f"{row[0]}: {file}::{function}")
    assert not missing, "the risk register names tests that do not exist:\n" + "\n".join(missing)
