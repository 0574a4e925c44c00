"""The analysis cache: unchanged re-uploads answered without a worker, and nothing stale; and
the worker pool forking a spare's replacement after its job, not during it.

The key function and the LRU bounds are tested directly (``analysis_cache.py`` is standard
library only); everything else against a real ``ot2-sim`` over real HTTP, reading its
``GET /simulator/analysis-cache`` counters: ``workerJobs`` (jobs handed to worker processes)
and ``workersForked`` say whether an upload used a worker. The simulator runs with
``spare_workers=0``, so a worker is forked exactly when a job needs one and the counters
cannot move on their own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ot2_notebook.simulator import SimulatorHandle, start
from ot2_notebook.simulator.analysis_cache import AnalysisCache, CacheSettings, analysis_key
from tests.conftest import PROTOCOLS, Api, wait_until

SETTINGS = CacheSettings(
    opentrons_version="8.7.0",
    python_version="3.11.9",
    simulator_version="0.1.0",
    robot_software=4,
    max_api_level=None,
)
BUNDLE = [("protocol.py", b"metadata = {'apiLevel': '2.13'}\n"), ("helpers.py", b"X = 1\n")]


def key(files: list[tuple[str, bytes]] = BUNDLE, settings: CacheSettings = SETTINGS) -> str:
    return analysis_key("protocol.py", files, settings)


# -- the key -------------------------------------------------------------------------------------


def test_the_key_depends_on_the_files_not_their_order() -> None:
    assert key(list(reversed(BUNDLE))) == key()
    assert len(key()) == 64


@pytest.mark.parametrize(
    "changed",
    [
        [("protocol.py", BUNDLE[0][1] + b"\n"), BUNDLE[1]],  # a protocol byte
        [BUNDLE[0], ("helpers.py", b"X = 2\n")],  # a support file's byte
        [*BUNDLE, ("data.csv", b"a,b\n")],  # a file added
        [BUNDLE[0]],  # a file removed
        [BUNDLE[0], ("helper.py", BUNDLE[1][1])],  # a file renamed
        [BUNDLE[0], ("helpers.py", b"")],  # a file emptied
    ],
    ids=["protocol-byte", "support-byte", "added", "removed", "renamed", "emptied"],
)
def test_any_change_to_the_files_changes_the_key(changed: list[tuple[str, bytes]]) -> None:
    assert key(changed) != key()


def test_which_file_is_the_protocol_is_part_of_the_key() -> None:
    assert analysis_key("helpers.py", BUNDLE, SETTINGS) != key()


def test_bytes_cannot_slide_between_names_and_contents() -> None:
    """Length framing: moving bytes from a name into the content is another bundle."""
    assert key([("ab", b"c")]) != key([("a", b"bc")])


@pytest.mark.parametrize(
    "settings",
    [
        replace(SETTINGS, max_api_level=(2, 11)),
        replace(SETTINGS, hardware=("magneticModuleV2@1",)),
        replace(SETTINGS, opentrons_version="8.8.2"),
        replace(SETTINGS, python_version="3.12.1"),
        replace(SETTINGS, simulator_version="0.2.0"),
        replace(SETTINGS, robot_software=8),
    ],
    ids=["api-level-limit", "hardware", "opentrons", "python", "simulator", "robot-software"],
)
def test_every_setting_is_part_of_the_key(settings: CacheSettings) -> None:
    assert key(settings=settings) != key()


# -- the bounds ----------------------------------------------------------------------------------


def sized_cache(**bounds: int) -> AnalysisCache[str]:
    cache: AnalysisCache[str] = AnalysisCache(size_of=len, **bounds)
    cache.configure(SETTINGS)
    return cache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = sized_cache(max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("c", "C")
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == ("A", "C")
    stats = cache.stats()
    assert (stats.entries, stats.evictions, stats.hits, stats.misses) == (2, 1, 3, 1)


def test_the_byte_bound_evicts_and_an_oversized_result_is_not_kept() -> None:
    cache = sized_cache(max_entries=10, max_bytes=10)
    cache.put("a", "x" * 6)
    cache.put("b", "y" * 4)
    assert cache.stats().bytes == 10
    cache.put("c", "z")
    assert cache.get("a") is None and cache.get("b") == "y" * 4 and cache.get("c") == "z"
    assert cache.stats().bytes == 5
    cache.put("d", "w" * 11)
    assert cache.get("d") is None and cache.stats().entries == 2


def test_replacing_an_entry_counts_its_bytes_once() -> None:
    cache = sized_cache(max_bytes=100)
    cache.put("a", "x" * 30)
    cache.put("a", "x" * 40)
    assert (cache.stats().entries, cache.stats().bytes) == (1, 40)


def test_new_settings_drop_every_entry_and_no_settings_cache_nothing() -> None:
    cache = sized_cache()
    cache.put(cache.key("protocol.py", BUNDLE), "A")
    cache.configure(SETTINGS)  # the same settings again: kept
    assert cache.get(cache.key("protocol.py", BUNDLE)) == "A"
    cache.configure(replace(SETTINGS, opentrons_version="8.8.2"))
    assert cache.stats().entries == 0
    assert cache.get(cache.key("protocol.py", BUNDLE)) is None
    unset: AnalysisCache[str] = AnalysisCache()
    assert unset.key("protocol.py", BUNDLE) is None and not unset.enabled


def test_zero_entries_turns_the_cache_off() -> None:
    cache = sized_cache(max_entries=0)
    assert cache.key("protocol.py", BUNDLE) is None
    cache.put("a", "A")
    assert cache.get("a") is None and cache.stats().entries == 0


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        AnalysisCache(max_entries=-1)


# -- a real simulator ----------------------------------------------------------------------------

TRANSFER = [
    ("basic_transfer.py", (PROTOCOLS / "basic_transfer.py").read_bytes()),
    ("helpers.py", (PROTOCOLS / "helpers.py").read_bytes()),
    ("basic_transfer_config.json", (PROTOCOLS / "basic_transfer_config.json").read_bytes()),
]


@pytest.fixture(scope="module")
def cached_sim() -> Iterator[SimulatorHandle]:
    with start(port=0, spare_workers=0, max_protocols=20, analysis_cache=3) as handle:
        yield handle


@pytest.fixture
def api(cached_sim: SimulatorHandle) -> Iterator[Api]:
    with Api(cached_sim.url) as session:
        yield session
        session.clean()


def counters(api: Api) -> dict[str, int]:
    reply = api.get("/simulator/analysis-cache")
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["data"])


def upload(api: Api, files: list[tuple[str, bytes]], *, keep: bool = False) -> dict[str, Any]:
    """Upload (protocol first), return the protocol resource; deleted again unless ``keep``."""
    parts = [("protocolFile", files[0])] + [("supportFiles", f) for f in files[1:]]
    reply = api.post("/protocols", files=parts)
    assert reply.status_code == 201, reply.text
    data = dict(reply.json()["data"])
    if not keep:
        assert api.delete(f"/protocols/{data['id']}").status_code == 200
    return data


def analysed(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("requiredEquipment", "metadata", "errors", "estimatedDuration")}


def uses_worker(api: Api, files: list[tuple[str, bytes]]) -> tuple[bool, dict[str, Any]]:
    """Upload ``files``; whether that took a worker job (and a fork), and the resource."""
    before = counters(api)
    data = upload(api, files)
    after = counters(api)
    jobs = after["workerJobs"] - before["workerJobs"]
    forks = after["workersForked"] - before["workersForked"]
    assert jobs == forks, (before, after)  # no spares: one fork per job, none on their own
    assert after["hits"] + after["misses"] == before["hits"] + before["misses"] + 1
    return jobs == 1, data


def test_an_unchanged_reupload_is_answered_without_a_worker(api: Api) -> None:
    first_used, first = uses_worker(api, TRANSFER)
    assert first_used
    used, second = uses_worker(api, TRANSFER)
    assert not used, "the unchanged re-upload forked a worker"
    assert analysed(second) == analysed(first)
    assert first["errors"] == [] and first["requiredEquipment"]["pipettes"]
    assert second["id"] == first["id"] and second["supportFiles"] == first["supportFiles"]


def test_support_files_in_another_order_are_the_same_bundle(api: Api) -> None:
    uses_worker(api, TRANSFER)
    used, _ = uses_worker(api, [TRANSFER[0], TRANSFER[2], TRANSFER[1]])
    assert not used


def test_an_analysis_error_is_kept_and_given_again(api: Api) -> None:
    files = [("syntax_error.py", (PROTOCOLS / "syntax_error.py").read_bytes())]
    used, first = uses_worker(api, files)
    assert used and first["errors"] and first["errors"][0]["type"] == "SyntaxError"
    used, again = uses_worker(api, files)
    assert not used
    assert again["errors"] == first["errors"]


def transfers(config: dict[str, Any], count: int) -> bytes:
    changed = dict(config, transfers=config["transfers"][:1] * count)
    return json.dumps(changed).encode()


@pytest.mark.parametrize("change", ["support-bytes", "added", "removed", "renamed", "protocol"])
def test_any_change_to_the_bundle_is_analysed_again(api: Api, change: str) -> None:
    config = json.loads(TRANSFER[2][1])
    own = (TRANSFER[0][0], TRANSFER[0][1] + f"# {change}\n".encode())  # a bundle per case
    base = [own, TRANSFER[1], ("basic_transfer_config.json", transfers(config, 2))]
    if change == "support-bytes":
        changed = [*base[:2], ("basic_transfer_config.json", transfers(config, 3))]
    elif change == "added":
        changed = [*base, ("notes.txt", b"added\n")]
    elif change == "removed":
        base = [*base, ("notes.txt", b"added\n")]
        changed = base[:3]
    elif change == "renamed":
        base = [*base, ("notes.txt", b"added\n")]
        changed = [*base[:3], ("notes.md", b"added\n")]
    else:
        changed = [(base[0][0], base[0][1] + b"\n# changed\n"), *base[1:]]
    _, first = uses_worker(api, base)
    assert not first["errors"], first["errors"]
    assert not uses_worker(api, base)[0]  # the unchanged bundle is cached...
    used, second = uses_worker(api, changed)
    assert used, f"a bundle with a change ({change}) was answered from the cache"  # ...this not
    if change in ("removed", "renamed", "added"):
        assert {f["basename"] for f in second["supportFiles"]} == {n for n, _ in changed[1:]}
    if change == "support-bytes":  # the new analysis reflects the new file: more steps
        assert second["estimatedDuration"] > first["estimatedDuration"]


def test_a_patched_file_is_analysed_again_and_patching_back_hits(api: Api) -> None:
    config = json.loads(TRANSFER[2][1])
    original = [TRANSFER[0], TRANSFER[1], ("basic_transfer_config.json", transfers(config, 4))]
    data = upload(api, original, keep=True)
    before = counters(api)
    reply = api.patch(
        f"/protocols/{data['id']}",
        files={"file": ("basic_transfer_config.json", transfers(config, 5))},
    )
    assert reply.status_code == 200, reply.text
    assert counters(api)["workerJobs"] == before["workerJobs"] + 1
    patched = reply.json()["data"]
    assert patched["estimatedDuration"] > data["estimatedDuration"]
    reply = api.patch(f"/protocols/{data['id']}", files={"file": original[2]})
    assert reply.status_code == 200, reply.text
    after = counters(api)
    assert after["workerJobs"] == before["workerJobs"] + 1, "patching back forked a worker"
    assert after["hits"] == before["hits"] + 1
    assert analysed(reply.json()["data"]) == analysed(data)


def test_the_cache_is_bounded_least_recently_used_first(api: Api) -> None:
    """``analysis_cache=3``: a fourth bundle evicts the least recently used one."""
    bundles = [
        [(f"bounded_{n}.py", b"metadata = {'apiLevel': '2.13'}\ndef run(ctx):\n    pass\n")]
        for n in range(4)
    ]
    for bundle in bundles[:3]:
        assert uses_worker(api, bundle)[0]
    assert not uses_worker(api, bundles[0])[0]  # bundle 0 is now the most recently used
    evictions = counters(api)["evictions"]
    assert uses_worker(api, bundles[3])[0]  # evicts bundle 1
    stats = counters(api)
    assert stats["evictions"] == evictions + 1
    assert stats["entries"] == 3 and stats["maxEntries"] == 3 and stats["bytes"] > 0
    assert uses_worker(api, bundles[1])[0], "the evicted bundle was still cached"
    assert not uses_worker(api, bundles[3])[0]


def test_sessions_still_run_in_a_worker(api: Api) -> None:
    upload(api, TRANSFER)
    data = upload(api, TRANSFER, keep=True)
    before = counters(api)["workerJobs"]
    session_id = api.create_session(data["id"])
    api.wait_for_state(session_id, "loaded")
    assert counters(api)["workerJobs"] == before + 1
    assert api.command(session_id, "protocol.startRun").status_code == 200
    api.wait_for_state(session_id, "finished")
    assert counters(api)["workerJobs"] == before + 2
    api.delete(f"/sessions/{session_id}")


def test_a_timeout_is_not_kept(tmp_path: Path) -> None:
    """A failure of the simulator around the protocol depends on the moment: tried again."""
    files = [("loops_forever.py", (PROTOCOLS / "loops_forever.py").read_bytes())]
    with start(port=0, spare_workers=0, analysis_timeout=3) as handle, Api(handle.url) as api:
        used, first = uses_worker(api, files)
        assert used and first["errors"][0]["type"] == "AnalysisTimeout", first["errors"]
        used, _ = uses_worker(api, files)
        assert used, "a timed-out analysis was answered from the cache"
        assert counters(api)["entries"] == 0


def test_zero_entries_turns_the_cache_off_over_http() -> None:
    with start(port=0, spare_workers=0, analysis_cache=0) as handle, Api(handle.url) as api:
        assert uses_worker(api, TRANSFER)[0]
        assert uses_worker(api, TRANSFER)[0]
        assert counters(api)["maxEntries"] == 0


def test_a_spare_is_replaced_after_the_job_not_while_it_runs() -> None:
    """The worker pool forks the replacement of a spare once the job that took it has ended
    (``pool.py``): while a 1.5 s analysis runs, nothing is forked; afterwards the spare is.
    Two spares, so one is left during the job (with none left the refill starts at once)."""
    files = [("slow_load.py", (PROTOCOLS / "slow_load.py").read_bytes())]
    with start(port=0, spare_workers=2) as handle, Api(handle.url) as api:
        wait_until(lambda: counters(api)["workersForked"] == counters(api)["workerJobs"] + 2)
        before = counters(api)
        answers: list[dict[str, Any]] = []
        upload_thread = threading.Thread(target=lambda: answers.append(upload(api, files)))
        upload_thread.start()
        wait_until(lambda: counters(api)["workerJobs"] == before["workerJobs"] + 1)
        forks_seen = []
        while upload_thread.is_alive():
            forks_seen.append(counters(api)["workersForked"])
            upload_thread.join(timeout=0.1)
        assert answers and not answers[0]["errors"], answers
        # the last samples were taken after the analysis ended, when the refill may start
        assert forks_seen[: len(forks_seen) // 2], "the analysis ended before it was sampled"
        assert set(forks_seen[: len(forks_seen) // 2]) == {before["workersForked"]}
        wait_until(lambda: counters(api)["workersForked"] == before["workersForked"] + 1)
