"""Per-task server settings: the GPU selection table, keep_alive, validation, and the environment built."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_ollama.server.settings import (
    LocalServer,
    build_server_environment,
    format_keep_alive,
    gpu_environment,
    uses_cpu_only,
)

CPU_ONLY = {
    "CUDA_VISIBLE_DEVICES": "-1",
    "HIP_VISIBLE_DEVICES": "-1",
    "ROCR_VISIBLE_DEVICES": "-1",
    "GGML_VK_VISIBLE_DEVICES": "-1",
}


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        ("all", {}),
        ("ALL", {}),
        (None, CPU_ONLY),
        ("none", CPU_ONLY),
        ("cpu", CPU_ONLY),
        ([], CPU_ONLY),
        (
            [0],
            {
                "CUDA_VISIBLE_DEVICES": "0",
                "ROCR_VISIBLE_DEVICES": "0",
                "HIP_VISIBLE_DEVICES": None,
                "GGML_VK_VISIBLE_DEVICES": "0",
            },
        ),
        (
            [1, "2"],
            {
                "CUDA_VISIBLE_DEVICES": "1,2",
                "ROCR_VISIBLE_DEVICES": "1,2",
                "HIP_VISIBLE_DEVICES": None,
                "GGML_VK_VISIBLE_DEVICES": "1,2",
            },
        ),
        (
            "0, 3",
            {
                "CUDA_VISIBLE_DEVICES": "0,3",
                "ROCR_VISIBLE_DEVICES": "0,3",
                "HIP_VISIBLE_DEVICES": None,
                "GGML_VK_VISIBLE_DEVICES": "0,3",
            },
        ),
        (
            ["GPU-8f3c1d2e-0000-1111-2222-333344445555"],
            {
                "CUDA_VISIBLE_DEVICES": "GPU-8f3c1d2e-0000-1111-2222-333344445555",
                "ROCR_VISIBLE_DEVICES": "GPU-8f3c1d2e-0000-1111-2222-333344445555",
                "HIP_VISIBLE_DEVICES": None,
                # Vulkan selects by index only.
                "GGML_VK_VISIBLE_DEVICES": None,
            },
        ),
    ],
)
def test_gpu_selection_maps_to_every_vendors_visibility_variable(gpus, expected):
    assert gpu_environment(gpus) == expected


@pytest.mark.parametrize("gpus", [[-1], ["0,1"], [True], ["GPU 0"], [1.5], "0;1"])
def test_invalid_gpu_selection_is_rejected_with_the_accepted_forms(gpus):
    with pytest.raises(ValueError, match="gpus"):
        gpu_environment(gpus)


def test_only_an_empty_selection_means_cpu_only():
    assert uses_cpu_only(None)
    assert uses_cpu_only("none")
    assert not uses_cpu_only("all")
    assert not uses_cpu_only([0])


@pytest.mark.parametrize(
    ("keep_alive", "expected"),
    [
        (-1, "-1"),
        (300, "300"),
        (1.5, "1.5s"),
        ("10m", "10m"),
        ("1h30m", "1h30m"),
        ("-1", "-1"),
        ("600", "600"),
        (timedelta(minutes=2), "120"),
    ],
)
def test_keep_alive_is_written_the_way_ollama_keep_alive_reads_it(keep_alive, expected):
    assert format_keep_alive(keep_alive) == expected


@pytest.mark.parametrize("keep_alive", ["ten minutes", "5 m", True, float("inf")])
def test_invalid_keep_alive_is_rejected(keep_alive):
    with pytest.raises(ValueError, match="keep_alive"):
        format_keep_alive(keep_alive)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_parallel": 0}, "num_parallel"),
        ({"max_loaded_models": -2}, "max_loaded_models"),
        ({"context_length": True}, "context_length"),
        ({"kv_cache_type": "q5"}, "kv_cache_type"),
        ({"env": {"OLLAMA_HOST": "0.0.0.0:80"}}, "port="),
        ({"env": {"OLLAMA_MODELS": "/models"}}, "models_dir="),
        ({"env": {"OLLAMA_DEBUG": 1}}, "strings"),
        ({"env": "OLLAMA_DEBUG=1"}, "env: expected a dict"),
        ({"gpus": [-3]}, "gpus"),
        ({"require_gpu": True, "gpus": "none"}, "contradicts"),
        ({"models_dir": 3}, "models_dir: expected a path"),
        ({"keep_alive": "{{ params.keep_alive }}"}, "keep_alive is still a template"),
    ],
)
def test_bad_settings_fail_validation_naming_the_setting(kwargs, message):
    settings = LocalServer(**kwargs)  # a value to render first: kept as given
    with pytest.raises(ValueError, match=message):
        settings.validate()


def test_settings_are_airflow_template_fields_and_show_no_environment_values():
    assert {"models_dir", "keep_alive", "num_parallel", "env", "binary"} <= set(LocalServer.template_fields)
    settings = LocalServer(num_parallel=2, env={"HTTPS_PROXY": "http://user:secret@proxy:3128"})
    assert repr(settings) == "LocalServer(num_parallel=2, env={...})"
    assert "secret" not in str(settings)
    assert repr(LocalServer()) == "LocalServer()"


@pytest.mark.parametrize(
    "env",
    [
        {"HTTPS_PROXY": "http://user:secret@proxy:3128", "HF_TOKEN": "{{ var.value.hf_token }}"},
        {"HTTPS_PROXY": "http://user:secret@proxy:3128", "RETRIES": 12345},
    ],
    ids=["a value still a template", "a value not a string"],
)
def test_a_bad_environment_fails_without_showing_any_of_its_values(env):
    with pytest.raises(ValueError, match="env") as raised:
        LocalServer(env=env).validate()
    assert "secret" not in str(raised.value)
    assert "var.value" not in str(raised.value)
    assert "12345" not in str(raised.value)


def test_settings_become_ollama_variables():
    settings = LocalServer(
        keep_alive=-1,
        num_parallel=4,
        max_loaded_models=2,
        context_length=8192,
        flash_attention=True,
        kv_cache_type="q8_0",
        gpus=[0],
    )
    variables = settings.ollama_variables()
    assert {name: variables[name] for name in variables if name.startswith("OLLAMA_")} == {
        "OLLAMA_KEEP_ALIVE": "-1",
        "OLLAMA_NUM_PARALLEL": "4",
        "OLLAMA_MAX_LOADED_MODELS": "2",
        "OLLAMA_CONTEXT_LENGTH": "8192",
        "OLLAMA_FLASH_ATTENTION": "1",
        "OLLAMA_KV_CACHE_TYPE": "q8_0",
    }
    assert variables["CUDA_VISIBLE_DEVICES"] == "0"


def test_environment_owns_host_models_and_home_and_keeps_the_workers_path(tmp_path: Path):
    base = {
        "PATH": "/usr/bin",
        "OLLAMA_HOST": "0.0.0.0:11434",
        "OLLAMA_MODELS": "/srv/models",
        "HOME": "/root",
        "HIP_VISIBLE_DEVICES": "1",
    }
    environment = build_server_environment(
        LocalServer(gpus=[0], env={"OLLAMA_DEBUG": "1"}),
        host="127.0.0.1:0",
        models_dir=tmp_path / "models",
        home=tmp_path / "home",
        shared_store=False,
        base=base,
    )
    assert environment["PATH"] == "/usr/bin"
    assert environment["OLLAMA_HOST"] == "127.0.0.1:0"
    assert environment["OLLAMA_MODELS"] == str(tmp_path / "models")
    assert environment["HOME"] == str(tmp_path / "home")
    assert environment["OLLAMA_DEBUG"] == "1"
    assert "HIP_VISIBLE_DEVICES" not in environment
    assert "OLLAMA_NOPRUNE" not in environment


def test_shared_store_turns_pruning_off(tmp_path: Path):
    environment = build_server_environment(
        LocalServer(), host="127.0.0.1:0", models_dir=tmp_path, home=tmp_path, shared_store=True, base={}
    )
    assert environment["OLLAMA_NOPRUNE"] == "1"


def test_all_gpus_leaves_the_workers_device_variables_alone(tmp_path: Path):
    environment = build_server_environment(
        LocalServer(gpus="all"),
        host="127.0.0.1:0",
        models_dir=tmp_path,
        home=tmp_path,
        shared_store=False,
        base={"CUDA_VISIBLE_DEVICES": "GPU-abc"},
    )
    assert environment["CUDA_VISIBLE_DEVICES"] == "GPU-abc"
