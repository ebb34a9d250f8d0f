"""jaxser.features.opensmile: openSMILE functionals, cached on disk by audio contents.

Fast tests use a few short generated clips; the realdata one checks our in-memory
signal path against openSMILE's own file reader on EmoDB files.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxser.data import schema
from jaxser.features import opensmile as smile

REPO = pathlib.Path(__file__).resolve().parents[2]


def _clip(seconds: float, freq: float, seed: int) -> np.ndarray:
    """A tone in noise as int16 at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    wave = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(t.size)
    return schema.to_int16(wave)


@pytest.fixture
def clips():
    return [(f"c{i}", _clip(s, f, i)) for i, (s, f) in enumerate([(0.5, 150), (0.6, 220), (0.7, 300), (0.8, 180)])]


@pytest.fixture
def calls(monkeypatch):
    """Counts openSMILE work: Smile objects made and signals processed."""
    os_module = smile.load_opensmile()
    counts = {"smile": 0, "signals": 0}
    real = os_module.Smile

    real_process = real.process_signal

    def counting_process(self, *args, **kwargs):
        counts["signals"] += 1
        return real_process(self, *args, **kwargs)

    def counting_smile(*args, **kwargs):  # a function: audobject forbids subclasses with *args
        counts["smile"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(real, "process_signal", counting_process)
    monkeypatch.setattr(os_module, "Smile", counting_smile)
    return counts


def test_extract_is09_shape_names_and_order(tmp_path, clips, calls):
    ids, X, names = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert ids == tuple(k for k, _ in clips)
    assert X.shape == (4, 384) and X.dtype == np.float32 and np.all(np.isfinite(X))
    assert len(names) == 384 and names[0] == "pcm_RMSenergy_sma_max" and len(set(names)) == 384
    assert calls == {"smile": 1, "signals": 4}  # one Smile object per call
    assert len({row.tobytes() for row in X}) == 4  # different clips, different rows
    assert (tmp_path / "gen.IS09.npz").is_file()


def test_second_call_reads_the_cache_without_opensmile(tmp_path, clips, calls):
    _, first, names = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    path = tmp_path / "gen.IS09.npz"
    before = (path.stat().st_mtime_ns, path.read_bytes())
    calls.update(smile=0, signals=0)
    ids, second, names2 = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert calls == {"smile": 0, "signals": 0}
    assert np.array_equal(first, second) and names2 == names and ids == tuple(k for k, _ in clips)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before  # a pure hit does not rewrite
    # float32 samples equal to the int16 ones are the same audio: same rows, from the cache
    as_float = [(k, (x.astype(np.float32) / 32768).astype(np.float32)) for k, x in clips]
    _, third, _ = smile.extract(as_float, "IS09", tmp_path, name="gen", progress=False)
    assert calls["signals"] == 0 and np.array_equal(third, first)


def test_changed_clip_reextracts_only_its_row(tmp_path, clips, calls):
    _, first, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    changed = list(clips)
    changed[2] = ("c2", _clip(0.7, 440, 99))
    calls.update(smile=0, signals=0)
    _, second, _ = smile.extract(changed, "IS09", tmp_path, name="gen", progress=False)
    assert calls == {"smile": 1, "signals": 1}
    keep = [0, 1, 3]
    assert np.array_equal(second[keep], first[keep])
    assert not np.array_equal(second[2], first[2])
    _, fresh, _ = smile.extract([changed[2]], "IS09", tmp_path / "fresh", name="gen", progress=False)
    np.testing.assert_array_equal(second[2], fresh[0])
    # the cache now holds the new samples' row only: going back re-extracts it
    calls.update(smile=0, signals=0)
    _, third, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert calls["signals"] == 1 and np.array_equal(third, first)
    with np.load(tmp_path / "gen.IS09.npz", allow_pickle=False) as f:
        assert sorted(f["ids"].tolist()) == ["c0", "c1", "c2", "c3"]


def test_subset_call_keeps_the_other_rows(tmp_path, clips, calls):
    _, full, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    calls.update(smile=0, signals=0)
    ids, part, _ = smile.extract(clips[1:3], "IS09", tmp_path, name="gen", progress=False)
    assert ids == ("c1", "c2") and np.array_equal(part, full[1:3])
    _, again, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert calls == {"smile": 0, "signals": 0} and np.array_equal(again, full)


def test_other_opensmile_version_never_reuses_rows(tmp_path, clips, calls, monkeypatch):
    _, first, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    monkeypatch.setattr(smile.load_opensmile(), "__version__", "0.0.0-fake")
    calls.update(smile=0, signals=0)
    _, second, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert calls == {"smile": 1, "signals": 4}
    np.testing.assert_array_equal(second, first)  # same library really: same values
    with np.load(tmp_path / "gen.IS09.npz", allow_pickle=False) as f:
        assert str(f["opensmile_version"]) == "0.0.0-fake"


def test_other_feature_set_never_reuses_rows_is11_shape(tmp_path, clips, calls):
    smile.extract(clips[:2], "IS09", tmp_path, name="gen", progress=False)
    calls.update(smile=0, signals=0)
    ids, X, names = smile.extract(clips[:2], "IS11", tmp_path, name="gen", progress=False)
    assert calls == {"smile": 1, "signals": 2}
    assert ids == ("c0", "c1") and X.shape == (2, 4368) and len(names) == 4368 and np.all(np.isfinite(X))
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["gen.IS09.npz", "gen.IS11.npz"]


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeroed bytes inside the X array: its CRC fails
    path.write_bytes(bytes(data))


def _inconsistent(path):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["X"] = arrays["X"][:, :10]  # a valid file whose arrays disagree
    np.savez(path, **arrays)


@pytest.mark.parametrize("damage", [_truncate, _garbage, _inconsistent], ids=["truncated", "bytes", "shapes"])
def test_damaged_cache_is_rebuilt_with_a_warning(tmp_path, clips, calls, damage):
    _, first, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    damage(tmp_path / "gen.IS09.npz")
    calls.update(smile=0, signals=0)
    with pytest.warns(smile.CacheWarning, match="damaged"):
        _, second, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert calls["signals"] == 4 and np.array_equal(second, first)
    calls.update(smile=0, signals=0)
    _, third, _ = smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)  # rebuilt: a hit
    assert calls["signals"] == 0 and np.array_equal(third, first)


