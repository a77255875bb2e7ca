"""Benchmark: restoring a multi-GiB model from S3 (moto) with verification, against plain boto3.

    .venv/bin/python bench/cache/restore_bench.py [--size-gib 2] [--rounds 5] [--part-mib 512] [--concurrency 4]
        [--configs both|single-get|parallel] [--kinds plain,restore,hash-after,in-order]

Writes a synthetic model (a real GGUF header + tiled pseudo-random weights, streamed to disk, never
held in memory), saves it with S3ModelCache to a moto server running in its own process, then
measures in fresh processes, rounds interleaved so that load from other work hits every variant alike:

- ``boto3 download_file``: the baseline, plain boto3 with the same TransferConfig, no hashing;
- ``S3ModelCache.restore``: the whole verified restore (HEADs, GETs hashed as they land, sha256 and
  size checks, atomic renames, the manifest);
- two other ways to hash, to justify the choice: download then hash the file in a second pass, and
  hash in order through a non-seekable writer (s3transfer then buffers parts that arrive early);
- a restore through the host blob cache, then a second one on the same host (hard links).

Each measurement runs with two TransferConfigs: a single GET (the fastest on moto, which reads the
whole object for every ranged GET) and parallel ranged GETs (what real S3 needs). Prints a table
(time, throughput, CPU, peak RSS as each process measured it) and the issue's targets. moto keeps
objects in memory: its process is stopped at the end, which frees it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BUCKET = "restore-bench"
CACHE_URL = f"s3://{BUCKET}/models"
MODEL = "bench/restore:big"
CONN_ID = "bench_s3"
KINDS = ("plain", "restore", "hash-after", "in-order")
_SINGLE_GET_THRESHOLD = 1 << 40

_MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # serves until the parent closes the pipe
server.stop()
"""


# --- measurements, each in a fresh process ---------------------------------------------------------


def _peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that over from the
    parent through fork and exec, so every child would report at least the orchestrator's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _transfer_args(args: argparse.Namespace) -> dict[str, int]:
    """One TransferConfig for every variant (the cache's 16-chunk write queue included)."""
    part = args.part_mib << 20
    if args.single_get:
        return {"multipart_threshold": _SINGLE_GET_THRESHOLD, "max_concurrency": 1, "max_io_queue": 16}
    return {
        "multipart_threshold": part,
        "multipart_chunksize": part,
        "max_concurrency": args.concurrency,
        "max_io_queue": 16,
    }


def _boto3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto accepts anything
    )


def _connected_boto3(args: argparse.Namespace) -> tuple[Any, Any]:
    from boto3.s3.transfer import TransferConfig

    client = _boto3_client(args.endpoint)
    client.head_object(Bucket=BUCKET, Key=args.key)  # connect before the clock starts
    return client, TransferConfig(**_transfer_args(args))


class _Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def result(self, size: int, **extra: Any) -> dict[str, Any]:
        return {
            "seconds": time.perf_counter() - self.wall,
            "transfer_cpu_seconds": time.process_time() - self.cpu,
            "bytes": size,
            **extra,
        }


def _hash_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def child_plain(args: argparse.Namespace) -> dict[str, Any]:
    client, config = _connected_boto3(args)
    target = Path(args.out) / "blob"
    clock = _Clock()
    client.download_file(BUCKET, args.key, str(target), Config=config)
    return clock.result(target.stat().st_size)


def child_hash_after(args: argparse.Namespace) -> dict[str, Any]:
    client, config = _connected_boto3(args)
    target = Path(args.out) / "blob"
    clock = _Clock()
    client.download_file(BUCKET, args.key, str(target), Config=config)
    return clock.result(target.stat().st_size, digest=_hash_file(target))


