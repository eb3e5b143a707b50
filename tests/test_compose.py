"""docker-compose.yml and the Dockerfile, checked against the code they start.

No Docker engine runs here, so the files are read and each of their parts is held against
the project: the services of the multi-machine set-up are there, the commands they run are
real ``partnersync`` commands and a real dramatiq worker module, their PARTNERSYNC_*
variables are real settings keys that reach the settings loader over the image's
settings.toml, the start-up order waits for health and for the migration, and the image
holds every file those commands read.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel, SecretStr

from sync.settings import ENV_PREFIX, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

#: The services of the set-up, and those that run partnersync code over the store.
REQUIRED = {"postgres", "redis", "sandbox", "migrate", "api", "scheduler", "worker"}
STORE_USERS = ("migrate", "api", "scheduler", "worker")
LONG_RUNNING = ("postgres", "redis", "sandbox", "api", "scheduler", "worker")
#: The partnersync subcommand each service runs.
SUBCOMMANDS = {"migrate": ["db", "upgrade"], "api": ["api"], "scheduler": ["scheduler"],
               "sandbox": ["sandbox"]}  # fmt: skip
AFTER_MIGRATION = {
    "postgres": "service_healthy",
    "redis": "service_healthy",
    "migrate": "service_completed_successfully",
}
#: The variables each store user needs for the set-up to be multi-machine at all.
NEEDED_ENV = (
    "PARTNERSYNC_STORE__URL",
    "PARTNERSYNC_QUEUE__BROKER",
    "PARTNERSYNC_QUEUE__PUSH_SHARDS",
    "PARTNERSYNC_SALESFORCE__INSTANCE_URL",
    "PARTNERSYNC_HUBSPOT__BASE_URL",
)
#: The broker the worker module is imported against (import only: nothing is sent).
TEST_BROKER = "redis://127.0.0.1:6379/15"


# -- reading the files ------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(value: str) -> str:
    """``value`` as Compose substitutes it with no variable set: ``${NAME:-default}`` is
    its default, ``$$`` a dollar. A variable with no default is an error: Compose would
    start the service with an empty value (and only warn)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        if match.group("op") in (":-", "-"):
            return match.group("arg")
        raise AssertionError(f"${{{name}}} has no default in {value!r}")

    return _VARIABLE.sub(one, value)


@functools.cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services"
    assert found, "docker-compose.yml has no services"
    return found


def service(name: str) -> dict[str, Any]:
    assert name in services(), f"docker-compose.yml has no service {name!r}"
    return services()[name]


def environment(name: str) -> dict[str, str]:
    """The service's environment as its container sees it (defaults substituted)."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, list):
        pairs = [str(item).partition("=") for item in raw]
        raw = {key: (value if sep else None) for key, sep, value in pairs}
    env: dict[str, str] = {}
    for key, value in raw.items():
        assert value is not None, f"{name}: {key} is taken from the host's environment"
        assert not isinstance(value, bool), f"{name}: {key}: quote {value!r} (Compose wants text)"
        env[str(key)] = interpolate(str(value))
    return env


@functools.cache
def instructions() -> tuple[tuple[str, str], ...]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    lines: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    found = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
    return tuple(found)


def exec_form(arguments: str) -> list[str]:
    if arguments.startswith("["):
        value = json.loads(arguments)
        assert isinstance(value, list)
        return [str(part) for part in value]
    return ["/bin/sh", "-c", arguments]


def workdir() -> PurePosixPath:
    folders = [arguments for keyword, arguments in instructions() if keyword == "WORKDIR"]
    assert folders, "the Dockerfile sets no WORKDIR"
    return PurePosixPath(folders[-1])


def dockerfile_default(keyword: str) -> list[str]:
    found = [arguments for kw, arguments in instructions() if kw == keyword]
    return exec_form(found[-1]) if found else []


def _as_list(value: str | list[Any]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def argv(name: str) -> list[str]:
    """What the service's container runs: its entrypoint (the image's unless overridden)
    and its command (the image's CMD only when the entrypoint is the image's)."""
    spec = service(name)
    if "entrypoint" in spec:
        entry = _as_list(spec["entrypoint"])
        command = _as_list(spec["command"]) if "command" in spec else []
    else:
        entry = dockerfile_default("ENTRYPOINT")
        command = _as_list(spec["command"]) if "command" in spec else dockerfile_default("CMD")
    return [*entry, *command]


def in_repo(image_path: str) -> Path:
    """The working-tree file that the image holds at ``image_path`` (under WORKDIR)."""
    path = PurePosixPath(image_path)
    if not path.is_absolute():
        path = workdir() / path
    return REPO.joinpath(*path.relative_to(workdir()).parts)


@functools.cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def image_name() -> str:
    names = {spec.get("image") for spec in services().values() if "build" in spec}
    assert len(names) == 1, f"the built services name one image between them, not {names}"
    (name,) = names
    assert isinstance(name, str), "the built service names no image to share"
    assert name, "the built service names no image to share"
    return name


def image_services() -> list[str]:
    name = image_name()
    return sorted(n for n, spec in services().items() if spec.get("image") == name)


def local_env(name: str, **overrides: str) -> dict[str, str]:
    """The service's variables for a process on this machine: the image's paths are the
    working tree's, nothing else of this process's PARTNERSYNC_* leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for key, value in {**environment(name), **overrides}.items():
        env[key] = str(in_repo(value)) if key == f"{ENV_PREFIX}SETTINGS" else value
    return env


