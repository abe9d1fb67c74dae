"""The deployment files agree with the code: the Dockerfile's command, user, port and
health check; compose.yaml's services, secrets and proxy; and the image's command and
health check run for real against a `newsletter serve` started as the image starts it.

This machine has the Docker client but no daemon and no registry (docs/operators.md, "A
host for the readers' service"), so no image is built here: what can be run without one
is run (`docker compose config`, Caddy's own adapter, the command and the health check in
a process of their own), and the rest is read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import TOOL_ENV
from tests.helpers import REPO
from tests.test_docs_commands import resolve
from tests.web.server import SECRET, free_port

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "compose.yaml"
ENV_EXAMPLE = REPO / "docs" / "deploy" / "env.example"
NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def one(name: str) -> str:
    [value] = [rest for word, rest in instructions() if word == name]
    return value


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def command() -> list[str]:
    return exec_form(one("CMD"))


def healthcheck() -> tuple[str, list[str]]:
    options, _, form = one("HEALTHCHECK").partition("CMD ")
    return options, exec_form(form)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(COMPOSE.read_text())


def test_the_image_runs_the_service_as_the_cli_spells_it() -> None:
    argv = command()
    assert argv[:2] == ["newsletter", "serve"]
    assert resolve(argv[1:]) is None  # every option is one `serve` has
    assert option(argv, "--host") == "0.0.0.0"  # the proxy is another container
    assert one("EXPOSE") == option(argv, "--port")


def test_the_image_runs_as_a_user_of_its_own() -> None:
    words = [word for word, _ in instructions()]
    user = one("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    assert words.index("USER") < words.index("CMD")
    assert any(word == "RUN" and re.search(rf"useradd .*\b{user}$", rest)
               for word, rest in instructions())


def test_the_image_installs_what_the_workflows_install() -> None:
    workflow = (REPO / ".github" / "workflows" / "send.yml").read_text()
    [version] = set(re.findall(r'python-version: "([\d.]+)"', workflow))
    assert one("FROM") == f"python:{version}-slim"
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert "pip install --no-deps ." in runs


def test_what_the_image_copies_is_there_and_not_ignored() -> None:
    ignore = [line for line in (REPO / ".dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "*"  # everything out, then only what the image needs back in
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for word, rest in instructions():
        if word == "COPY" and rest.split()[0] != ".":
            source = rest.split()[0]
            assert (REPO / source).exists() and source in allowed, source
    for needed in ("pyproject.toml", "README.md", "requirements.lock", "newsletter",
                   "newsletter.yaml"):
        assert needed in allowed and (REPO / needed).exists(), needed
    for secret in (".env", ".git", "newsletter.sqlite3", "outbox"):
        assert secret not in allowed


def test_the_health_check_asks_the_service_on_its_port() -> None:
    options, argv = healthcheck()
    assert argv[:2] == ["python", "-c"]
    [url] = re.findall(r"'(http://[^']+)'", argv[2])
    assert url == f"http://127.0.0.1:{option(command(), '--port')}/health"
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)


def test_the_images_command_and_health_check_work_on_a_fresh_folder(tmp_path: Path) -> None:
    """The project folder as the image makes it (the repository's newsletter.yaml, given
    the readers' address it must have, and an empty outbox/), then the image's CMD and
    its HEALTHCHECK, on a free port instead of 8080: healthy while it serves, not once
    it is gone. The image copies the repository's own settings, so this test reads them
    and follows whatever publication the repository holds, ours or someone's."""
    port = free_port()
    settings = yaml.safe_load((REPO / "newsletter.yaml").read_text())
    settings["readers"] = {"service_url": f"http://127.0.0.1:{port}"}
    (tmp_path / "newsletter.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
    (tmp_path / "outbox").mkdir()
    argv = command()
    argv[argv.index("--port") + 1] = str(port)
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    env.update(NEWSLETTER_SECRET=SECRET,
               DATABASE_URL=f"sqlite:///{tmp_path / 'newsletter.sqlite3'}")
    check = healthcheck()[1]
    check = [sys.executable, "-c", check[2].replace(":8080/", f":{port}/")]
    server = subprocess.Popen([NEWSLETTER, *argv[1:]], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(check, capture_output=True).returncode != 0:
            assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the service never answered /health"
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert subprocess.run(check, capture_output=True).returncode != 0


def test_compose_runs_the_image_with_postgres_behind_the_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"newsletter", "db", "proxy"}
    service, db, proxy = services["newsletter"], services["db"], services["proxy"]
    assert service["build"] == "."
    assert re.fullmatch(r"postgresql://newsletter:\$\{POSTGRES_PASSWORD:\?[^}]+\}@db:5432/"
                        r"newsletter", service["environment"]["DATABASE_URL"])
    assert db["image"].startswith("postgres:") and db["healthcheck"]
    assert service["depends_on"]["db"]["condition"] == "service_healthy"
    # Only the proxy is reachable from outside.
    assert "ports" not in service and "ports" not in db
    assert {p.split(":")[-1].split("/")[0] for p in proxy["ports"]} == {"80", "443"}


def test_the_service_trusts_forwarded_addresses_from_the_proxy_alone() -> None:
    services = compose()["services"]
    address = services["proxy"]["networks"]["backend"]["ipv4_address"]
    assert services["newsletter"]["environment"]["FORWARDED_ALLOW_IPS"] == address
    addresses = [s["networks"]["backend"]["ipv4_address"] for s in services.values()]
    assert len(set(addresses)) == 3  # fixed, so no other container can take the proxy's
    [subnet] = compose()["networks"]["backend"]["ipam"]["config"]
    import ipaddress
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(subnet["subnet"])
               for a in addresses)


def test_secrets_come_from_an_env_file_git_never_takes() -> None:
    assert compose()["services"]["newsletter"]["env_file"] == ".env"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0
    assert "SECRET" not in COMPOSE.read_text().replace("NEWSLETTER_SECRET,", "")
    example = ENV_EXAMPLE.read_text()
    for name in set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text())):
        assert re.search(rf"^{name}=", example, re.M), name
    assert re.search(r"^NEWSLETTER_SECRET=$", example, re.M)  # never a value to copy


