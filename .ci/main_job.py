"""The README's main job: run the example pipeline end to end on embedded defaults and show what it did.

Needs nothing but this repository's virtualenv: Airflow's metadata DB is SQLite in ``.demo/airflow``, S3
is moto's server (its bucket saved to ``.demo/s3`` between runs, since moto keeps objects in memory),
models come from the registry emulator, and Ollama is a real one when one is reachable, else the
emulator. The emulator runs the registry emulator's real model, SmolLM2-135M-Instruct (``smollm2:135m``),
on llama.cpp when the ``real-model`` extra is installed (it is in the development install), so the
triage printed is that model's own; without the extra it falls back to the synthetic engine and says so.
Each example DAG runs once with Airflow's own ``dag.test()`` in a child process whose log goes to
``.demo/logs/airflow.log``; this script prints task states, results read back from XCom, registry
traffic and cache hits, and exits non-zero if anything failed.

    python3 .ci/dev.py main                     # the same as: .venv/bin/python .ci/main_job.py
    python3 .ci/dev.py main --emulator          # the emulator even when a real Ollama answers
    python3 .ci/dev.py main --conf '{"product": "Example Corp"}'    # other params for the pipeline
    python3 .ci/dev.py main --conf '{"base_model": "qwen3:0.6b"}'     # needs a real Ollama with internet
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from airflow_provider_ollama.testing import OllamaEmulatorProcess, RegistryEmulator

ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = ROOT / "dags"
FLAGSHIP_DAG = "example_ollama_pipeline"
#: The S3 cache example; run when it exists (the cache integration adds it).
CACHE_DAG = "example_ollama_model_cache"
CACHE_BUCKET = "ollama-models"
CACHE_LOCATION = f"s3://{CACHE_BUCKET}/cache"
#: The model the emulator runs: real weights on llama.cpp, or the synthetic one without the extra.
REAL_MODEL = "smollm2:135m"
SYNTHETIC_MODEL = "tiny"
_READY_PROBE_S = 1.5


class DemoError(RuntimeError):
    """A failure of the main job itself; its message says what to do."""


@dataclass(frozen=True)
class DemoPaths:
    """Everything the main job keeps, under one git-ignored folder."""

    root: Path

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def s3(self) -> Path:
        return self.root / "s3"

    @property
    def ollama_models(self) -> Path:
        return self.root / "ollama" / "models"

    @property
    def ollama_home(self) -> Path:
        return self.root / "ollama" / "home"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "airflow.log"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    def create(self) -> None:
        for folder in (self.airflow_home, self.s3, self.ollama_models, self.ollama_home, self.results):
            folder.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)

    def load_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(state, indent=2))


# --- the servers the DAGs talk to ------------------------------------------------------------------


@dataclass(frozen=True)
class DemoModel:
    """The registry emulator's model the examples use on the emulator, and the line that says why."""

    name: str
    real: bool
    description: str


def demo_model() -> DemoModel:
    """``smollm2:135m`` on llama.cpp when the real-model extra is installed, else the synthetic ``tiny``."""
    from airflow_provider_ollama.testing.emulator.llama import engine_available
    from airflow_provider_ollama.testing.registry.real_models import RealModelMissing, smollm2_weights

    try:
        smollm2_weights()
    except RealModelMissing:
        installed = False
    else:
        installed = engine_available()
    if installed:
        return DemoModel(
            REAL_MODEL,
            True,
            f"{REAL_MODEL} (SmolLM2-135M-Instruct, Apache-2.0: real weights, run by llama.cpp in the emulator)",
        )
    return DemoModel(
        SYNTHETIC_MODEL,
        False,
        f"{SYNTHETIC_MODEL} on the synthetic engine (fell back: the real-model extra is not installed; "
        "`pip install 'airflow-provider-ollama[real-model]'` runs the real SmolLM2 on llama.cpp)",
    )


@dataclass
class OllamaChoice:
    """Which Ollama the DAGs use, and why: printed first, so nobody wonders what answered."""

    #: "real" or "emulator"
    kind: str
    url: str
    reason: str
    #: The executable per-task servers start (``OLLAMA_BINARY``): a real ``ollama`` or the emulator's.
    binary: str
    #: ``AIRFLOW_CONN_OLLAMA_DEFAULT`` for the DAG runs; None keeps the user's own connection.
    connection: str | None = None


