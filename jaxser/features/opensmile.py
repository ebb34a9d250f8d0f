"""Host-side openSMILE functionals (IS09, IS11), cached on disk by audio contents.

    from jaxser.features import opensmile

    ids, X, names = opensmile.extract(clips, "IS09", name="emodb")   # clips: (id, samples) pairs
    X.shape                                                          # (len(clips), 384), float32

The rest of :mod:`jaxser.features` runs on the device inside the jitted step; openSMILE
is a C++ library that runs on the host, one clip at a time, so its features are
computed once and cached. One cache file per (corpus ``name``, feature set),
``<cache_dir>/<name>.<feature set>.npz``, holds for every row the SHA-256 of the
clip's samples, its id and its features, and (in the same file) the feature set, the
openSMILE version and the sample rate. A later call reads the rows whose samples hash
the same and extracts only new or changed clips; a cache written by another openSMILE
version or for another feature set is never reused. The file is replaced atomically
(temp file + ``os.replace``), so a killed run leaves the old cache or the new one;
one that does not read back (truncated, damaged, inconsistent) is rebuilt with a
:class:`CacheWarning`. Two processes extracting one corpus at once take turns (a lock
file beside the cache): the second reads what the first wrote. A clip too short for
openSMILE's windows gets NaN features and a :class:`FeatureWarning` naming it. Files are
plain ``.npz`` (string and float arrays), loaded with ``allow_pickle=False``.

Samples are int16 (read as ``x / 32768``, what openSMILE's own file reader gives for
16-bit audio) or float32 in [-1, 1], mono, at 16 kHz (:data:`SAMPLE_RATE`). The hash
is taken over the float32 signal handed to openSMILE, so an int16 clip and its
float32 equivalent share one cache row.

``opensmile`` is imported on the first call, so ``import jaxser.features`` stays light,
through :func:`load_opensmile`: in a process that has loaded TensorFlow, openSMILE's C
library must be loaded with ``RTLD_DEEPBIND`` or it calls TensorFlow's FFT and crashes.
Import ``opensmile`` yourself only through that function.
The cache lives in ``~/.cache/jaxser/functionals`` unless ``cache_dir`` or
``$JAXSER_FEATURE_CACHE`` says otherwise.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import pathlib
import platform
import re
import sys
import warnings
from collections.abc import Iterable
from typing import Any

import filelock
import numpy as np

from jaxser import atomic_file

SAMPLE_RATE = 16000

# Our name -> (opensmile.FeatureSet member, number of functionals).
FEATURE_SETS: dict[str, tuple[str, int]] = {
    "IS09": ("IS09", 384),  # is09-13/IS09_emotion: the INTERSPEECH 2009 Emotion Challenge set
    "IS11": ("IS11", 4368),  # is09-13/IS11_speaker_state: the INTERSPEECH 2011 Speaker State Challenge set
}

CACHE_ENV = "JAXSER_FEATURE_CACHE"
DEFAULT_CACHE_DIR = pathlib.Path.home() / ".cache" / "jaxser" / "functionals"
_FORMAT = 1  # bump when the cache layout changes: older files are then rebuilt


class CacheWarning(UserWarning):
    """A cache file that could not be read back; it is rebuilt."""


class FeatureWarning(UserWarning):
    """Clips whose features are not all finite (openSMILE gives NaN for clips too short)."""


def cache_dir(path: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """``path``, else ``$JAXSER_FEATURE_CACHE``, else ``~/.cache/jaxser/functionals``."""
    if path is not None:
        return pathlib.Path(path)
    return pathlib.Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def cache_path(name: str, feature_set: str, directory: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The cache file of corpus ``name`` and ``feature_set``."""
    _check_feature_set(feature_set)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "corpus"
    return cache_dir(directory) / f"{safe}.{feature_set}.npz"


