"""docker-compose.yml: accepted by `docker compose config`, and shaped as docs/deploy.md says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.timeout(60)
def test_docker_compose_config_accepts_the_file(tmp_path):
    if not _compose_available():
        pytest.skip("`docker compose` (the Compose v2 plugin) is not installed here")
    out = subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            str(REPO / ".env.example"),
            "-f",
            str(REPO / "docker-compose.yml"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr


def test_compose_services_follow_the_deployment_plan():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "postgres", "migrate", "leaderboard", "flower"} <= set(services)
    assert services["migrate"]["command"] == ["skipbench", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["leaderboard"]["command"][:4] == ["skipbench", "leaderboard", "--port", "8501"]
    workers = {
        name: s
        for name, s in services.items()
        if name.startswith("worker-gpu") and not name.startswith("worker-gpus")
    }
    assert len(workers) >= 2
    reserved = []
    for svc in workers.values():
        assert svc["command"][:2] == ["skipbench", "worker"]
        assert svc["environment"]["CUDA_VISIBLE_DEVICES"] == "0"  # the one GPU the container sees
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"] and len(device["device_ids"]) == 1
        reserved.append(device["device_ids"][0])
        assert "SKIPBENCH_DATABASE_URL" in svc["environment"]
    assert len(set(reserved)) == len(reserved), "two workers reserve the same GPU"


def test_leaderboard_gets_a_read_only_role_and_not_the_full_password():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    board = services["leaderboard"]
    assert "env_file" not in board  # .env holds POSTGRES_PASSWORD
    urls = {
        board["environment"][k]
        for k in ("SKIPBENCH_DATABASE_URL", "SKIPBENCH_LEADERBOARD_DATABASE_URL")
    }
    (url,) = urls
    assert url.startswith("postgresql+psycopg://${LEADERBOARD_DB_USER")
    assert "POSTGRES_PASSWORD" not in url
    mounts = services["postgres"]["volumes"]
    init = [m for m in mounts if "/docker-entrypoint-initdb.d/" in m]
    assert init and all((REPO / m.split(":")[0]).is_file() for m in mounts if m.startswith("./"))


def test_env_example_names_settings_that_exist():
    from skipbench.settings import Settings

    fields = set(Settings.model_fields)
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.lstrip("# ").strip()
        if line.startswith("SKIPBENCH_") and "=" in line:
            name = line.split("=", 1)[0].removeprefix("SKIPBENCH_").lower()
            assert name in fields, f".env.example names unknown setting {line.split('=')[0]}"


def test_dockerfile_copies_every_package_that_pip_installs():
    """``pip install .`` in the image installs what was copied: each package pyproject names
    (the CLI is the top-level ``cli`` package) must be there, and every copied path must exist."""
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*.") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copies = [
        line.split()[1:]
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    sources = {src for *srcs, _dest in copies for src in srcs}
    assert packages <= sources, f"Dockerfile does not copy {sorted(packages - sources)}"
    missing = [src for src in sources if not (REPO / src).exists()]
    assert not missing, f"Dockerfile copies paths that do not exist: {missing}"


def test_compose_sets_only_settings_that_exist():
    from skipbench.settings import Settings

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    fields = set(Settings.model_fields)
    for name, svc in compose["services"].items():
        for key in svc.get("environment") or {}:
            if key.startswith("SKIPBENCH_"):
                setting = key.removeprefix("SKIPBENCH_").lower()
                assert setting in fields, f"{name} sets unknown setting {key}"


def test_compose_group_worker_owns_two_gpus_and_one_group_of_them():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = compose["services"]["worker-gpus2-3"]
    assert svc["command"] == ["skipbench", "worker", "--gpu-groups", "0+1"]
    assert svc["environment"]["CUDA_VISIBLE_DEVICES"] == "0,1"  # the two GPUs it reserves
    (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
    assert device["device_ids"] == ["2", "3"] and svc["profiles"] == ["gpu-group"]
    singles = [
        d
        for name, s in compose["services"].items()
        if name.startswith("worker-gpu") and name != "worker-gpus2-3"
        for d in s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
    ]
    assert not set(singles) & {"2", "3"}, "a GPU reserved by a single worker and the group"