def _answers(url: str) -> bool:
    """Whether an Ollama answers ``GET /`` at ``url`` (quickly: nothing there is the usual case)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url.rstrip('/')}/", timeout=_READY_PROBE_S) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _ollama_host_url() -> tuple[str, str]:
    """The URL ``OLLAMA_HOST`` names (Ollama's own default when unset) and where it came from."""
    configured = os.environ.get("OLLAMA_HOST", "").strip()
    host = configured or "127.0.0.1:11434"
    if "://" not in host:
        host = f"http://{host}"
    if host.count(":") < 2:  # no port: Ollama's
        host = f"{host}:11434"
    return host, ("from OLLAMA_HOST" if configured else "Ollama's default address")


def _connection_url() -> str | None:
    """The URL of the user's ``ollama_default`` connection, when one is set in the environment."""
    if not os.environ.get("AIRFLOW_CONN_OLLAMA_DEFAULT"):
        return None
    from airflow_provider_ollama.hooks.ollama import OllamaHook  # imports Airflow: only when needed

    return OllamaHook("ollama_default").base_url


@contextlib.contextmanager
def chosen_ollama(paths: DemoPaths, *, force_emulator: bool) -> Iterator[OllamaChoice]:
    """A reachable real Ollama if there is one, else a started ``ollama serve``, else the emulator.

    The shared server (the one the ``ollama_default`` connection names) keeps its models in
    ``.demo/ollama`` like a real one would, so a second run finds its models already there.
    """
    emulator_binary = str(Path(sys.executable).with_name("ollama-emulator"))
    if not force_emulator:
        host_url, source = _ollama_host_url()
        if _answers(host_url):
            yield OllamaChoice(
                "real",
                host_url,
                f"a real Ollama: it answered at {host_url} ({source})",
                shutil.which("ollama") or emulator_binary,
                connection=json.dumps({"conn_type": "ollama", "host": host_url}),
            )
            return
        connection_url = _connection_url()
        if connection_url and _answers(connection_url):
            yield OllamaChoice(
                "real",
                connection_url,
                f"a real Ollama: the ollama_default connection (AIRFLOW_CONN_OLLAMA_DEFAULT) answered at {connection_url}",
                shutil.which("ollama") or emulator_binary,
            )
            return
        binary = shutil.which("ollama")
        if binary:
            with _started_ollama(paths, binary) as url:
                yield OllamaChoice(
                    "real",
                    url,
                    f"a real Ollama: `{binary} serve`, started for this run (found on PATH; nothing answered at {host_url})",
                    binary,
                    connection=json.dumps({"conn_type": "ollama", "host": url}),
                )
            return
        not_at_connection = f", nor at {connection_url} (ollama_default)" if connection_url else ""
        why = f": nothing answered at {host_url} ({source}){not_at_connection}, and no `ollama` is on PATH"
    else:
        why = " (--emulator)"
    with _started_emulator(paths) as url:
        yield OllamaChoice(
            "emulator",
            url,
            f"the Ollama emulator{why}",
            emulator_binary,
            connection=json.dumps({"conn_type": "ollama", "host": url}),
        )


@contextlib.contextmanager
def _started_emulator(paths: DemoPaths) -> Iterator[str]:
    """``ollama-emulator serve`` on a free loopback port with the demo's model store, stopped afterwards."""
    emulator = OllamaEmulatorProcess(models_dir=paths.ollama_models, home=paths.ollama_home)
    try:
        emulator.start()
    except Exception as error:
        raise DemoError(f"the Ollama emulator did not start: {error}") from error
    try:
        yield emulator.url
    finally:
        emulator.close()


@contextlib.contextmanager
def _started_ollama(paths: DemoPaths, binary: str) -> Iterator[str]:
    """A real ``ollama serve`` the same way, through the provider's own per-task server class."""
    from airflow_provider_ollama.server import LocalOllamaServer, LocalServer  # imports Airflow: only here

    server = LocalOllamaServer(
        LocalServer(binary=binary, models_dir=str(paths.ollama_models)),
        log_path=paths.log.with_name("ollama-serve.log"),
    )
    with server:
        assert server.url is not None  # set once it answers
        yield server.url


@contextlib.contextmanager
def demo_registry(paths: DemoPaths) -> Iterator[RegistryEmulator]:
    """The registry emulator, on the port of the last run when it is free.

    Model names carry the registry's address (``127.0.0.1:PORT/library/tiny``), and so do the cache's
    manifest keys: the same port keeps names, and thus cache entries, the same from run to run.
    """
    state = paths.load_state()
    registry: RegistryEmulator | None = None
    previous = state.get("registry_port")
    if isinstance(previous, int):
        with contextlib.suppress(OSError):
            registry = RegistryEmulator(port=previous).start()
    if registry is None:
        registry = RegistryEmulator().start()
    paths.save_state({**state, "registry_port": registry.port})
    try:
        yield registry
    finally:
        registry.stop()


@contextlib.contextmanager
def persisted_s3(paths: DemoPaths) -> Iterator[str]:
    """moto's S3 server with the cache bucket, filled from ``.demo/s3`` and saved back there afterwards."""
    import boto3
    from moto.server import ThreadedMotoServer

    # moto's server logs every request through werkzeug; the summary is no place for that.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="demo",
        aws_secret_access_key="demo",  # noqa: S106 - moto accepts any credentials
    )
    s3.create_bucket(Bucket=CACHE_BUCKET)
    saved = paths.s3 / CACHE_BUCKET
    for file in sorted(saved.rglob("*")) if saved.exists() else []:
        if file.is_file():
            s3.upload_file(str(file), CACHE_BUCKET, file.relative_to(saved).as_posix())
    try:
        yield endpoint
    finally:
        try:
            # Into a fresh folder first: the last saved copy is replaced only by a complete one.
            saving = saved.with_name(f"{CACHE_BUCKET}.saving")
            shutil.rmtree(saving, ignore_errors=True)
            saving.mkdir(parents=True)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=CACHE_BUCKET):
                for item in page.get("Contents", []):
                    target = saving / item["Key"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(CACHE_BUCKET, item["Key"], str(target))
            shutil.rmtree(saved, ignore_errors=True)
            saving.rename(saved)
        finally:
            server.stop()


def s3_object_count(paths: DemoPaths) -> int:
    saved = paths.s3 / CACHE_BUCKET
    return sum(1 for file in saved.rglob("*") if file.is_file()) if saved.exists() else 0


# --- Airflow -------------------------------------------------------------------------------------


def airflow_environment(choice: OllamaChoice, s3_endpoint: str, registry: RegistryEmulator) -> dict[str, str]:
    """Environment of every Airflow command: this process's (the demo's home and DAGs), plus connections,
    and the registry emulator (plain HTTP) among the insecure registries, as a deployment would list its own."""
    environment = {
        **os.environ,
        "AIRFLOW__OLLAMA__INSECURE_REGISTRIES": registry.host,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "demo",
                "password": "demo",
                "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
            }
        ),
        "OLLAMA_BINARY": choice.binary,
        "PYTHONPATH": str(ROOT),
    }
    if choice.connection is not None:
        environment["AIRFLOW_CONN_OLLAMA_DEFAULT"] = choice.connection
    return environment