def extract(
    audio_by_id: Iterable[tuple[str, np.ndarray]],
    feature_set: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    name: str = "default",
    progress: bool = True,
    total: int | None = None,
) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...]]:
    """openSMILE functionals of every clip, from the cache where the samples are unchanged.

    Args:
      audio_by_id: ``(id, samples)`` pairs, read once, in order; ids unique. Samples:
        1-D int16 or float32 at 16 kHz.
      feature_set: a key of :data:`FEATURE_SETS` (``"IS09"``, ``"IS11"``).
      cache_dir: the cache folder (None: ``$JAXSER_FEATURE_CACHE`` or
        ``~/.cache/jaxser/functionals``).
      name: the corpus name: one cache file per (name, feature set).
      progress: a tqdm bar on stderr while extracting (only when stderr is a terminal).
      total: the number of clips, for the bar (default ``len(audio_by_id)`` if it has one).

    Returns:
      ``(ids, X, feature_names)``: the ids in input order, ``X`` float32 ``[N, D]``
      (row ``i`` is clip ``ids[i]``), the D openSMILE feature names.
    """
    spec = _check_feature_set(feature_set)
    path = cache_path(name, feature_set, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two runs on one corpus (started together on a fresh machine) would both extract it;
    # the second waits here, then finds every row in the cache.
    with filelock.FileLock(path.with_name(f".{path.name}.lock")):
        return _extract(audio_by_id, feature_set, spec, path, progress=progress, total=total)


def _extract(audio_by_id, feature_set: str, spec, path: pathlib.Path, *, progress: bool, total: int | None):
    """:func:`extract` with the cache file ``path`` locked."""
    opensmile = load_opensmile()

    version = str(opensmile.__version__)
    cached = _read_cache(path, feature_set, version)
    by_hash = {} if cached is None else {h: i for i, h in enumerate(cached["sha256"].tolist())}
    if total is None and hasattr(audio_by_id, "__len__"):
        total = len(audio_by_id)

    def make_smile():
        return opensmile.Smile(getattr(opensmile.FeatureSet, spec[0]), opensmile.FeatureLevel.Functionals)

    smile = None
    ids: list[str] = []
    hashes: list[str] = []
    rows: list[np.ndarray] = []
    extracted = 0
    seen: set[str] = set()
    with _progress_bar(total, enabled=progress, desc=f"openSMILE {feature_set}") as bar:
        for clip_id, samples in audio_by_id:
            clip_id = clip_id.decode("utf-8") if isinstance(clip_id, bytes) else str(clip_id)
            if clip_id in seen:
                raise ValueError(f"openSMILE extract: duplicate id {clip_id!r}; ids must be unique")
            seen.add(clip_id)
            signal = _signal(clip_id, samples)
            digest = hashlib.sha256(signal.tobytes()).hexdigest()
            if digest in by_hash:
                row = cached["X"][by_hash[digest]]
            else:
                if smile is None:  # once per call, and only when something is missing
                    smile = make_smile()
                row = smile.process_signal(signal, SAMPLE_RATE).to_numpy(np.float32).reshape(-1)
                extracted += 1
            ids.append(clip_id)
            hashes.append(digest)
            rows.append(np.asarray(row, np.float32))
            bar.update(1)

    if smile is not None:
        names = tuple(smile.feature_names)
    elif cached is not None:
        names = tuple(cached["feature_names"].tolist())
    else:  # no clips and no cache: the names still come from openSMILE
        names = tuple(make_smile().feature_names)
    if len(names) != spec[1]:
        raise RuntimeError(f"openSMILE {version} gives {len(names)} {feature_set} features, expected {spec[1]}")
    X = np.stack(rows) if rows else np.zeros((0, len(names)), np.float32)
    bad = [clip_id for clip_id, ok in zip(ids, np.isfinite(X).all(axis=1)) if not ok]
    if bad:  # openSMILE fills a clip too short for its windows with NaN
        warnings.warn(
            f"openSMILE {feature_set}: {len(bad)} clip(s) gave NaN/inf features (too short?): {bad[:5]}",
            FeatureWarning,
            stacklevel=3,
        )

    # Keep the cached rows of ids this call did not ask for (e.g. a subset of the
    # corpus); drop those whose id now has other samples.
    old_ids = [] if cached is None else cached["ids"].tolist()
    before = {} if cached is None else dict(zip(old_ids, cached["sha256"].tolist()))
    if extracted or any(before.get(k) != h for k, h in zip(ids, hashes)):
        keep = [i for i, k in enumerate(old_ids) if k not in seen]
        _write_cache(
            path,
            ids=np.asarray([*(old_ids[i] for i in keep), *ids], dtype=str),
            sha256=np.asarray([*(cached["sha256"][keep].tolist() if keep else []), *hashes], dtype=str),
            X=np.concatenate([cached["X"][keep], X]) if keep else X,
            feature_names=np.asarray(names, dtype=str),
            feature_set=feature_set,
            version=version,
        )
    return tuple(ids), X, names


def load_opensmile():
    """The ``opensmile`` module, its C library loaded so that TensorFlow cannot hijack it.

    openSMILE's ``libSMILEapi.so`` exports its own single-precision copy of Ooura's FFT
    (``rdft``, ``makewt``, ``cftf1st``...); TensorFlow's ``libtensorflow_framework.so``
    exports its double-precision one under the same names. Loaded after TensorFlow (as
    in any process that reads a TFDS corpus), openSMILE binds to TensorFlow's and
    writes past its float buffers: ``malloc(): invalid size`` and an abort, or worse.
    Loading the library first with ``RTLD_DEEPBIND`` makes it use its own symbols.
    Import ``opensmile`` through this function (it is imported once; later calls
    return the module).
    """
    global _SMILE_LIB
    if "opensmile" not in sys.modules and _SMILE_LIB is None and sys.platform.startswith("linux"):
        lib = _smileapi_path()
        if lib is not None:
            _SMILE_LIB = ctypes.CDLL(str(lib), mode=os.RTLD_DEEPBIND | os.RTLD_LOCAL)
    elif _SMILE_LIB is None and sys.platform.startswith("linux") and not _WARNED_PRELOAD and _tensorflow_loaded():
        _warn_preload()
    import opensmile  # heavy (pandas, audinterface): only when features are asked for

    return opensmile


_SMILE_LIB = None  # the ctypes handle of libSMILEapi.so, loaded with RTLD_DEEPBIND
_WARNED_PRELOAD = False


def _smileapi_path() -> pathlib.Path | None:
    """Where ``opensmile.core.lib`` will load ``libSMILEapi.so`` from (without importing it)."""
    spec = importlib.util.find_spec("opensmile")
    if spec is None or not spec.origin:
        return None
    bin_dir = pathlib.Path(spec.origin).parent / "core" / "bin"
    lib = bin_dir / f"manylinux_2_17_{platform.machine().lower()}" / "libSMILEapi.so"
    if lib.exists():
        return lib.resolve()
    found = sorted(bin_dir.glob("*linux*/libSMILEapi.so"))
    return found[0].resolve() if found else None


def _tensorflow_loaded() -> bool:
    try:
        return "libtensorflow_framework" in pathlib.Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _warn_preload() -> None:
    global _WARNED_PRELOAD
    _WARNED_PRELOAD = True
    warnings.warn(
        "opensmile was imported before jaxser.features.opensmile could load its C library with RTLD_DEEPBIND, "
        "and TensorFlow is loaded: openSMILE's FFT may bind to TensorFlow's (crash or wrong features). Import "
        "opensmile through jaxser.features.opensmile.load_opensmile(), before anything else imports it.",
        RuntimeWarning,
        stacklevel=3,
    )


def _check_feature_set(feature_set: str) -> tuple[str, int]:
    try:
        return FEATURE_SETS[feature_set]
    except (KeyError, TypeError):
        raise ValueError(f"unknown feature set {feature_set!r}; valid: {', '.join(FEATURE_SETS)}") from None


def _signal(clip_id: str, samples: Any) -> np.ndarray:
    """The float32 signal openSMILE gets: int16 / 32768, float32 as is."""
    samples = np.asarray(samples)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"openSMILE extract: clip {clip_id!r} must be 1-D mono samples, got shape {samples.shape}")
    if samples.dtype == np.int16:
        return np.ascontiguousarray(samples.astype("<f4") / np.float32(32768.0))
    if samples.dtype != np.float32:
        raise ValueError(f"openSMILE extract: clip {clip_id!r} must be int16 or float32, got {samples.dtype}")
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"openSMILE extract: clip {clip_id!r} has NaN or infinite samples")
    return np.ascontiguousarray(samples, dtype="<f4")


