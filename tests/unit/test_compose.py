"""docker-compose.yml and the Dockerfile, read as data (no Docker engine needed): every command
exists in the package, every variable is a real setting, the services start in the right order,
only the APIs publish ports, and no secret is written down."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import sys
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from rq.cli.cli import main as rq_main
from rq.worker import BaseWorker

from services import cli
from services.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if "build" in s}  # the services run from our image
APPS = ("ingest", "api", "projector")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, so that anchors merge"
    return {k: str(v) for k, v in env.items()}


def resolved(value: str) -> str:
    """A value as compose would make it: defaults applied, required variables given a sample."""
    return INTERPOLATION.sub(
        lambda m: m.group(3) if m.group(2) == "-" else f"sample-{m.group(1).lower()}", value
    )


def command_words(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    words = command if isinstance(command, list) else shlex.split(command)
    words = [str(w).replace("$$", "$") for w in words]  # compose's escape for a literal $
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2])
        if words[0] == "exec":
            words = words[1:]
    return [str(w) for w in words]


def test_the_stack_has_its_services() -> None:
    assert {"postgres", "redis", "migrate", "ingest", "api", "projector", "rq-dashboard"} <= set(SERVICES)
    assert set(OURS) == {"migrate", "ingest", "api", "projector"}
    assert {s["build"] for s in OURS.values()} == {"."} and len({s["image"] for s in OURS.values()}) == 1
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("name", ["migrate", "ingest", "api"])
def test_frontline_commands_exist_with_their_options(name: str) -> None:
    program, subcommand, *arguments = command_words(SERVICES[name])
    assert program == "frontline"
    group: Any = typer.main.get_command(cli.app)
    assert subcommand in group.commands, f"frontline has no {subcommand!r} command"
    group.commands[subcommand].make_context(subcommand, list(arguments))  # raises on an unknown option


def test_the_projector_runs_the_stock_rq_worker_with_the_projector_class() -> None:
    service = SERVICES["projector"]
    program, subcommand, *arguments = command_words(service)
    assert (program, subcommand) == ("rq", "worker")
    assert (Path(sys.executable).parent / "rq").exists(), "the rq command comes with the rq package"
    context = rq_main.commands["worker"].make_context("worker", list(arguments))
    worker_class = importable(context.params["worker_class"])
    assert issubclass(worker_class, BaseWorker)
    assert worker_class.__module__ == "services.projector.worker"
    assert context.params["serializer"] == "rq.serializers.JSONSerializer"
    importable(context.params["serializer"])
    env = environment(service)
    for variable in re.findall(r"\$(\w+)", " ".join(arguments)):
        assert variable in env, f"the command uses ${variable}, which the service does not set"
    assert context.params["queues"] == ("$QUEUE_NAME",)


def importable(dotted: str) -> Any:
    module, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("name", ["migrate", "ingest", "api", "projector"])
def test_every_variable_is_a_setting_and_the_settings_validate(name: str) -> None:
    env = environment(SERVICES[name])
    fields = {f.upper() for f in Settings.model_fields}
    assert set(env) <= fields, f"not settings: {sorted(set(env) - fields)}"
    Settings(_env_file=None, **{k.lower(): resolved(v) for k, v in env.items()})  # type: ignore[call-arg]


def test_the_services_start_in_order() -> None:
    def needs(name: str) -> dict[str, str]:
        return {d: c["condition"] for d, c in SERVICES[name].get("depends_on", {}).items()}

    assert needs("migrate") == {"postgres": "service_healthy"}
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert any(v.endswith("/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])
    for app in APPS:
        assert needs(app)["migrate"] == "service_completed_successfully", app
        assert "redis" in needs(app), app
    order = list(TopologicalSorter({name: set(needs(name)) for name in SERVICES}).static_order())
    assert order.index("postgres") < order.index("migrate") < min(order.index(a) for a in APPS)
    assert SERVICES["migrate"]["restart"] == "no"  # one shot: restarted, it would run forever


def test_only_the_two_apis_publish_ports() -> None:
    published = {
        name: [resolved(p) for p in s["ports"]]
        for name, s in SERVICES.items()
        if s.get("ports") and not s.get("profiles")
    }
    # On loopback unless FRONTLINE_PUBLISH_ADDRESS says otherwise: the keys travel in clear HTTP,
    # so another interface is for a deployment that puts TLS in front.
    assert published == {"ingest": ["127.0.0.1:8001:8001"], "api": ["127.0.0.1:8000:8000"]}
    assert (
        environment(SERVICES["ingest"])["PORT"] == "8001" and environment(SERVICES["api"])["PORT"] == "8000"
    )
    for name, service in SERVICES.items():
        if service.get("profiles"):  # optional tools listen on loopback only
            assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", [])), name
    assert SERVICES["rq-dashboard"]["profiles"] == ["dashboard"]


def test_the_projector_scales_and_outlasts_its_jobs() -> None:
    projector = SERVICES["projector"]
    assert projector["restart"] == "unless-stopped"
    assert "container_name" not in projector and "ports" not in projector  # --scale projector=N
    grace = re.fullmatch(r"(\d+)(s|m)", projector["stop_grace_period"])
    assert grace is not None
    seconds = int(grace.group(1)) * (60 if grace.group(2) == "m" else 1)
    timeout = int(environment(projector).get("JOB_TIMEOUT", Settings.model_fields["job_timeout"].default))
    assert seconds > timeout


def test_the_services_connect_as_their_own_role() -> None:
    migrate, postgres = environment(SERVICES["migrate"]), environment(SERVICES["postgres"])
    role = migrate["DATABASE_APP_ROLE"]
    assert migrate["DATABASE_URL"].startswith(f"postgresql://{postgres['POSTGRES_USER']}:")
    for app in APPS:
        assert environment(SERVICES[app])["DATABASE_URL"].startswith(f"postgresql://{role}:"), app
    init = (ROOT / "deploy" / "postgres-init" / "10-app-role.sh").read_text()
    assert f"CREATE ROLE {role} LOGIN" in init


def test_no_secret_is_written_down() -> None:
    for name, service in SERVICES.items():
        for variable, value in environment(service).items():
            if re.search(r"KEYS|PASSWORD", variable):
                assert value.startswith("${") or value == "", (name, variable)
            if "://" in value and "@" in value:  # a URL with credentials: the password interpolated
                assert re.search(r"://\w+:\$\{\w+:\?[^}]*\}@", value), (name, variable)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"(?im)^\s*(ENV|ARG)\b.*(KEY|PASSWORD|SECRET|DATABASE_URL)", dockerfile)
    assert re.search(r"(?m)^USER (?!root)", dockerfile), "the services do not run as root"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "var/", ".git"} <= set(ignored)


def docker_host() -> Any:
    """deploy/docker_host.py, which `make compose-smoke` runs as a script's neighbour."""
    spec = importlib.util.spec_from_file_location("docker_host", ROOT / "deploy" / "docker_host.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_base_image_has_a_stand_in_recipe() -> None:
    """`make compose-smoke` builds a stand-in for each image where no registry answers."""
    pulled = {s["image"] for s in SERVICES.values() if "build" not in s and not s.get("profiles")}
    base = re.findall(r"(?m)^FROM (\S+)", (ROOT / "Dockerfile").read_text())
    recipes = docker_host().STANDIN_RECIPES
    assert pulled | set(base) == set(recipes)
    for image, recipe in recipes.items():
        dockerfile = (ROOT / "deploy" / "standins" / recipe / "Dockerfile").read_text()
        assert f"STAND-IN for {image}" in dockerfile


def test_the_postgres_stand_in_reads_what_the_compose_file_sets() -> None:
    entrypoint = (ROOT / "deploy" / "standins" / "postgres" / "docker-entrypoint.sh").read_text()
    official = {v for v in environment(SERVICES["postgres"]) if v.startswith("POSTGRES_")}
    assert official == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    assert all(f"${{{v}" in entrypoint or f"${v}" in entrypoint for v in official)
    init_dir = next(v.split(":")[1] for v in SERVICES["postgres"]["volumes"] if "initdb" in v)
    assert init_dir in entrypoint
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])


def test_the_dependency_layer_depends_on_pyproject_alone() -> None:
    """Editing anything but pyproject.toml (the README included) must not reinstall every dependency."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = re.findall(r"(?m)^COPY (.+?) \S+$", dockerfile)
    assert copies[0] == "pyproject.toml"
    first_install = dockerfile.index("pip', 'install', *deps")
    assert dockerfile.index("COPY", dockerfile.index("COPY pyproject.toml") + 1) > first_install
