"""One shape for every service (issue 13, part 6): what a module may import is checked here, so
the next service built on the foundation cannot drift from it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/domain.py"))
#: infrastructure a domain module must not pull in, directly or through what it imports
INFRASTRUCTURE = ("nameko", "eventlet", "kombu", "amqp", "pika", "psycopg2", "sqlalchemy",
                  "marshmallow", "boto3", "botocore", "pyhanko")


@pytest.mark.parametrize("service", SERVICES)
def test_domain_module_imports_no_infrastructure(service):
    probe = (
        "import importlib, sys, json\n"
        f"importlib.import_module('services.{service}.domain')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    loaded = set(__import__("json").loads(out))
    assert not loaded & set(INFRASTRUCTURE), (
        f"services/{service}/domain.py pulls in {sorted(loaded & set(INFRASTRUCTURE))}")


def test_the_service_map_is_what_the_code_says():
    """services/README.md is written from the registries and entrypoints; stale means someone
    added an event, RPC or consumer without `make servicemap`."""
    result = subprocess.run([sys.executable, "scripts/servicemap.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, statically or through importlib with a literal name."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module"
              and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))):
            found.add(ast.unparse(node.args[0]).strip("f'\""))
    return found


def test_shared_imports_no_service():
    """The shared library does not know its users: what it needs of a service is handed to it
    by a composition root (services/registry.py through the simasn command or a container)."""
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in _imports(path)
                                                      if m.split(".")[0] == "services")
                 for path in (ROOT / "shared").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_every_service_is_registered_by_hand():
    from services import registry
    from shared import SERVICES as NAMES

    assert set(registry.EVENT_REGISTRIES) == set(NAMES)
    assert set(registry.service_classes()) == set(NAMES)
    for name, cls in registry.service_classes().items():
        assert cls.name == name
        assert registry.EVENT_REGISTRIES[name].service == name


SQL = __import__("re").compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|ON\s+CONFLICT)\b",
    __import__("re").I | __import__("re").S)
#: services that are skeletons until their issues give them use cases (none left: sync had
#: issue 14, reporting issue 15)
SKELETONS: set[str] = set()


def _tree(path: Path):
    import ast

    return ast.parse(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("service", sorted(p.parent.name for p in
                                           (ROOT / "services").glob("*/service.py")))
def test_service_py_holds_entrypoints_only(service):
    """No SQL and no dependency provider in a service.py: its entrypoints validate, open one
    unit of work and call one use case (usecases/); providers live in dependencies.py."""
    import ast

    tree = _tree(ROOT / "services" / service / "service.py")
    statements = [node.value for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and SQL.search(node.value)]
    assert not statements, f"SQL in services/{service}/service.py: {statements[:2]}"
    executes = [node.lineno for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "execute"]
    assert not executes, f"services/{service}/service.py executes SQL at lines {executes}"
    providers = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                 and any(getattr(base, "id", getattr(base, "attr", "")) in
                         ("DependencyProvider", "SharedExtension") for base in node.bases)]
    assert not providers, f"providers {providers} belong in services/{service}/dependencies.py"


@pytest.mark.parametrize("service", sorted(p.parent.name for p in
                                           (ROOT / "services").glob("*/service.py")))
def test_every_service_keeps_its_use_cases_in_usecases(service):
    if service in SKELETONS:
        pytest.skip(f"{service} is a skeleton: no use case yet")
    package = ROOT / "services" / service / "usecases"
    assert (package / "__init__.py").is_file(), f"services/{service}/usecases/ is missing"
    assert _tree(package / "__init__.py").body, "usecases/__init__.py says what they are"
    assert list(package.glob("[!_]*.py")), f"services/{service}/usecases/ holds no use case"