def _progress_bar(total: int | None, *, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="clip",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not (enabled and sys.stderr.isatty()),
    )


# -- the cache file -------------------------------------------------------------------

_KEYS = ("format", "feature_set", "opensmile_version", "sample_rate", "ids", "sha256", "X", "feature_names")


def _read_cache(path: pathlib.Path, feature_set: str, version: str) -> dict[str, np.ndarray] | None:
    """The cache's arrays, or None when there is none, or it is for other settings or damaged."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _KEYS if k not in f.files]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            data = {k: f[k] for k in _KEYS}  # reading checks each member's CRC
        n, d = len(data["ids"]), len(data["feature_names"])
        if (
            data["X"].dtype != np.float32
            or data["X"].shape != (n, d)
            or data["sha256"].shape != (n,)
            or data["ids"].ndim != 1
            or data["feature_names"].ndim != 1
        ):
            raise ValueError(
                f"inconsistent shapes: X {data['X'].shape} {data['X'].dtype}, ids {data['ids'].shape}, "
                f"sha256 {data['sha256'].shape}, feature_names {data['feature_names'].shape}"
            )
        settings = (int(data["format"]), str(data["feature_set"]), str(data["opensmile_version"]))
        settings += (int(data["sample_rate"]),)
    except Exception as err:  # noqa: BLE001 - anything unreadable is rebuilt, never fatal
        message = f"openSMILE cache {path} is damaged ({type(err).__name__}: {err}); rebuilding it"
        warnings.warn(message, CacheWarning, stacklevel=4)
        return None
    if settings != (_FORMAT, feature_set, version, SAMPLE_RATE):
        return None  # other settings: extract everything again, then replace the file
    return data


def _write_cache(path: pathlib.Path, *, ids, sha256, X, feature_names, feature_set: str, version: str) -> None:
    """Replace the cache file (its folder was made by :func:`extract`, for the lock)."""
    with atomic_file.replacing(path, "wb") as fh:
        np.savez(
            fh,
            format=np.asarray(_FORMAT),
            feature_set=np.asarray(feature_set),
            opensmile_version=np.asarray(version),
            sample_rate=np.asarray(SAMPLE_RATE),
            ids=ids,
            sha256=sha256,
            X=np.asarray(X, np.float32),
            feature_names=feature_names,
        )
