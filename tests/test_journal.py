"""The journal: a loop turn's changes reach the ledger in one write, in order, before the changed
jobs' observers hear of them; a failed write still ends the turn with the jobs told."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from _core import recorded_job, statuses

from kling_nb.journal import Journal
from kling_nb.records import Line
from kling_nb.store import Ledger


class CountingLedger(Ledger):
    """The real ledger, counting its writes."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.writes: list[int] = []

    def append(self, *records: Line) -> None:
        self.writes.append(len(records))
        super().append(*records)


def in_a_loop(body: Callable[[Journal], object], ledger: Ledger) -> None:
    """Run ``body(journal)`` in one turn of a fresh loop, then let that turn end."""

    async def main() -> None:
        body(Journal(ledger, asyncio.get_running_loop()))
        await asyncio.sleep(0)

    asyncio.run(main())


def test_a_turns_changes_are_written_at_its_end_in_one_write_in_order(tmp_path: Path) -> None:
    ledger = CountingLedger(tmp_path)
    first, second = recorded_job(ledger, 2, "first"), recorded_job(ledger, 1, "second")
    ledger.writes.clear()
    during: list[list[str]] = []

    def body(journal: Journal) -> None:
        journal.write(first, first.set(first.generations[0], "queued"))
        journal.write(second, second.set(second.generations[0], "failed", error="no"))
        journal.write(first, first.set(first.generations[0], "processing"))
        during.append(statuses(tmp_path, "first"))  # nothing written before the turn ends

    in_a_loop(body, ledger)
    assert during == [["pending", "pending"]]
    assert ledger.writes == [4]  # three generation lines and second's job line, one write
    assert statuses(tmp_path, "first") == ["processing", "pending"]  # in order: the last wins
    assert statuses(tmp_path, "second") == ["failed"]
    assert Ledger(tmp_path).jobs()["second"].status == "failed"


def test_each_turn_gets_its_own_write(tmp_path: Path) -> None:
    ledger = CountingLedger(tmp_path)
    job = recorded_job(ledger)
    ledger.writes.clear()

    async def main() -> None:
        journal = Journal(ledger, asyncio.get_running_loop())
        journal.write(job, job.set(job.generations[0], "queued"))
        await asyncio.sleep(0)
        journal.write(job, job.set(job.generations[0], "processing"))
        await asyncio.sleep(0)

    asyncio.run(main())
    assert ledger.writes == [1, 1]


def test_observers_hear_once_per_turn_after_the_ledger_has_the_change(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    job = recorded_job(ledger, 2)
    heard: list[list[str]] = []
    job.observe(lambda j: heard.append(statuses(tmp_path, j.id)))

    def body(journal: Journal) -> None:
        for gen in job.generations:
            journal.write(job, job.set(gen, "queued"))
        assert heard == []  # not while the turn runs

    in_a_loop(body, ledger)
    assert heard == [["queued", "queued"]]


def test_a_change_with_nothing_to_record_still_reaches_the_observers(tmp_path: Path) -> None:
    ledger = CountingLedger(tmp_path)
    job = recorded_job(ledger)
    ledger.writes.clear()
    heard: list[str] = []
    job.observe(lambda j: heard.append(j.generations[0].status))

    def body(journal: Journal) -> None:
        job.generations[0].status = "downloading"  # shown, not recorded
        journal.write(job)

    in_a_loop(body, ledger)
    assert heard == ["downloading"]
    assert ledger.writes == []


def test_a_failed_write_tells_the_jobs_and_keeps_an_earlier_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger(tmp_path)
    plain, erred = recorded_job(ledger, 1, "plain"), recorded_job(ledger, 1, "erred")
    erred.error = "the server said no"
    ledger.close()
    ledger.path.unlink()
    ledger.path.mkdir()  # the ledger cannot be written any more
    heard: list[str] = []
    for job in (plain, erred):
        job.observe(lambda j: heard.append(j.id))

    def body(journal: Journal) -> None:
        journal.write(plain, plain.set(plain.generations[0], "queued"))
        journal.write(erred, erred.set(erred.generations[0], "queued"))

    with caplog.at_level(logging.WARNING, logger="kling_nb"):
        in_a_loop(body, ledger)
    assert heard == ["plain", "erred"]
    assert plain.error is not None and "Could not write the ledger" in plain.error
    assert erred.error == "the server said no"
    assert "Could not write the ledger" in caplog.text
