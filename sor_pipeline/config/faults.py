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
    maybe_pause(stage)
    if stage in injected_stages():
        raise InjectedFault(f"fault injected into stage '{stage}' ({FAULT_ENV})")


# --------------------------------------------------------------------------------------------------
# pause points: land a kill -9 (or a broken store) at a known point of a real run, deterministically
PAUSE_ENV = "SOR_PAUSE_AT"
PAUSE_DIR_ENV = "SOR_PAUSE_DIR"
#: Points inside the long stages, besides the stage starts (:data:`STAGES`): inside the retrain's MLflow
#: parent run once its venue runs are logged, and a lake partition staged but not yet published.
INNER_POINTS = ("retrain-run", "lake-publish")
_PAUSE_SEEN: dict[str, int] = {}


def maybe_pause(point: str) -> None:
    """With ``SOR_PAUSE_AT=<point>[:<n>]`` (a stage name or one of :data:`INNER_POINTS`; ``n``: the n-th
    time the point is reached, default 1) and ``SOR_PAUSE_DIR=<dir>``: write ``<dir>/<point>.paused``
    holding this pid, then wait until ``<dir>/<point>.resume`` exists. Tests and drills kill the process
    there, or break a store and let it go on. Does nothing unless both variables are set."""
    spec, folder = os.environ.get(PAUSE_ENV, ""), os.environ.get(PAUSE_DIR_ENV, "")
    if not spec or not folder:
        return
    name, _, nth = spec.partition(":")
    if name not in (*STAGES, *INNER_POINTS):
        known = ", ".join((*STAGES, *INNER_POINTS))
        raise FaultConfigError(f"{PAUSE_ENV} names unknown point {name!r}; known: {known}")
    if name != point:
        return
    _PAUSE_SEEN[point] = _PAUSE_SEEN.get(point, 0) + 1
    if _PAUSE_SEEN[point] != int(nth or 1):
        return
    import time
    from pathlib import Path

    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    (base / f"{point}.paused").write_text(str(os.getpid()))
    while not (base / f"{point}.resume").exists():
        time.sleep(0.05)
