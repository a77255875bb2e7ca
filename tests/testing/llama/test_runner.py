"""Runner processes: loads that fail, slots that run in parallel, runners that die, embeddings.

Each test loads its own model (a few seconds), so they are fewer and each proves one life-cycle rule.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.emulator.llama import LlamaModel, RunnerError
from tests.testing.llama.support import process_alive, smollm2_spec, truncated, with_metadata

pytestmark = [pytest.mark.asyncio, pytest.mark.xdist_group("llama")]

GREEDY = {"temperature": 0, "seed": 1}


async def test_weights_that_do_not_load_give_ollamas_error(smollm2_gguf: Path, tmp_path: Path) -> None:
    broken = truncated(smollm2_gguf, tmp_path / "broken.gguf", 20 << 20)

    with pytest.raises(RunnerError) as failure:
        await LlamaModel.load(smollm2_spec(broken), num_ctx=512)

    assert failure.value.status_code == 500
    assert failure.value.message.startswith("llama runner process has terminated: exit status 1: ")
    assert "error loading model: tensor" in failure.value.message
    assert "not within the file bounds" in failure.value.message


async def test_closing_a_model_ends_its_runner(smollm2_gguf: Path) -> None:
    model = await LlamaModel.load(smollm2_spec(smollm2_gguf), num_ctx=512)
    pid = model.runner.pid
    assert process_alive(pid)

    await model.close()

    assert not process_alive(pid)
    with pytest.raises(RunnerError, match="llama runner process has terminated"):
        await model.tokenize("hi")


async def test_a_runner_that_dies_mid_answer_is_an_error_not_a_hang(smollm2_gguf: Path) -> None:
    model = await LlamaModel.load(smollm2_spec(smollm2_gguf), num_ctx=512)
    try:
        answers = model.generate("Tell a long story.", options={**GREEDY, "num_predict": 200})
        first = await anext(answers)
        assert not first.done
        os.kill(model.runner.pid, signal.SIGKILL)

        with pytest.raises(RunnerError, match="model runner has unexpectedly stopped"):
            async for _ in answers:
                pass
    finally:
        await model.close()


async def test_parallel_slots_answer_two_requests_at_once(smollm2_gguf: Path) -> None:
    model = await LlamaModel.load(smollm2_spec(smollm2_gguf), num_ctx=512, num_parallel=2)
    events: list[tuple[str, bool]] = []  # (request, done) in the order the answers arrived

    async def ask(name: str) -> None:
        async for answer in model.generate(f"Say {name}.", options={**GREEDY, "num_predict": 12}):
            events.append((name, answer.done))

    try:
        await asyncio.gather(ask("one"), ask("two"))
    finally:
        await model.close()

    first_done = next(index for index, (_, done) in enumerate(events) if done)
    # both had streamed tokens before either had its last one: two slots, not a queue
    assert {name for name, _ in events[:first_done]} == {"one", "two"}
    assert sorted(name for name, done in events if done) == ["one", "two"]


async def test_a_model_with_a_pooling_type_gives_embeddings(smollm2_gguf: Path, tmp_path: Path) -> None:
    pooled = with_metadata(smollm2_gguf, tmp_path / "pooled.gguf", "llama.pooling_type", 1)  # mean
    model = await LlamaModel.load(smollm2_spec(pooled, embedding=True), num_ctx=512)
    try:
        cat, tokens = await model.embed("The cat sat on the mat.")
        kitten, _ = await model.embed("A kitten sits on a rug.")
        tax, _ = await model.embed("Quarterly tax filing deadlines.")
        expected_tokens = len(await model.tokenize("The cat sat on the mat."))
    finally:
        await model.close()

    assert len(cat) == 576  # SmolLM2-135M's embedding length
    assert tokens == expected_tokens
    assert math.isclose(math.fsum(value * value for value in cat), 1.0, rel_tol=1e-3)  # normalised

    def cosine(left: list[float], right: list[float]) -> float:
        return math.fsum(a * b for a, b in zip(left, right, strict=True))

    assert cosine(cat, kitten) > cosine(cat, tax)
