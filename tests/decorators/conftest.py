"""The reference server of the operator tests, for the answers a decorated task must get."""

from __future__ import annotations

from tests.operators.batch_reference import batch_reference

__all__ = ["batch_reference"]