# -- the reader itself ------------------------------------------------------------------


def test_interpolation_takes_defaults_and_refuses_unset_variables() -> None:
    assert interpolate("${A:-http://sandbox:8787}/x") == "http://sandbox:8787/x"
    assert interpolate("${A-}") == ""
    assert interpolate("a$$b") == "a$b"
    with pytest.raises(AssertionError, match="no default"):
        interpolate("${SECRET}")
    with pytest.raises(AssertionError, match="no default"):
        interpolate("x $SECRET")


# -- services ---------------------------------------------------------------------------


def test_every_service_of_the_set_up_is_there() -> None:
    assert set(services()) >= REQUIRED, f"missing: {sorted(REQUIRED - set(services()))}"


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_the_backing_services_have_healthchecks(name: str) -> None:
    check = service(name).get("healthcheck") or {}
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert test, f"{name}: no healthcheck test"
    assert test not in (["NONE"], "NONE"), f"{name}: healthcheck disabled"


def test_one_image_is_built_and_shared_by_every_partnersync_service() -> None:
    name = image_name()
    assert set(image_services()) >= {"sandbox", "migrate", "api", "scheduler", "worker"}
    builds = {json.dumps(spec["build"], sort_keys=True)
              for spec in services().values() if "build" in spec}  # fmt: skip
    assert len(builds) == 1, f"{name} is built in {len(builds)} different ways"
    build: str | dict[str, str] = json.loads(builds.pop())
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context / dockerfile).resolve() == DOCKERFILE
    for user in image_services():
        # Compose v2 pulls the image of a service that has no build before building it:
        # partnersync:local is in no registry.
        assert "build" in service(user) or service(user).get("pull_policy") == "never", user


def test_workers_are_replicated_without_fixed_names_or_ports() -> None:
    worker = service("worker")
    replicas = (worker.get("deploy") or {}).get("replicas", worker.get("scale", 1))
    assert int(replicas) >= 2
    assert "container_name" not in worker, "replicas cannot share one container name"
    assert "hostname" not in worker
    assert not worker.get("ports"), "replicas cannot publish the same host port"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart(name: str) -> None:
    spec = service(name)
    policy = spec.get("restart") or ((spec.get("deploy") or {}).get("restart_policy") or {}).get(
        "condition"
    )
    assert policy in ("always", "unless-stopped", "on-failure", "any"), f"{name}: {policy!r}"


def test_the_migration_runs_once() -> None:
    assert service("migrate").get("restart", "no") in ("no", "on-failure")
    assert int((service("migrate").get("deploy") or {}).get("replicas", 1)) == 1


