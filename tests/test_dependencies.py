"""Every package the code imports is declared in pyproject.toml: one installed by
chance, as another's dependency, goes the day that one stops needing it."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "newsletter"


def _imported(path: Path) -> set[str]:
    """The top-level names of the absolute imports of one module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + \
        [d for extra in project["optional-dependencies"].values() for d in extra
         if extra is not project["optional-dependencies"]["test"]]
    return {_canonical(re.split(r"[\s\[<>=;!~]", d, maxsplit=1)[0]) for d in wanted}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared() -> None:
    owners = importlib.metadata.packages_distributions()
    names = set().union(*(_imported(p) for p in PACKAGE.rglob("*.py")))
    third = sorted(n for n in names if n not in sys.stdlib_module_names and n != "newsletter")
    missing = {name: owners.get(name, ["(not installed)"]) for name in third
               if not {_canonical(d) for d in owners.get(name, [])} & _declared()}
    assert missing == {}
