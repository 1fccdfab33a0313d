"""Stage failures: a named error for the nightly, and a fault-injection hook for drills and tests.

``SOR_INJECT_FAULT`` is a comma-separated list of stage names (e.g. ``features`` or ``retrain``);
a stage listed there raises :class:`InjectedFault` when it starts. Operators use it to rehearse a
failed night; the integration tests use it to check that nothing is promoted and that a re-run
resumes where the night broke.
"""

from __future__ import annotations

import os
from datetime import date

FAULT_ENV = "SOR_INJECT_FAULT"


class StageFailed(RuntimeError):
    """A nightly stage failed; the message names the stage and the trading date."""

    def __init__(self, stage: str, day: date, cause: BaseException) -> None:
        super().__init__(f"nightly {day.isoformat()}: stage '{stage}' failed: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.day = day


class InjectedFault(RuntimeError):
    pass


#: Every stage name the nightly reports in ``StageFailed`` (and so may be named in ``SOR_INJECT_FAULT``).
STAGES = ("registry", "ingest", "features", "tca", "monitor", "retrain", "sandbox", "promote", "report")


class FaultConfigError(ValueError):
    """``SOR_INJECT_FAULT`` names a stage that does not exist."""


def injected_stages() -> set[str]:
    """The stages ``SOR_INJECT_FAULT`` names; an unknown name is refused (a misspelt drill must not
    silently run a clean night)."""
    wanted = {s.strip() for s in os.environ.get(FAULT_ENV, "").split(",") if s.strip()}
    unknown = sorted(wanted - set(STAGES))
    if unknown:
        raise FaultConfigError(f"{FAULT_ENV} names unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    return wanted


def maybe_inject(stage: str) -> None:
    if stage not in STAGES:
        raise FaultConfigError(f"maybe_inject: {stage!r} is not a nightly stage ({', '.join(STAGES)})")
    if stage in injected_stages():
        raise InjectedFault(f"fault injected into stage '{stage}' ({FAULT_ENV})")
