"""jaxser.data.corpora.builder: one build of a corpus when several runs start at once."""

from __future__ import annotations

import threading

import filelock

from jaxser.data import corpora


def _files(root):
    return {p: p.stat().st_mtime_ns for p in (root / "synthetic").rglob("*") if p.is_file()}


def test_a_build_in_progress_is_waited_for_then_read_not_rebuilt(tmp_path):
    got = {}

    def second_run():
        try:
            got["corpus"] = corpora.builder("synthetic", tmp_path, config="tiny", download_and_prepare=True)
        except BaseException as e:  # surfaces in the main thread's assertion
            got["error"] = e

    # The test holds the lock as the first run would while it builds.
    with filelock.FileLock(tmp_path / ".synthetic.lock"):
        waiter = threading.Thread(target=second_run)
        waiter.start()
        waiter.join(timeout=3)
        assert waiter.is_alive(), f"builder() did not wait for the build in progress: {got}"
        corpora.builder("synthetic", tmp_path, config="tiny").download_and_prepare()
        built = _files(tmp_path)
    waiter.join(timeout=120)
    assert not waiter.is_alive() and "error" not in got, got
    corpus = got["corpus"]
    assert corpus.is_prepared()
    assert corpus.info.splits["train"].num_examples == 48  # read from the finished build
    assert len(list(corpus.as_dataset(split="train"))) == 48
    assert _files(tmp_path) == built  # nothing rebuilt or rewritten


def test_a_built_corpus_takes_no_lock(tmp_path):
    # A corpus built elsewhere may sit in a folder the user cannot write: no lock file then.
    corpora.builder("synthetic", tmp_path, config="tiny").download_and_prepare()
    corpus = corpora.builder("synthetic", tmp_path, config="tiny", download_and_prepare=True)
    assert corpus.is_prepared()
    assert not (tmp_path / ".synthetic.lock").exists()
