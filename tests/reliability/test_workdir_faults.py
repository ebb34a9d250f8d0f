"""One run per workdir (a real second process holds the lock); a full or read-only disk
gives a clear error (exit 2, naming the workdir and the cause) and loses no checkpoint.

The disk faults are real OS-level faults applied to a child process (see
:mod:`tests.reliability.faults`): a file size limit (EFBIG, as a full disk gives ENOSPC)
and ``chmod a-w`` with root's permission override dropped. Each child runs several
``jaxser`` commands (imports and compilation are the slow part) and must finish: a
failed asynchronous save that hangs the process fails the test through the timeout.
"""

from __future__ import annotations

import pathlib
import textwrap

import numpy as np
import pytest
import soundfile as sf

from jaxser import cli
from jaxser.train import workdir as workdir_lib
from tests.reliability import faults, runs

pytestmark = pytest.mark.usefixtures("tiny_model")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_dir, tiny_corpus):
    workdir = tmp_path_factory.mktemp("trained")
    runs.train(workdir, tfds_dir, tiny_corpus, rising_scores=True)
    return workdir


@pytest.fixture
def run(trained, tmp_path):
    return runs.copy(trained, tmp_path / "run")


def _child(code: str, **kwargs):
    done = faults.run_python(runs.CLI_CHILD + textwrap.dedent(code) + runs.CLI_CHILD_END, timeout=240, **kwargs)
    codes = runs.child_codes(done.stdout)
    assert codes, f"the child crashed:\n{done.stderr[-6000:]}"
    return codes, runs.sections(done.stderr), done.stderr


def _unchanged(before: dict, after: dict) -> bool:
    """Every file there before is there, byte for byte (new ones may be added)."""
    return all(after.get(path) == digest for path, digest in before.items())


# -- the lock ------------------------------------------------------------------------------------


def test_second_process_on_the_same_workdir_is_refused(tmp_path, tfds_dir, capsys):
    workdir = tmp_path / "run"
    holder = faults.start_python(
        f"""
        from jaxser.train import workdir
        with workdir.locked({str(workdir)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        config = runs.config_file(tmp_path / "config.py", tfds_dir)
        assert cli.main(["train", "--config", str(config), "--workdir", str(workdir)]) == 2
        err = capsys.readouterr().err
        assert f"error: {workdir} is in use by pid {holder.pid} on " in err
        assert "wait for that run to end or use another --workdir" in err and "Traceback" not in err
        assert sorted(p.name for p in workdir.iterdir()) == [".lock"]  # nothing written
    finally:
        holder.kill()  # however the holder ends, the kernel drops its lock
        holder.wait(timeout=30)
    with workdir_lib.locked(workdir):
        pass


# -- a full disk -----------------------------------------------------------------------------


def test_full_disk_is_a_clear_error_and_keeps_every_checkpoint(run, tmp_path, tfds_dir, tiny_corpus):
    before, arrays = faults.snapshot(run / "checkpoints"), runs.arrays(run, tiny_corpus)
    config = runs.config_file(tmp_path / "config.py", tfds_dir)
    codes, out, stderr = _child(
        f"""
        # Checkpoint files are 5-8 kB, the logs stay under 4 kB: the save at step 12 fails.
        with faults.file_size_limit(4096):
            jaxser('train', '--config', {str(config)!r}, '--workdir', {str(run)!r}, '--config.train.epochs=4')
        """
    )
    assert codes == [2], stderr[-6000:]
    assert "Traceback" not in out[0]
    assert f"error: cannot write to {run}: no space left (File too large, EFBIG" in out[0]
    assert f"while writing {run / 'checkpoints'}" in out[0]
    assert "and run the command again. Training again resumes from the newest good one." in out[0]
    assert f"Checkpoints kept in {run / 'checkpoints'}: latest at steps 6, 9; best at steps 6, 9." in out[0]
    # Nothing removed or changed: the earlier checkpoints are intact, byte for byte, and
    # restore to the same arrays (the half-written step 12 lies in orbax's temporary folder).
    assert _unchanged(before, faults.snapshot(run / "checkpoints"))
    assert runs.same_arrays(runs.arrays(run, tiny_corpus), arrays)
    # With space again the run resumes and finishes (orbax replaces the half-written folder).
    _, summary = runs.train(run, tfds_dir, tiny_corpus, epochs=4)
    assert summary["steps"] == 12 and faults.steps(run / "checkpoints" / "latest") == [9, 12]


@pytest.mark.skipif(not pathlib.Path("/dev/full").exists(), reason="needs Linux' /dev/full")
def test_no_space_for_the_logs_is_a_clear_error(run, tmp_path, tfds_dir, capsys):
    """A real ENOSPC from the kernel: the metrics log leads to /dev/full."""
    before = faults.snapshot(run / "checkpoints")
    faults.no_space(run / "metrics.jsonl")
    config = runs.config_file(tmp_path / "config.py", tfds_dir)
    argv = ["train", "--config", str(config), "--workdir", str(run), "--config.train.epochs=4"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"error: cannot write to {run}: no space left (No space left on device, ENOSPC" in err
    assert "latest at steps 6, 9; best at steps 6, 9." in err
    assert _unchanged(before, faults.snapshot(run / "checkpoints"))


# -- a read-only disk ----------------------------------------------------------------------------


def test_read_only_workdir_is_a_clear_error_and_keeps_every_checkpoint(run, tmp_path, tfds_dir, tiny_corpus):
    before, arrays = faults.snapshot(run), runs.arrays(run, tiny_corpus)
    config = runs.config_file(tmp_path / "config.py", tfds_dir)
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(16000), 16000)
    train = f"'train', '--config', {str(config)!r}, '--workdir', {str(run)!r}, '--config.train.epochs=4'"
    codes, out, stderr = _child(
        f"""
        import pathlib
        run = pathlib.Path({str(run)!r})
        with faults.read_only(run):
            jaxser('predict', '--checkpoint', run, {str(wav)!r})  # reads only: works
            jaxser('evaluate', '--workdir', run)  # computes, cannot save eval.json
            jaxser({train})  # cannot even take the lock
        with faults.read_only(run / 'checkpoints'):  # only the checkpoints: fails at the first save
            jaxser({train})
        """,
        drop_root_file_access=True,
    )
    assert codes == [0, 2, 2, 2], stderr[-6000:]
    assert "Traceback" not in stderr
    assert str(wav) in out[0]
    read_only = "the folder is read-only or not writable (Permission denied, EACCES)"
    assert f"error: cannot write to {run}: {read_only} while writing {run}/" in out[1]  # a result file
    assert f"error: cannot write to {run}: {read_only} while writing {run / '.lock'}" in out[2]
    assert f"error: cannot write to {run}: {read_only} while writing {run / 'checkpoints'}" in out[3]
    assert f"Checkpoints kept in {run / 'checkpoints'}: latest at steps 6, 9; best at steps 6, 9." in out[3]
    # Nothing lost or changed: every checkpoint restores to the same arrays.
    after = faults.snapshot(run)
    assert _unchanged({k: v for k, v in before.items() if k.startswith("checkpoints/")}, after)
    assert runs.same_arrays(runs.arrays(run, tiny_corpus), arrays)
