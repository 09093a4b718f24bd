"""How a step says a check failed: one exception carrying what was expected and what came back.

Every step raises StepFailed through expect()/expect_eq(); the runner prints it
as the step's FAIL line.
"""

from __future__ import annotations


class StepFailed(Exception):
    """A check failed: what was expected and what came back."""

    def __init__(self, expected: str, got: object):
        super().__init__(f"expected {expected}; got {got!r}")


def expect(cond: bool, expected: str, got: object) -> None:
    if not cond:
        raise StepFailed(expected, got)


def expect_eq(got: object, want: object, what: str) -> None:
    expect(got == want, f"{what} == {want!r}", got)