def test_failed_write_keeps_the_old_cache(tmp_path, clips, calls, monkeypatch):
    smile.extract(clips[:2], "IS09", tmp_path, name="gen", progress=False)
    before = (tmp_path / "gen.IS09.npz").read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(smile.np, "savez", full_disk)
    with pytest.raises(OSError, match="No space"):
        smile.extract(clips, "IS09", tmp_path, name="gen", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gen.IS09.npz.lock", "gen.IS09.npz"]  # no temp file left
    assert (tmp_path / "gen.IS09.npz").read_bytes() == before


@pytest.mark.filterwarnings("ignore:Segment too short")
def test_too_short_clip_gives_nan_and_a_warning(tmp_path, clips):
    short = [("tiny", _clip(0.005, 200, 0)), clips[0]]
    with pytest.warns(smile.FeatureWarning, match="tiny"):
        _, X, _ = smile.extract(short, "IS09", tmp_path, name="gen", progress=False)
    assert np.all(np.isnan(X[0])) and np.all(np.isfinite(X[1]))


@pytest.mark.parametrize(
    "bad, match",
    [
        ([("a", np.zeros(800, np.int16)), ("a", np.zeros(800, np.int16))], "duplicate id"),
        ([("a", np.zeros((2, 800), np.int16))], "1-D"),
        ([("a", np.zeros(0, np.int16))], "1-D"),
        ([("a", np.zeros(800, np.float64))], "int16 or float32"),
        ([("a", np.full(800, np.nan, np.float32))], "NaN"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        smile.extract(bad, "IS09", tmp_path, name="gen", progress=False)


def test_unknown_feature_set_and_cache_paths(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="IS09, IS11"):
        smile.extract([], "IS10", tmp_path)
    monkeypatch.setenv(smile.CACHE_ENV, str(tmp_path / "env"))
    assert smile.cache_path("synthetic/tiny", "IS11") == tmp_path / "env" / "synthetic-tiny.IS11.npz"
    assert smile.cache_path("emodb", "IS09", tmp_path) == tmp_path / "emodb.IS09.npz"
    monkeypatch.delenv(smile.CACHE_ENV)
    assert smile.cache_dir() == pathlib.Path.home() / ".cache" / "jaxser" / "functionals"


def test_no_clips_gives_an_empty_matrix(tmp_path):
    ids, X, names = smile.extract([], "IS09", tmp_path, name="gen", progress=False)
    assert ids == () and X.shape == (0, 384) and len(names) == 384
    assert not (tmp_path / "gen.IS09.npz").exists()


def test_progress_bar_only_on_a_terminal(monkeypatch):
    assert smile._progress_bar(3, enabled=False, desc="x").disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert smile._progress_bar(3, enabled=True, desc="x").disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not smile._progress_bar(3, enabled=True, desc="x").disable


_CLEAN = """
import json, sys
import numpy as np
args = json.loads(sys.argv[1])
if args["check_import"]:
    import jaxser.features, jaxser.features.opensmile
    assert "opensmile" not in sys.modules, "import jaxser.features must not import opensmile"
    assert "tensorflow" not in sys.modules
import opensmile  # a process without TensorFlow: openSMILE's plain loading is safe
smile = opensmile.Smile(opensmile.FeatureSet.IS09, opensmile.FeatureLevel.Functionals)
if args["files"]:
    rows = [smile.process_file(f).to_numpy(np.float32)[0] for f in args["files"]]
else:
    rows = [smile.process_signal(np.load(f) / np.float32(32768), 16000).to_numpy(np.float32)[0] for f in args["arrays"]]
np.save(args["out"], np.stack(rows))
"""


def _clean_process_features(tmp_path, *, files=(), arrays=(), check_import=False) -> np.ndarray:
    """IS09 from openSMILE in a fresh interpreter that never loads TensorFlow."""
    out = tmp_path / "clean.npy"
    args = {"files": [str(f) for f in files], "arrays": [str(a) for a in arrays], "out": str(out)}
    args = json.dumps({**args, "check_import": check_import})
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", textwrap.dedent(_CLEAN), args], check=True, cwd=REPO, env=env, timeout=120)
    return np.load(out)


def test_features_in_this_process_equal_a_process_without_tensorflow(tmp_path, clips):
    """With TensorFlow loaded, whose FFT symbols openSMILE must not bind to
    (load_opensmile's RTLD_DEEPBIND), our rows equal a clean interpreter's. The clean
    interpreter also checks that importing jaxser.features leaves opensmile unimported."""
    from jaxser.data.tf_setup import tensorflow

    tensorflow()  # as any process that reads a TFDS corpus has (also when this test runs alone)
    assert "tensorflow" in sys.modules
    arrays = []
    for k, x in clips:
        np.save(tmp_path / f"{k}.npy", x)
        arrays.append(tmp_path / f"{k}.npy")
    _, X, _ = smile.extract(clips, "IS09", tmp_path / "cache", name="gen", progress=False)
    np.testing.assert_array_equal(X, _clean_process_features(tmp_path, arrays=arrays, check_import=True))


@pytest.mark.realdata
def test_signal_path_equals_opensmile_file_path_on_emodb(tmp_path, emodb_dir):
    """10 EmoDB files as the corpus stores them (jaxser.audio.load -> int16) give the
    features openSMILE computes from the files themselves."""
    folder = emodb_dir / "wav" if (emodb_dir / "wav").is_dir() else emodb_dir
    files = sorted(folder.glob("*.wav"))[::53][:10]
    assert len(files) == 10
    from jaxser import audio

    clips = [(f.stem, schema.to_int16(audio.load(f))) for f in files]
    ids, X, _ = smile.extract(clips, "IS09", tmp_path / "cache", name="emodb-sample", progress=False)
    assert ids == tuple(f.stem for f in files) and X.shape == (10, 384)
    os_module = smile.load_opensmile()
    here = os_module.Smile(os_module.FeatureSet.IS09, os_module.FeatureLevel.Functionals)
    from_files = np.stack([here.process_file(str(f)).to_numpy(np.float32)[0] for f in files])
    np.testing.assert_allclose(X, from_files, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(X, _clean_process_features(tmp_path, files=files), rtol=1e-5, atol=1e-5)


def test_two_extractions_of_one_corpus_at_once_extract_it_once(tmp_path, clips, calls):
    # Two runs started together on a fresh machine: the second waits for the first's
    # cache instead of extracting every clip again beside it.
    import threading

    import filelock

    cache = tmp_path / "cache"
    results = []

    def run():
        results.append(smile.extract(clips, "IS09", cache, name="gen", progress=False))

    lock_path = smile.cache_path("gen", "IS09", cache)
    cache.mkdir()
    with filelock.FileLock(lock_path.with_name(f".{lock_path.name}.lock")):  # a third run is extracting
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=2)
        assert all(t.is_alive() for t in threads), "extract() did not wait for the extraction in progress"
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2
    assert calls["signals"] == len(clips)  # one of them extracted; the other read its cache
    np.testing.assert_array_equal(results[0][1], results[1][1])
