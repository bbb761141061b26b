"""The package's shape is a contract, checked against the package itself (nothing hand-listed
but the layers): imports point down the layers, no import cycles, a framework-free core, one
exception tree, and error classes that carry their own wire code and status."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import idp
import idp.errors
from idp.aws.errors import AwsError

#: Lowest first. A module may import modules of its own layer or of a lower one, never higher.
#: A name covers that module and everything in it (``idp`` itself: only the package's
#: ``__init__``). Every module of ``idp`` must be in a layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("idp.errors", "idp.clock", "idp.xml", "idp.settings", "idp.keys",
                    "idp.store", "idp.redirects", "idp.logs", "idp.exchanges",
                    "idp.version", "idp.tls", "idp.vendors", "idp.text", "idp.hosts")),
    ("saml", ("idp.saml",)),
    ("directory", ("idp.directory",)),
    ("authn", ("idp.authn",)),
    ("aws", ("idp.aws",)),
    ("sso", ("idp.faults", "idp.fault_plan", "idp.sso", "idp.compat", "idp.oidc")),
    ("web", ("idp.web",)),
    ("entry points", ("idp", "idp.cli", "idp.__main__", "idp.simulator", "idp.client",
                      "idp.pytest_plugin")),
]
#: Third-party packages only the web layer and the entry points may import (the core returns
#: values; the test oracles never reach the package).
FRAMEWORKS = ("starlette", "uvicorn", "jinja2", "multipart", "saml2", "onelogin", "xmlsec",
              "httpx", "httpx2", "pytest")
WEB_LAYERS = ("web", "entry points")
ROOT = Path(idp.__file__).parent


def modules() -> list[str]:
    found = ["idp"] + [m.name for m in pkgutil.walk_packages(idp.__path__, "idp.")]
    return sorted(found)


def layer_of(module: str) -> int:
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "idp" and module.startswith(prefix + ".")):
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


def imported(module: str) -> Iterator[tuple[str, int]]:
    """(imported name, line) for every import in the module, lazy and TYPE_CHECKING ones too.

    ``from idp.aws import wire`` yields ``idp.aws.wire`` when that is a module, else
    ``idp.aws``.
    """
    tree = ast.parse(source_path(module).read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = node.module.startswith("idp") and _is_module(candidate)
                yield (candidate if is_module else node.module), node.lineno


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in modules():
        edges[module] = {name for name, _ in imported(module)
                         if (name == "idp" or name.startswith("idp.")) and name != module}
    return edges


def test_every_module_is_in_a_layer():
    """A new module fails here until someone decides where it belongs."""
    for module in modules():
        layer_of(module)


def test_imports_point_down_the_layers():
    """directory never imports authn, saml never imports aws, nothing imports the web layer…"""
    wrong = []
    for module in modules():
        for name, line in imported(module):
            if name != "idp" and not name.startswith("idp."):
                continue
            if layer_of(name) > layer_of(module):
                wrong.append(f"{module}:{line} imports {name} "
                             f"({LAYERS[layer_of(module)][0]} -> {LAYERS[layer_of(name)][0]})")
    assert wrong == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, if it has any (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if state.get(nxt) is None and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycle_between_modules():
    edges = internal_edges()
    # A package's __init__ re-exporting its modules is not a cycle of the code itself.
    graph = {m: {n for n in targets if not m.startswith(n + ".")} for m, targets in edges.items()}
    assert _cycle(graph) is None


def test_no_import_cycle_between_packages():
    """Subpackages form a DAG (directory <-> authn was one; password hashing moved)."""
    def package(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 2 or _is_package(module) else module

    graph: dict[str, set[str]] = {}
    for module, targets in internal_edges().items():
        source = package(module)
        graph.setdefault(source, set()).update(
            package(t) for t in targets if package(t) != source)
    assert _cycle(graph) is None


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def test_core_imports_no_framework_in_its_source():
    """Below the web layer no module names starlette, uvicorn, jinja2 or a test oracle."""
    wrong = []
    for module in modules():
        if LAYERS[layer_of(module)][0] in WEB_LAYERS:
            continue
        for name, line in imported(module):
            if name.split(".")[0] in FRAMEWORKS:
                wrong.append(f"{module}:{line} imports {name}")
    assert wrong == []


def test_core_pulls_in_no_framework_when_imported():
    """Importing every core module in a fresh interpreter loads none of the frameworks."""
    core = [m for m in modules() if LAYERS[layer_of(m)][0] not in WEB_LAYERS]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in core)
            + f"print(','.join(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _classes() -> Iterator[type]:
    for module in modules():
        if module.endswith("__main__"):  # importing it runs the CLI
            continue
        for _name, value in inspect.getmembers(importlib.import_module(module), inspect.isclass):
            if value.__module__ == module:
                yield value


def test_every_exception_is_in_the_drawn_tree():
    """One root: every exception class the package defines is an IdPError drawn in errors.py."""
    doc = idp.errors.__doc__ or ""
    strays, undrawn = [], []
    for cls in _classes():
        if not issubclass(cls, BaseException):
            continue
        if not issubclass(cls, idp.errors.IdPError):
            strays.append(f"{cls.__module__}.{cls.__name__}")
        elif f" {cls.__name__}" not in doc:
            undrawn.append(f"{cls.__module__}.{cls.__name__}")
    assert strays == [], "exceptions outside the IdPError tree"
    assert undrawn == [], "add these to the tree in idp/errors.py's docstring"


def test_errors_module_imports_nothing_from_the_protocols():
    names = {name for name, _ in imported("idp.errors")}
    assert not any(n.startswith("idp.") for n in names), names


def test_aws_errors_carry_their_wire_code_and_status():
    """Each AWS error class names its code and status; raise sites pass neither."""
    classes = [c for c in _classes() if issubclass(c, AwsError) and c is not AwsError]
    assert classes
    for cls in classes:
        assert cls.code and 400 <= cls.http_status <= 599, cls
    wrong = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                passed = {k.arg for k in node.exc.keywords} & {"code", "http_status", "sender"}
                if passed:
                    wrong.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} passes {passed}")
    assert wrong == []


def test_sts_module_is_one_concern():
    """idp.aws.sts holds the STS operations only: one class and the rule-to-error map."""
    module = importlib.import_module("idp.aws.sts")
    public = [n for n, v in inspect.getmembers(module)
              if getattr(v, "__module__", None) == module.__name__ and not n.startswith("_")]
    assert sorted(public) == ["Sts", "sts_error"]


def test_public_api_is_pinned():
    """idp exports exactly these names; the harness's load only when first used."""
    assert sorted(idp.__all__) == ["Credentials", "Login", "Settings", "Simulator",
                                   "__version__", "create_app"]
    code = ("import sys, idp; assert 'idp.simulator' not in sys.modules; "
            "from idp import Simulator, Login, Credentials; "
            "assert Simulator.__module__ == 'idp.simulator'")
    subprocess.run([sys.executable, "-c", code], check=True)