def migrate_once(paths: DemoPaths, environment: dict[str, str]) -> bool:
    """``airflow db migrate`` into the demo's SQLite DB when this Airflow version has not done it yet."""
    marker = paths.airflow_home / ".migrated"
    airflow_version = version("apache-airflow")
    if marker.exists() and marker.read_text() == airflow_version:
        return False
    with paths.log.open("a") as log:
        completed = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if completed.returncode != 0:
        raise DemoError(f"`airflow db migrate` failed (exit {completed.returncode}); see {paths.log}")
    marker.write_text(airflow_version)
    return True


def run_example(
    paths: DemoPaths, environment: dict[str, str], dag_id: str, conf: dict[str, Any]
) -> dict[str, Any]:
    """One ``dag.test()`` run of ``dag_id`` in a child process; its outcome as run_example_dag.py wrote it.

    A failed run also gets ``errors``: the exception lines its tasks logged, the first thing to read.
    """
    result_file = paths.results / f"{dag_id}.json"
    result_file.unlink(missing_ok=True)
    with paths.log.open("a") as log:
        log.write(f"\n===== {dag_id} with conf {json.dumps(conf)} =====\n")
        log.flush()
        log_start = log.tell()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / ".ci" / "run_example_dag.py"),
                dag_id,
                "--conf",
                json.dumps(conf),
                "--result",
                str(result_file),
            ],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    outcome: dict[str, Any] = (
        json.loads(result_file.read_text())
        if result_file.exists()
        else {"dag_id": dag_id, "state": "crashed", "error": "the run wrote no result", "tasks": []}
    )
    if outcome["state"] != "success":
        with paths.log.open(errors="replace") as log:
            log.seek(log_start)
            outcome["errors"] = _exception_lines(log.read())
    return outcome


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Timeout\w*): .+")


def _exception_lines(log: str) -> list[str]:
    """The distinct ``SomeError: message`` lines of tracebacks in ``log``, in order."""
    found: list[str] = []
    for line in log.splitlines():
        if _EXCEPTION_LINE.match(line) and line not in found:
            found.append(line)
    return found


# --- what the user sees --------------------------------------------------------------------------


