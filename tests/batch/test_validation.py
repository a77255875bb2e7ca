"""Argument checks that run before any request: each bad input fails at once with a message naming the fix."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.batch import (
    validate_conversations,
    validate_embed_inputs,
    validate_max_concurrency,
    validate_on_error,
    validate_prompts,
)


def test_one_prompt_becomes_a_batch_of_one() -> None:
    assert validate_prompts(prompt="hello") == ["hello"]


def test_prompts_pass_through_in_order() -> None:
    items = ["a", {"prompt": "b", "images": ["aW1n"]}]
    assert validate_prompts(prompts=items) == items


def test_prompt_and_prompts_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"either prompt \(one\) or prompts \(a list\), not both"):
        validate_prompts(prompt="a", prompts=["b"])


def test_neither_prompt_nor_prompts_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to generate"):
        validate_prompts()


def test_an_empty_prompts_list_is_refused() -> None:
    with pytest.raises(ValueError, match="prompts is empty"):
        validate_prompts(prompts=[])


def test_empty_prompts_are_refused_with_their_indices() -> None:
    with pytest.raises(ValueError, match=r"2 prompt\(s\) are empty \(index 1, 3\).*'load the model'"):
        validate_prompts(prompts=["a", "", "c", ""])


def test_a_string_given_as_prompts_is_refused() -> None:
    with pytest.raises(
        TypeError, match="prompts must be a list of strings, not str; for one prompt use prompt="
    ):
        validate_prompts(prompts="hello")


def test_a_non_string_prompt_is_refused_with_its_index() -> None:
    with pytest.raises(TypeError, match="prompt 1 must be a string"):
        validate_prompts(prompts=["a", 3])


def test_an_item_dict_with_unknown_keys_is_refused() -> None:
    with pytest.raises(ValueError, match=r"prompt 0 has unknown keys \['system'\]"):
        validate_prompts(prompts=[{"prompt": "a", "system": "x"}])


def test_conversations_must_each_be_a_list_of_messages_with_roles() -> None:
    assert validate_conversations([[{"role": "user", "content": "hi"}]]) == [
        [{"role": "user", "content": "hi"}]
    ]
    with pytest.raises(TypeError, match=r"conversation 0 must be a list of message dicts.*wrap it in a list"):
        validate_conversations([{"role": "user", "content": "hi"}])
    with pytest.raises(ValueError, match="conversation 1 has no messages"):
        validate_conversations([[{"role": "user", "content": "hi"}], []])
    with pytest.raises(ValueError, match="conversation 0, message 0 must be a dict with a 'role'"):
        validate_conversations([[{"content": "hi"}]])


def test_embed_inputs_must_be_non_empty_strings() -> None:
    assert validate_embed_inputs("one") == ["one"]
    with pytest.raises(ValueError, match="input is empty"):
        validate_embed_inputs([])
    with pytest.raises(ValueError, match=r"1 input\(s\) are empty \(index 1\)"):
        validate_embed_inputs(["a", ""])
    with pytest.raises(TypeError, match="index 0 is not"):
        validate_embed_inputs([1])


@pytest.mark.parametrize("bad", [0, -1])
def test_max_concurrency_below_one_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match=r"at least 1.*OLLAMA_NUM_PARALLEL"):
        validate_max_concurrency(bad)


def test_max_concurrency_must_be_an_integer() -> None:
    with pytest.raises(TypeError, match="must be an integer, not str"):
        validate_max_concurrency("8")
    with pytest.raises(TypeError):
        validate_max_concurrency(True)


def test_on_error_takes_fail_or_collect_only() -> None:
    assert validate_on_error("collect") == "collect"
    with pytest.raises(ValueError, match=r"on_error='skip' is not supported: use 'fail'.*or 'collect'"):
        validate_on_error("skip")
