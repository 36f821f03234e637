"""`edgetokens.atomic`: the one directory write behind checkpoints, bundles, QAT states and the cache."""
import os
import threading

import pytest

from edgetokens.atomic import atomic_directory


def write(target, text, exist):
    with atomic_directory(target, exist) as tmp:
        (tmp / "file.txt").write_text(text)


def test_new_replace_and_refuse(tmp_path):
    target = tmp_path / "entry"
    write(target, "one", "error")
    assert (target / "file.txt").read_text() == "one"
    with pytest.raises(FileExistsError, match="--overwrite"):
        write(target, "two", "error")
    write(target, "two", "replace")
    assert (target / "file.txt").read_text() == "two"
    assert sorted(os.listdir(tmp_path)) == ["entry"]  # no temporary or old directory left behind


def test_a_failure_leaves_the_target_and_nothing_else(tmp_path):
    target = tmp_path / "entry"
    write(target, "one", "error")
    with pytest.raises(RuntimeError):
        with atomic_directory(target, "replace") as tmp:
            (tmp / "file.txt").write_text("half")
            raise RuntimeError("export failed")
    assert (target / "file.txt").read_text() == "one" and sorted(os.listdir(tmp_path)) == ["entry"]


def test_the_target_is_never_missing_while_it_is_replaced(tmp_path):
    target = tmp_path / "entry"
    write(target, "0", "error")
    stop, missing = threading.Event(), []

    def watch():
        while not stop.is_set():
            if not (target / "file.txt").is_file():
                missing.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for i in range(50):
        write(target, str(i), "replace")
    stop.set()
    watcher.join()
    assert not missing and (target / "file.txt").read_text() == "49"


def test_concurrent_cache_writers_both_end_with_a_valid_entry(tmp_path):
    target, barrier, errors = tmp_path / "entry", threading.Barrier(4), []

    def writer(i):
        try:
            with atomic_directory(target, "keep") as tmp:
                (tmp / "file.txt").write_text(f"writer {i}")
                barrier.wait()  # all four finish their build at once
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and (target / "file.txt").read_text().startswith("writer ")
    assert sorted(os.listdir(tmp_path)) == ["entry"]


def test_unknown_policy(tmp_path):
    with pytest.raises(ValueError, match="exist must be one of"):
        with atomic_directory(tmp_path / "x", "clobber"):
            pass