@dataclass
class Report:
    """Lines for the terminal, and whether everything succeeded."""

    failures: list[str] = field(default_factory=list)

    @staticmethod
    def line(text: str = "") -> None:
        print(text, flush=True)

    def heading(self, text: str) -> None:
        self.line()
        self.line(text)
        self.line("-" * len(text))

    def dag_outcome(self, outcome: dict[str, Any], registry_bytes: int | None) -> None:
        state = outcome["state"]
        seconds = outcome.get("seconds")
        took = f" in {seconds:.1f} s" if isinstance(seconds, int | float) else ""
        self.heading(f"{outcome['dag_id']}: {state}{took}")
        for task in outcome.get("tasks", []):
            label = task["task_id"] + (f"[{task['map_index']}]" if task["map_index"] >= 0 else "")
            self.line(f"  {label:<24} {task['state']:<16} {task['seconds']:>5.1f} s")
        if outcome.get("error"):
            self.line(f"  error: {outcome['error']}")
        # Whole lines: the end of an error (which host, what to do) matters as much as its start.
        for error in outcome.get("errors", [])[-3:]:
            self.line(f"  {error}")
        if registry_bytes is not None:
            self.line(f"  registry blob bytes served: {_size(registry_bytes)}")
        if state != "success":
            failed = [task["task_id"] for task in outcome.get("tasks", []) if task["state"] == "failed"]
            self.failures.append(
                f"{outcome['dag_id']} ended {state}" + (f" (tasks: {', '.join(failed)})" if failed else "")
            )

    def flagship_results(self, xcoms: dict[str, Any], *, synthetic: bool) -> None:
        tickets = xcoms.get("load_tickets") or []
        records = xcoms.get("triage_tickets") or []
        if not records:
            return
        self.line()
        self.line("  triage_tickets (each answer parsed and checked against TICKET_SCHEMA):")
        for ticket, record in zip(tickets, records, strict=False):
            answer = record.get("response")
            if not isinstance(answer, dict):
                self.line(f"    {ticket}\n      -> failed: {record.get('message', record)}")
                continue
            flag = "URGENT " if answer.get("urgent") else ""
            self.line(f"    {ticket.removeprefix('Ticket: ')}")
            self.line(f"      -> {flag}{answer.get('category')}: {_short(str(answer.get('summary')), 70)}")
        routed = xcoms.get("route_tickets")
        if isinstance(routed, dict):
            self.line()
            self.line("  route_tickets (the downstream task's return value):")
            for key, value in routed.items():
                self.line(f"    {key}: {json.dumps(value)}")
        if synthetic:
            self.line()
            self.line(
                "  (The emulator's answers are deterministic stand-ins that fit the schema, not real "
                "triage: run against a real Ollama for that.)"
            )

    def cache_results(self, xcoms: dict[str, Any]) -> None:
        """Where each task's model came from, as the cache example's ``cache_report`` task read it from XCom."""
        tasks = xcoms.get("cache_report")
        if not isinstance(tasks, dict):
            return
        self.line()
        self.line("  cache_report (each task's ollama_cache XCom: where its model came from):")
        for task_id, models in tasks.items():
            for model, outcome in models.items():
                sources = [
                    f"{_size(outcome[key])} from {where}"
                    for key, where in (
                        ("bytes_from_s3", "S3"),
                        ("bytes_from_host_cache", "the host cache"),
                        ("bytes_from_registry", "the registry"),
                    )
                    if outcome.get(key)
                ]
                self.line(
                    f"    {task_id:<12} {outcome['status']:<5} {model}: {', '.join(sources) or 'nothing moved'}"
                )
        summary = xcoms.get("summarise")
        if isinstance(summary, str):
            self.line(f"  summarise (the model's answer on its per-task server): {_short(summary, 90)!r}")
        fill = next(iter(tasks.get("fill_cache", {}).values()), None)
        if fill is not None and fill.get("status") == "hit":
            self.line("  The model came from S3, verified: the registry was not asked for it.")
        elif fill is not None:
            self.line(
                "  The model came from the registry and is now in S3: run the main job again to restore it."
            )


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1 << 20:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1 << 20):.1f} MiB"


def _short(text: str, width: int) -> str:
    return textwrap.shorten(text, width=width, placeholder="...")


# --- the job -------------------------------------------------------------------------------------


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--emulator", action="store_true", help="use the Ollama emulator even when a real Ollama answers"
    )
    parser.add_argument(
        "--conf",
        type=json.loads,
        default={},
        help=(
            'params for the pipeline as a JSON object, over the demo\'s (e.g. \'{"product": "Example Corp"}\'; '
            "a base_model from Ollama's registry needs a real Ollama with internet access)"
        ),
    )
    parser.add_argument(
        "--demo-dir", type=Path, default=ROOT / ".demo", help="where the demo keeps its state (.demo)"
    )
    return parser.parse_args(argv)


