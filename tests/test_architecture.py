"""Imports go down the architecture table: solvers know nothing of networks or estimators."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "skgn"
# Each module may import only the skgn modules listed (the layers below it).
ALLOWED = {
    "_validation": set(),
    "_parallel": set(),
    "_operators": set(),
    "_sketching": {"_parallel", "_validation"},
    "_preconditioners": {"_operators", "_parallel", "_sketching"},
    "_solvers": {"_operators", "_preconditioners"},
    "_network": {"_operators", "_parallel"},
    "_sparse": {"_network", "_operators"},
    "_lowrank": {"_parallel"},
    "_deep": {"_network", "_operators", "_lowrank"},
    "_dask": {"_network", "_parallel"},
    "_losses": set(),
    "_kernels": {"_validation"},
    "_monitor": set(),
    "_cost_model": set(),
    "_selection": {"_kernels", "_parallel"},
    "_fit_state": set(),
    "_features": set(),
    "_gauss_newton": {"_losses", "_operators", "_preconditioners", "_solvers"},
    "_estimators": {
        "_cost_model", "_dask", "_features", "_fit_state", "_gauss_newton", "_losses", "_monitor", "_network", "_parallel",
        "_selection", "_sparse", "_deep",
        "_preconditioners", "_sketching", "_solvers", "_validation",
    },
    "_classifier": {"_estimators", "_losses", "_monitor", "_validation"},
    "_demo": {"_estimators"},
}


def _skgn_imports(path):
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("skgn.")}
    return found


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_import_direction(module):
    assert _skgn_imports(PACKAGE / f"{module}.py") <= ALLOWED[module]


def test_every_module_is_covered():
    modules = {p.stem for p in PACKAGE.glob("_*.py")} - {"__init__", "__main__"}
    assert modules == set(ALLOWED)


def test_no_private_sklearn_imports():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
                parts = node.module.split(".") + [a.name for a in node.names]
                assert not any(p.startswith("_") for p in parts), (path.name, node.module)