# -- configuration: environment only, real keys -----------------------------------------


@pytest.mark.parametrize("name", [*STORE_USERS, "sandbox"])
def test_partnersync_services_are_configured_by_environment_only(name: str) -> None:
    spec = service(name)
    assert name in image_services()
    for key in ("volumes", "configs", "secrets", "env_file"):
        assert not spec.get(key), f"{name}: {key}: the configuration comes from environment"
    assert "--settings" not in argv(name)
    env = environment(name)
    settings_file = env.get(f"{ENV_PREFIX}SETTINGS", "settings.toml")
    assert in_repo(settings_file) == REPO / "settings.toml", "not the image's settings.toml"
    if name in STORE_USERS:
        missing = [key for key in NEEDED_ENV if key not in env]
        assert not missing, f"{name}: {missing}"


def test_every_partnersync_variable_names_a_settings_key() -> None:
    named = {key for name in image_services() for key in environment(name)}
    assert f"{ENV_PREFIX}STORE__URL" in named
    for key in sorted(named):
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}SETTINGS":
            continue
        section, sep, field = key.removeprefix(ENV_PREFIX).lower().partition("__")
        assert sep, f"{key}: not PARTNERSYNC_<SECTION>__<KEY>"
        assert section in Settings.model_fields, f"{key}: no section [{section}]"
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        assert field in model.model_fields, f"{key}: [{section}] has no key {field!r}"


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _set(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            monkeypatch.setenv(key, value)


@pytest.mark.parametrize("name", STORE_USERS)
def test_the_settings_loader_receives_every_value(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over an empty settings file and over the image's own (whose embedded defaults,
    SQLite and the in-process queue, the environment must override)."""
    env = local_env(name)
    _set(monkeypatch, env)
    empty = tmp_path / "settings.toml"
    empty.write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for settings in (load_settings(empty), load_settings()):
        for key, value in env.items():
            if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}SETTINGS":
                continue
            section, _, field = key.removeprefix(ENV_PREFIX).lower().partition("__")
            got = getattr(getattr(settings, section), field)
            assert _shown(got) == value, f"{key}: {value!r} arrived as {_shown(got)!r}"
        store, broker = urlsplit(settings.store.url), urlsplit(settings.queue.broker)
        assert settings.store.url.startswith("postgresql+psycopg://")
        assert store.hostname == "postgres"
        assert store.hostname in services()
        assert broker.scheme == "redis"
        assert broker.hostname == "redis"
        assert broker.hostname in services()
    # The image's settings name the mappings relative to its own folder: they are there.
    image = load_settings()
    for mapping in (image.salesforce.mapping, image.hubspot.mapping):
        assert mapping.is_absolute(), mapping
        assert mapping.is_file(), mapping
        assert mapping.resolve().is_relative_to(REPO / "mappings")


def test_the_crm_urls_reach_the_sandbox_service() -> None:
    env = environment("worker")
    sandbox = argv("sandbox")
    assert sandbox[sandbox.index("--host") + 1] == "0.0.0.0"
    port = int(sandbox[sandbox.index("--port") + 1])
    for key in ("PARTNERSYNC_SALESFORCE__INSTANCE_URL", "PARTNERSYNC_HUBSPOT__BASE_URL"):
        url = urlsplit(env[key])
        assert (url.hostname, url.port) == ("sandbox", port), f"{key}: {env[key]}"


def _container_ports(name: str) -> set[int]:
    ports: set[int] = set()
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def test_the_api_listens_on_all_interfaces_on_its_published_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set(monkeypatch, local_env("api"))
    settings = load_settings()
    api = argv("api")
    host = api[api.index("--host") + 1] if "--host" in api else settings.api.host
    port = int(api[api.index("--port") + 1]) if "--port" in api else settings.api.port
    assert host == "0.0.0.0"
    assert port in _container_ports("api")


# -- commands ---------------------------------------------------------------------------


def _console_script(name: str) -> tuple[str, str]:
    target = pyproject()["project"]["scripts"][name]
    module, _, function = target.partition(":")
    return module, function


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_services_run_real_partnersync_commands(name: str) -> None:
    command = argv(name)
    assert command[0] == "partnersync", f"{name} runs {command}"
    assert command[1 : 1 + len(SUBCOMMANDS[name])] == SUBCOMMANDS[name]
    module, function = _console_script("partnersync")
    # --help after every option: the parser still refuses an option the command lacks.
    script = f"from {module} import {function}; {function}()"
    result = subprocess.run(
        [sys.executable, "-c", script, *command[1:], "--help"],
        cwd=REPO, env=local_env(name), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def _worker_arguments() -> Any:
    from dramatiq.cli import make_argument_parser

    command = argv("worker")
    assert command[0] == "dramatiq", f"the worker runs {command}"
    dependencies = pyproject()["project"]["dependencies"]
    assert any(re.match(r"dramatiq\b", dep) for dep in dependencies), "dramatiq is not installed"
    return make_argument_parser().parse_args(command[1:])


def test_the_worker_module_declares_the_actors_on_redis() -> None:
    from sync.daemon import JOBS

    args = _worker_arguments()
    assert args.processes >= 1
    assert args.threads >= 1
    paths = [args.path] if isinstance(args.path, str) else list(args.path)
    module, _, attribute = args.broker.partition(":")
    script = "\n".join([
        "import importlib, json, sys",
        "import dramatiq",
        f"sys.path[:0] = {paths!r}",
        f"module = importlib.import_module({module!r})",
        f"for extra in {args.modules!r}: importlib.import_module(extra)",
        f"broker = getattr(module, {attribute or 'broker'!r})",
        "assert broker is dramatiq.get_broker(), 'the module does not set the global broker'",
        "print(json.dumps({'type': type(broker).__name__, 'file': module.__file__,",
        "                  'actors': sorted(broker.get_declared_actors())}))",
    ])  # fmt: skip
    env = local_env("worker", PARTNERSYNC_QUEUE__BROKER=TEST_BROKER)
    result = subprocess.run([sys.executable, "-c", script], cwd=in_repo(str(workdir())),
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["type"] == "RedisBroker"
    assert Path(found["file"]).resolve().parent == REPO
    expected = {f"partnersync.{job}" for job in JOBS}
    assert {"partnersync.pull", "partnersync.push"} <= expected
    assert expected <= set(found["actors"]), found["actors"]


# -- start-up order ---------------------------------------------------------------------


def _depends_on(name: str) -> dict[str, str]:
    raw = service(name).get("depends_on") or {}
    assert isinstance(raw, dict), f"{name}: depends_on as a list waits for nothing but a start"
    return {target: (spec or {}).get("condition", "service_started")
            for target, spec in raw.items()}  # fmt: skip


@pytest.mark.parametrize("name", STORE_USERS)
def test_services_wait_for_health_and_for_the_migration(name: str) -> None:
    expected = {"postgres": "service_healthy"} if name == "migrate" else AFTER_MIGRATION
    conditions = _depends_on(name)
    for target, condition in expected.items():
        assert conditions.get(target) == condition, f"{name} -> {target}: {conditions}"


def test_every_condition_can_be_met() -> None:
    seen = 0
    for name in services():
        for target, condition in _depends_on(name).items():
            seen += 1
            assert target in services(), f"{name} waits for unknown {target}"
            if condition == "service_healthy":
                assert (service(target).get("healthcheck") or {}).get("test"), target
            elif condition == "service_completed_successfully":
                assert service(target).get("restart", "no") in ("no", "on-failure"), target
            else:
                assert condition == "service_started", f"{name} -> {target}: {condition}"
    assert seen >= 10


def test_the_worker_waits_for_every_service_it_calls() -> None:
    conditions = _depends_on("worker")
    for key, value in environment("worker").items():
        host = urlsplit(value).hostname if "://" in value else None
        if host in services():
            assert conditions.get(host) in ("service_healthy", "service_started"), (key, host)


# -- the image --------------------------------------------------------------------------


def _copied() -> set[PurePosixPath]:
    """The image paths the Dockerfile's COPY and ADD instructions fill."""
    paths: set[PurePosixPath] = set()
    for keyword, arguments in instructions():
        if keyword not in ("COPY", "ADD"):
            continue
        parts = exec_form(arguments) if arguments.startswith("[") else shlex.split(arguments)
        parts = [part for part in parts if not part.startswith("--")]
        assert not any(p.startswith("--from") for p in shlex.split(arguments)), arguments
        *sources, target = parts
        destination = PurePosixPath(target)
        if not destination.is_absolute():
            destination = workdir() / destination
        into_folder = target.endswith("/") or len(sources) > 1 or target in (".", "./")
        for source in sources:
            name = PurePosixPath(source).name
            if source in (".", "./"):
                paths.add(destination)
            else:
                paths.add(destination / name if into_folder else destination)
    return paths


def _ignored(name: str) -> bool:
    if not DOCKERIGNORE.exists():
        return False
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    ignored = False
    for pattern in patterns:
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name, pattern.removeprefix("**/")):
            ignored = not negated
    return ignored


