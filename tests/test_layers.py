"""The package's shape holds: imports point down the layers, and the store stands alone."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import PUBLICATION, REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the package found first under ``root``."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"),
                           "--no-cache"], cwd=root, env={"PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=120)


def test_every_import_contract_is_kept() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def lint_with_import(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """import-linter on a copy of the package where ``module`` gains ``line``."""
    shutil.copytree(REPO / "newsletter", tmp_path / "newsletter",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    path = tmp_path / "newsletter" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    return lint_imports(tmp_path)


def test_an_import_up_the_layers_is_caught(tmp_path: Path) -> None:
    # The check is only worth having if it fails: the store reaching up for the renderer.
    result = lint_with_import(tmp_path, "store/ledger.py", "from newsletter.email import render")
    assert result.returncode == 1
    assert "The store stands alone" in result.stdout and "BROKEN" in result.stdout
    assert "newsletter.store.ledger -> newsletter.email.render" in result.stdout


def test_a_cycle_between_commands_is_caught(tmp_path: Path) -> None:
    result = lint_with_import(tmp_path, "cli/common.py", "from newsletter.cli import content")
    assert result.returncode == 1 and "Commands share only cli.common BROKEN" in result.stdout


def test_a_type_only_import_counts(tmp_path: Path) -> None:
    # A circle is one even when its way back is only for the type checker (issue 19):
    # the Service's own module naming the app that imports it.
    line = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from newsletter.web.app import create_app")
    result = lint_with_import(tmp_path, "web/service.py", line)
    assert result.returncode == 1
    assert "No import cycles between sibling modules anywhere in the package BROKEN" \
        in result.stdout


def test_nothing_below_the_root_imports_from_it() -> None:
    # The root names the whole public API (the API, the send, the store's types): a module
    # that took a name from it would depend on all of that. `from newsletter import look`
    # names a module of its own, and is fine.
    package = REPO / "newsletter"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                found += [f"{path}: import newsletter" for alias in node.names
                          if alias.name == "newsletter"]
            elif isinstance(node, ast.ImportFrom) and node.module == "newsletter":
                found += [f"{path}: {alias.name}" for alias in node.names
                          if not (package / alias.name).is_dir()
                          and not (package / f"{alias.name}.py").is_file()]
    assert found == []


HEAVY = ("jinja2", "mjml", "premailer", "cssutils", "lxml", "pydantic", "babel",
         "markdown_it", "requests", "sendgrid", "alembic")


def test_the_store_loads_without_the_renderer() -> None:
    # In a fresh interpreter, as a small web service would start.
    code = ("import sys, newsletter.store.db, newsletter.store.subscribers, "
            "newsletter.store.ledger\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    assert "sqlalchemy" in loaded  # the check sees what was imported
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
    assert [m for m in loaded if m.startswith(("newsletter.email", "newsletter.content",
                                               "newsletter.project", "newsletter.api"))] == []


def test_the_readers_service_loads_no_renderer() -> None:
    # It sends its confirmation emails through a transport; rendering an issue (MJML,
    # premailer, lxml) stays out of its processes.
    code = ("import sys, newsletter.web.app, newsletter.delivery.providers.registry\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    assert "starlette" in loaded and "newsletter.delivery.providers.smtp.transport" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("mjml", "premailer", "cssutils", "lxml",
                                                     "alembic")] == []
    assert [m for m in loaded if m.startswith(("newsletter.delivery.send", "newsletter.site",
                                               "newsletter.project"))] == []


def test_a_send_worker_loads_no_ledger_and_no_renderer() -> None:
    # Each worker process of `send --workers N` costs what it imports.
    # What a worker process imports: the worker, and the registry its factory names.
    code = ("import sys, newsletter.delivery.worker, newsletter.delivery.providers.registry\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    assert "newsletter.delivery.providers.sendgrid.transport" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("sqlalchemy", "alembic", "mjml",
                                                     "premailer", "cssutils", "lxml")] == []


def test_build_loads_no_network_client_and_leaves_requests_whole(tmp_path: Path) -> None:
    # `newsletter build` inlines CSS with premailer, which imports `requests` to fetch
    # remote stylesheets (never asked of it here): a stand-in keeps that tenth of the
    # command's time out, and anyone importing `requests` later gets the real package.
    shutil.copy(PUBLICATION / "newsletter.yaml", tmp_path)  # the suite's own, not the repo's
    shutil.copytree(PUBLICATION / "issues", tmp_path / "issues")
    code = ("import sys\n"
            "from newsletter.cli import main\n"
            "try:\n    main(['build', '2024-07-23'])\nexcept SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            "print('\\n'.join(sorted(sys.modules)))\n"
            "import requests, premailer\n"
            "print('real requests:', callable(requests.get))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=tmp_path).stdout
    loaded = out.split()
    assert "premailer" in loaded and "cssutils" in loaded  # the CSS was inlined
    assert [m for m in loaded if m.split(".")[0] in ("requests", "urllib3", "chardet",
                                                     "charset_normalizer", "sqlalchemy",
                                                     "sendgrid", "alembic")] == []
    assert "real requests: True" in out
    assert 'style="' in (tmp_path / "build" / "2024-07-23" / "email.html").read_text()