def child_in_order(args: argparse.Namespace) -> dict[str, Any]:
    class InOrderHashingWriter:
        """No seek(): s3transfer must hand over bytes in order, buffering parts that arrive early."""

        def __init__(self, handle: Any) -> None:
            self.handle = handle
            self.hasher = hashlib.sha256()

        def write(self, data: bytes) -> int:
            self.hasher.update(data)
            return int(self.handle.write(data))

    client, config = _connected_boto3(args)
    target = Path(args.out) / "blob"
    clock = _Clock()
    with target.open("wb") as handle:
        writer = InOrderHashingWriter(handle)
        client.download_fileobj(BUCKET, args.key, writer, Config=config)
    return clock.result(target.stat().st_size, digest="sha256:" + writer.hasher.hexdigest())


def child_restore(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_ollama.cache import HostBlobCache, S3ModelCache
    from airflow_provider_ollama.store import ModelStore

    cache = S3ModelCache(CACHE_URL, aws_conn_id=CONN_ID, transfer_config_args=_transfer_args(args))
    cache.lookup("warm-up:latest")  # builds the S3Hook client before the clock starts
    host_cache = HostBlobCache(args.host_cache) if args.host_cache else None
    clock = _Clock()
    report = cache.restore(ModelStore(args.out), MODEL, host_cache=host_cache)
    return clock.result(report.bytes_downloaded + report.bytes_from_host_cache, report=report.to_dict())


def child_import_only(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_ollama.cache import S3ModelCache

    S3ModelCache(CACHE_URL, aws_conn_id=CONN_ID).lookup("warm-up:latest")
    return _Clock().result(0)


CHILDREN = {
    "plain": child_plain,
    "hash-after": child_hash_after,
    "in-order": child_in_order,
    "restore": child_restore,
    "import-only": child_import_only,
}


# --- orchestration --------------------------------------------------------------------------------


def _write_model(store_root: Path, size: int) -> tuple[str, str]:
    """A model in a local store (GGUF layer, template, params, config): (layer digest, manifest digest)."""
    from airflow_provider_ollama.names import ModelName
    from airflow_provider_ollama.store import (
        CONFIG_MEDIA_TYPE,
        LAYER_MEDIA_TYPE_PREFIX,
        MANIFEST_MEDIA_TYPE,
        ModelStore,
        atomic_write,
        sha256_digest,
    )
    from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF

    store = ModelStore(store_root)
    store.blobs_dir.mkdir(parents=True)
    gguf = SyntheticGGUF(GGUFSpec(size_bytes=size, seed="restore-bench"))
    temp = store.blobs_dir / "model.tmp"
    gguf.write_to(temp)
    temp.rename(store.blob_path(gguf.digest))

    def small(media_type: str, data: bytes) -> dict[str, object]:
        atomic_write(store.blob_path(sha256_digest(data)), data)
        return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}

    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": small(CONFIG_MEDIA_TYPE, b'{"model_format":"gguf","model_family":"llama"}'),
        "layers": [
            {"mediaType": f"{LAYER_MEDIA_TYPE_PREFIX}model", "digest": gguf.digest, "size": size},
            small(f"{LAYER_MEDIA_TYPE_PREFIX}template", b"{{ .Prompt }}"),
            small(f"{LAYER_MEDIA_TYPE_PREFIX}params", b'{"temperature":0.2}'),
        ],
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    store.write_manifest(ModelName.parse(MODEL), raw)
    return gguf.digest, sha256_digest(raw)


def _run_child(
    kind: str, args: argparse.Namespace, out: Path, *, single_get: bool, host_cache: str = ""
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--child", kind, "--endpoint", args.endpoint, "--key", args.key]
    command += ["--out", str(out), "--part-mib", str(args.part_mib), "--concurrency", str(args.concurrency)]
    command += ["--host-cache", host_cache]
    command += ["--single-get"] if single_get else []
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{finished.stderr[-4000:]}")
    return dict(json.loads(finished.stdout.strip().splitlines()[-1]))


def orchestrate(args: argparse.Namespace) -> None:
    size = int(args.size_gib * (1 << 30))
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="restore-bench-", dir=args.workdir))
    moto = subprocess.Popen(
        [sys.executable, "-c", _MOTO_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # one access-log line per request
        text=True,
    )
    try:
        assert moto.stdout is not None
        args.endpoint = f"http://127.0.0.1:{int(moto.stdout.readline())}"
        os.environ.update(
            {
                "AIRFLOW_HOME": str(workdir / "airflow-home"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
                    {
                        "conn_type": "aws",
                        "login": "bench",
                        "password": "bench",
                        "extra": {"endpoint_url": args.endpoint, "region_name": "us-east-1"},
                    }
                ),
            }
        )
        print(f"writing a {args.size_gib:g} GiB model, saving it to moto at {args.endpoint} ...", flush=True)
        layer_digest, manifest_digest = _write_model(workdir / "source", size)
        args.key = f"models/blobs/{layer_digest.replace(':', '-')}"
        _save(args, workdir / "source")

        results: dict[tuple[bool, str], list[dict[str, Any]]] = {}
        for round_number in range(1, args.rounds + 1):
            for single_get in _configs(args):
                for kind in args.kinds:
                    out = workdir / f"{kind}-{round_number}"
                    result = _run_child(kind, args, out, single_get=single_get)
                    shutil.rmtree(out)
                    if "digest" in result:
                        assert result["digest"] == layer_digest, f"{kind} hashed {result['digest']}"
                    if kind == "restore":
                        assert result["report"]["manifest_digest"] == manifest_digest, result
                    results.setdefault((single_get, kind), []).append(result)
                    print(
                        f"  round {round_number} {_config_name(args, single_get)} {kind}: "
                        f"{result['seconds']:.2f} s, {result['transfer_cpu_seconds']:.1f} s CPU, "
                        f"{result['rss_mib']:.0f} MiB",
                        flush=True,
                    )

        host_root = str(workdir / "host-cache")
        last_config = _configs(args)[-1]
        first = _run_child(
            "restore", args, workdir / "host-first", single_get=last_config, host_cache=host_root
        )
        second = _run_child(
            "restore", args, workdir / "host-second", single_get=last_config, host_cache=host_root
        )
        assert (second["report"]["blobs_downloaded"], second["report"]["blobs_from_host_cache"]) == (0, 4), (
            second
        )
        import_only = _run_child("import-only", args, workdir / "import-only", single_get=False)
        _print_report(args, results, first, second, import_only["rss_mib"])
    finally:
        if moto.stdin:
            moto.stdin.close()
        try:
            moto.wait(timeout=60)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _save(args: argparse.Namespace, source: Path) -> None:
    from airflow_provider_ollama.cache import S3ModelCache
    from airflow_provider_ollama.store import ModelStore

    _boto3_client(args.endpoint).create_bucket(Bucket=BUCKET)
    upload = {"multipart_threshold": 256 << 20, "multipart_chunksize": 256 << 20, "max_concurrency": 4}
    report = S3ModelCache(CACHE_URL, aws_conn_id=CONN_ID, transfer_config_args=upload).save(
        ModelStore(source), MODEL, raise_errors=True
    )
    print(f"  save: {report.seconds:.1f} s, {report.megabytes_per_second:.0f} MB/s", flush=True)


def _configs(args: argparse.Namespace) -> list[bool]:
    """The TransferConfigs to measure, as ``single_get`` flags."""
    return {"both": [True, False], "single-get": [True], "parallel": [False]}[args.configs]


def _config_name(args: argparse.Namespace, single_get: bool) -> str:
    return "single GET" if single_get else f"{args.part_mib} MiB x {args.concurrency}"


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    best = min(run["seconds"] for run in runs)
    median = statistics.median(run["seconds"] for run in runs)
    size = runs[0]["bytes"]
    return {
        "best_s": best,
        "median_s": median,
        "best_mb_s": size / 1e6 / best,
        "median_mb_s": size / 1e6 / median,
        "cpu_s": statistics.median(run["transfer_cpu_seconds"] for run in runs),
        "rss_mib": max(run["rss_mib"] for run in runs),
    }


def _print_report(
    args: argparse.Namespace,
    results: dict[tuple[bool, str], list[dict[str, Any]]],
    first: dict[str, Any],
    second: dict[str, Any],
    import_only_rss: float,
) -> None:
    labels = {
        "plain": "boto3 download_file (baseline)",
        "restore": "S3ModelCache.restore (verified)",
        "hash-after": "download, then hash the file",
        "in-order": "hash in order (non-seekable)",
    }
    print()
    print(
        f"{args.size_gib:g} GiB model from moto, {args.rounds} round(s); MB/s = 10^6 bytes/s; RSS per process"
    )
    header = f"{'TransferConfig':<16} {'measurement':<32} {'best s':>7} {'median s':>9} {'best MB/s':>10} {'med MB/s':>9} {'CPU s':>6} {'RSS MiB':>8}"
    print(header)
    ratios = []
    for single_get in _configs(args):
        for kind in args.kinds:
            row = _summary(results[(single_get, kind)])
            print(
                f"{_config_name(args, single_get):<16} {labels[kind]:<32} {row['best_s']:>7.2f} "
                f"{row['median_s']:>9.2f} {row['best_mb_s']:>10.0f} {row['median_mb_s']:>9.0f} "
                f"{row['cpu_s']:>6.1f} {row['rss_mib']:>8.0f}"
            )
        plain, restore = _summary(results[(single_get, "plain")]), _summary(results[(single_get, "restore")])
        # Each round ran restore right after plain, under about the same load from other work.
        paired = [
            (restore_run["bytes"] / restore_run["seconds"]) / (plain_run["bytes"] / plain_run["seconds"])
            for plain_run, restore_run in zip(
                results[(single_get, "plain")], results[(single_get, "restore")], strict=True
            )
        ]
        ratios.append(
            (
                _config_name(args, single_get),
                statistics.median(paired),
                restore["best_mb_s"] / plain["best_mb_s"],
            )
        )
    print(f"{'host cache':<16} {'first restore on the host':<32} {first['seconds']:>7.2f}")
    print(f"{'host cache':<16} {'second restore (hard links)':<32} {second['seconds']:>7.3f}")
    print()
    restore_rss_mb = (
        max(max(run["rss_mib"] for run in results[(single_get, "restore")]) for single_get in _configs(args))
        * 1.048576
    )
    print(f"{'target':<66} {'measured':>18}  verdict")
    for name, paired, best in ratios:
        _verdict(
            f"restore / plain throughput >= 0.80 ({name}; paired median | best)",
            f"{paired:.2f} | {best:.2f}",
            paired >= 0.8,
        )
    _verdict("peak RSS of the restoring process < 200 MB", f"{restore_rss_mb:.0f} MB", restore_rss_mb < 200)
    _verdict(
        "second restore on the same host (hard links) < 1 s",
        f"{second['seconds']:.3f} s",
        second["seconds"] < 1,
    )
    print(f"(a process that only imports S3Hook and connects peaks at {import_only_rss * 1.048576:.0f} MB)")


def _verdict(target: str, measured: str, ok: bool) -> None:
    print(f"{target:<66} {measured:>18}  {'ok' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--part-mib", type=int, default=512, help="part size of the parallel configuration")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="parallel parts (moto needs ~2.5 GiB RAM each)"
    )
    parser.add_argument(
        "--workdir", default=None, help="where the model and the restored copies go (temp dir)"
    )
    parser.add_argument(
        "--configs",
        choices=("both", "single-get", "parallel"),
        default="both",
        help="TransferConfigs to measure (both unless you are iterating on one)",
    )
    parser.add_argument(
        "--kinds",
        type=lambda value: [kind for kind in value.split(",") if kind],
        default=list(KINDS),
        help=f"comma-separated variants to measure (plain and restore at least): {','.join(KINDS)}",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--host-cache", default="", help=argparse.SUPPRESS)
    parser.add_argument("--single-get", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not {"plain", "restore"} <= set(args.kinds) <= set(KINDS):
        parser.error(f"--kinds needs plain and restore, and only names from {','.join(KINDS)}")
    if args.child:
        result = CHILDREN[args.child](args)
        result["rss_mib"] = _peak_rss_mib()
        print(json.dumps(result))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
