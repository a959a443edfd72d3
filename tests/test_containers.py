"""The container files: the Dockerfile passes hadolint and builds from the lock, and the
compose file's services, commands and variables agree with the Procfile and the README's
configuration table. (No Docker engine runs here: these are static checks.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e_helpers import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
APP_SERVICES = ("bot", "api")


def readme_variables() -> set[str]:
    """Names in the first column of the README's configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_<>]*)`", first))
    return names


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_complain():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run(
        [hadolint, "-"],
        input="FROM python:latest\nRUN apt-get install curl\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0


def test_dockerfile_installs_from_the_lock_as_a_non_root_user():
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.M)
    assert "pip install --require-hashes -r requirements.lock" in DOCKERFILE
    assert "pip install --no-deps ." in DOCKERFILE
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'CMD ["python", "-m", "bot"]' in DOCKERFILE
    for package in ("bot", "handlers", "api", "storage"):
        assert f"COPY {package} ./{package}" in DOCKERFILE


def test_compose_services_and_commands_match_the_procfile():
    services = COMPOSE["services"]
    assert set(services) == {"bot", "api", "postgres", "redis"}
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    commands = {" ".join(services[name]["command"]) for name in APP_SERVICES}
    assert commands == set(procfile.values()) == {"python -m bot", "python -m api"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in COMPOSE["volumes"], (name, volume)  # named volumes


def test_compose_variables_are_documented_and_the_database_is_shared():
    documented = readme_variables()
    assert {"BOT_TOKEN", "LOG_FORMAT", "BOT_HTTP_PORT", "METRICS_TOKEN"} <= documented
    paths = set()
    for name in APP_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert set(env) <= documented, (name, set(env) - documented)
        # Both on the postgres service, waiting for it to be healthy; the SQLite path (the
        # source of a copy) on the shared volume.
        url = env["DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:5432/" in url, url
        assert "${POSTGRES_PASSWORD" in url  # the password comes from .env, not this file
        depends = COMPOSE["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        # The rate limits shared through the redis service, once it answers.
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), env["REDIS_URL"]
        assert depends["redis"]["condition"] == "service_healthy"
        paths.add(env["DATABASE_PATH"])
        assert "data:/data" in COMPOSE["services"][name]["volumes"]
    assert paths == {"/data/bot.sqlite3"}
    bot = COMPOSE["services"]["bot"]
    port = bot["environment"]["BOT_HTTP_PORT"]
    assert f"127.0.0.1:{port}/health" in " ".join(bot["healthcheck"]["test"])
    api = COMPOSE["services"]["api"]
    assert f"127.0.0.1:{api['environment']['API_PORT']}/health" in " ".join(
        api["healthcheck"]["test"]
    )


def test_the_table_reader_sees_the_table():
    names = readme_variables()
    assert {"DATABASE_PATH", "API_PORT", "LOG_LEVEL"} <= names
    assert "NOT_A_SETTING" not in names
