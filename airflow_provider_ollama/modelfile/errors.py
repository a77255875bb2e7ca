"""The one error a bad Modelfile raises, carrying every problem found with its line and a fix.

Reporting all problems at once lets a user fix a Modelfile in one edit instead of one task retry per
mistake; each problem names its line so the log points at the exact place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelfileProblem:
    """One thing wrong with a Modelfile (or with the arguments given to ``build_spec``).

    ``line`` is 1-based; it is ``None`` for problems of the whole file (no FROM) or of structured
    arguments, which have no lines.
    """

    line: int | None
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message} (fix: {self.hint})"


class ModelfileError(ValueError):
    """A Modelfile failed validation; :attr:`problems` lists every problem found, in line order."""

    def __init__(self, problems: Sequence[ModelfileProblem], source: str = "<Modelfile>") -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        self.source = source
        super().__init__(self._describe())

    def _describe(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)

    def __reduce__(self) -> tuple[type[ModelfileError], tuple[list[ModelfileProblem], str]]:
        # Airflow pickles task exceptions; the default reduce would call __init__ with the message text.
        return (type(self), (self.problems, self.source))