def _needed() -> Iterator[str]:
    """The top-level files and folders the image's commands read."""
    project = pyproject()
    setuptools = project["tool"]["setuptools"]
    include = setuptools.get("packages", {}).get("find", {}).get("include", ["*"])
    packages = sorted(
        folder.name
        for folder in REPO.iterdir()
        if (folder / "__init__.py").is_file()
        and any(fnmatch.fnmatch(folder.name, pattern) for pattern in include)
    )
    assert "sync" in packages
    yield from packages
    yield from (f"{module}.py" for module in setuptools.get("py-modules", []))
    yield "pyproject.toml"
    yield project["project"]["readme"]
    yield "settings.toml"
    settings = tomllib.loads((REPO / "settings.toml").read_text(encoding="utf-8"))
    for section in ("salesforce", "hubspot"):
        yield PurePosixPath(settings[section]["mapping"]).parts[0]
    from sync import demo

    for shipped in (demo.SHIPPED_MAPPINGS, demo.EXAMPLE_AGREEMENT):
        yield shipped.relative_to(REPO).parts[0]


def test_the_image_holds_everything_the_commands_need() -> None:
    copied = _copied()
    needed = set(_needed())
    assert {"sync", "connectors", "rules", "sandbox", "worker.py", "mappings", "examples"} <= needed
    for name in sorted(needed):
        assert (REPO / name).exists(), f"{name} is not in the repository"
        assert workdir() / name in copied or workdir() in copied, f"the image lacks {name}"
        assert not _ignored(name), f".dockerignore leaves {name} out of the build context"