def flagship_conf(choice: OllamaChoice, registry: RegistryEmulator, model: DemoModel) -> dict[str, Any]:
    """The flagship's params: the registry emulator's model for the emulator, the DAG's defaults otherwise."""
    if choice.kind == "emulator":
        return {"base_model": registry.model_name(model.name)}
    # A real Ollama runs real weights: the DAG's own defaults (llama3.2:1b from Ollama's registry).
    return {}


def cache_conf(choice: OllamaChoice, registry: RegistryEmulator, model: DemoModel) -> dict[str, Any]:
    """The cache example's params: the same model as the flagship, cached in the demo's moto bucket."""
    if choice.kind == "emulator":
        return {"model": registry.model_name(model.name), "cache": CACHE_LOCATION}
    return {"cache": CACHE_LOCATION}


def run_demo(arguments: argparse.Namespace) -> Report:
    report = Report()
    paths = DemoPaths(arguments.demo_dir.resolve())
    paths.create()
    paths.log.write_text("")
    # Set before anything imports Airflow (it reads its configuration once, at import).
    os.environ.update(
        {
            "AIRFLOW_HOME": str(paths.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    report.line("airflow-provider-ollama main job: the example pipeline, end to end")
    with (
        persisted_s3(paths) as s3_endpoint,
        demo_registry(paths) as registry,
        chosen_ollama(paths, force_emulator=arguments.emulator) as choice,
    ):
        report.line(f"  Ollama:   {choice.reason}")
        report.line(f"            shared server (connection ollama_default): {choice.url}")
        report.line(f"            per-task servers start: {choice.binary}")
        report.line(f"  Registry: the registry emulator at {registry.url}")
        model = demo_model()
        if choice.kind == "emulator":
            report.line(f"  Model:    {model.description}")
        report.line(
            f"  S3:       moto at {s3_endpoint}, bucket {CACHE_BUCKET} "
            f"({s3_object_count(paths)} objects restored from {paths.s3})"
        )
        environment = airflow_environment(choice, s3_endpoint, registry)
        started = time.monotonic()
        migrated = migrate_once(paths, environment)
        report.line(
            f"  Airflow:  {version('apache-airflow')}, SQLite DB in {paths.airflow_home}"
            + (f" (migrated in {time.monotonic() - started:.1f} s)" if migrated else "")
        )

        before = registry.stats.blob_bytes_served
        conf = {**flagship_conf(choice, registry, model), **arguments.conf}
        outcome = run_example(paths, environment, FLAGSHIP_DAG, conf)
        report.dag_outcome(outcome, registry.stats.blob_bytes_served - before)
        synthetic = choice.kind == "emulator" and not model.real
        report.flagship_results(outcome.get("xcoms", {}), synthetic=synthetic)

        if (DAGS_FOLDER / f"{CACHE_DAG}.py").exists():
            # Each run is a new worker: its host blob cache starts empty, so models come from S3 or the
            # registry, never from a previous run's disk.
            with tempfile.TemporaryDirectory(prefix="host-blob-cache-", dir=paths.root) as host_cache:
                environment["AIRFLOW__OLLAMA__HOST_BLOB_CACHE_DIR"] = host_cache
                before = registry.stats.blob_bytes_served
                outcome = run_example(paths, environment, CACHE_DAG, cache_conf(choice, registry, model))
            report.dag_outcome(outcome, registry.stats.blob_bytes_served - before)
            report.cache_results(outcome.get("xcoms", {}))
        else:
            report.heading("S3 model cache")
            report.line(f"  not run: dags/{CACHE_DAG}.py is not in this checkout")
        report.line()
        report.line(f"Registry blob bytes served in this run: {_size(registry.stats.blob_bytes_served)}")
    return report


def main(argv: list[str]) -> int:
    arguments = _parse_arguments(argv)
    started = time.monotonic()
    log = arguments.demo_dir.resolve() / "logs" / "airflow.log"
    try:
        report = run_demo(arguments)
    except DemoError as error:
        print(f"\nThe main job failed: {error}", file=sys.stderr)
        return 1
    report.line()
    report.line(f"Airflow's own log (task logs included): {log}")
    if report.failures:
        report.line(f"FAILED after {time.monotonic() - started:.1f} s: " + "; ".join(report.failures))
        report.line(f"The task logs in {log} say why.")
        return 1
    report.line(f"Done in {time.monotonic() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
