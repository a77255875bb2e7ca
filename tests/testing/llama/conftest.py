"""Fixtures of the real-engine tests: SmolLM2-135M-Instruct loaded once per module in a runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from airflow_provider_ollama.testing.emulator.llama import LlamaModel
from tests.testing.llama.support import smollm2_path, smollm2_spec


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    return smollm2_path()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def smollm2(smollm2_gguf: Path) -> AsyncIterator[LlamaModel]:
    """One loaded model for the module's tests (a load takes a few seconds here)."""
    model = await LlamaModel.load(smollm2_spec(smollm2_gguf), num_ctx=1024)
    try:
        yield model
    finally:
        await model.close()