def test_the_proxy_configuration_is_the_mounted_one_and_names_the_service() -> None:
    proxy = compose()["services"]["proxy"]
    [mount] = [v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro")]
    caddyfile = REPO / mount.split(":")[0]
    assert caddyfile.is_file()
    upstream = f"newsletter:{option(command(), '--port')}"
    assert re.search(rf"reverse_proxy {upstream}\s*$", caddyfile.read_text(), re.M)


def _compose_client() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _needs(tool: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is missing (.ci/run installs it)")
    pytest.skip(f"{tool} is not installed")


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """The compose client itself validates the file (it needs no daemon for that), with
    the example env file filled in; without a password it refuses, naming it."""
    client = _compose_client()
    if client is None:
        _needs("docker compose (or docker-compose)")
    assert client is not None
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    shutil.copy(DOCKERFILE, tmp_path / "Dockerfile")
    (tmp_path / "docs" / "deploy").mkdir(parents=True)
    shutil.copy(REPO / "docs" / "deploy" / "compose.Caddyfile", tmp_path / "docs" / "deploy")
    filled = re.sub(r"^POSTGRES_PASSWORD=$", "POSTGRES_PASSWORD=example-only",
                    ENV_EXAMPLE.read_text(), flags=re.M)
    (tmp_path / ".env").write_text(filled)
    result = subprocess.run([*client, "config"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["services"]["proxy"]["environment"]["SITE_HOST"] == "readers.example.org"
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text())
    result = subprocess.run([*client, "config"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode != 0 and "set POSTGRES_PASSWORD in .env" in result.stderr


def test_caddy_reads_the_compose_proxy_configuration() -> None:
    """Caddy's own adapter turns the file into its configuration: the site is SITE_HOST
    from the environment, proxied to the service's container."""
    if not shutil.which("caddy"):
        _needs("caddy")
    path = REPO / "docs" / "deploy" / "compose.Caddyfile"
    result = subprocess.run(["caddy", "adapt", "--config", str(path), "--adapter",
                             "caddyfile"], capture_output=True, text=True,
                            env={**os.environ, "SITE_HOST": "readers.example.org"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    [server] = config["apps"]["http"]["servers"].values()
    [route] = server["routes"]
    assert route["match"] == [{"host": ["readers.example.org"]}]
    text = json.dumps(route)
    assert "\"dial\": \"newsletter:8080\"" in text, text