def test_the_image_runs_the_code_it_copied() -> None:
    """``partnersync demo`` finds mappings/ and examples/ beside the sync package: the
    package must run from the work directory (an editable install, or PYTHONPATH), after
    it was copied there; the entry point is the console script."""
    order = [keyword for keyword, _ in instructions()]
    installs = [i for i, (keyword, arguments) in enumerate(instructions())
                if keyword == "RUN" and re.search(r"pip install\b.*(-e|--editable) \.", arguments)]  # fmt: skip
    python_path = any(keyword == "ENV" and str(workdir()) in arguments and "PYTHONPATH" in arguments
                      for keyword, arguments in instructions())  # fmt: skip
    assert installs or python_path, "the image runs sync/ from site-packages, without mappings/"
    last_copy = max(i for i, keyword in enumerate(order) if keyword in ("COPY", "ADD"))
    if installs:
        assert installs[-1] > last_copy, "the package is installed before its code is copied"
    assert dockerfile_default("ENTRYPOINT") == ["partnersync"]
    assert "partnersync" in pyproject()["project"]["scripts"]


def test_each_worker_thread_holds_one_message() -> None:
    """dramatiq prefetches twice as many messages as threads unless told: a long job's
    trigger would wait in one busy process while another idles."""
    threads = _worker_arguments().threads
    assert environment("worker")["dramatiq_queue_prefetch"] == str(threads)
