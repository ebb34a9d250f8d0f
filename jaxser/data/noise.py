"""The noise corpus: a folder of noise recordings, one noise TYPE per file.

    corpus = NoiseCorpus.load()                 # $JAXSER_DATA/noise, every audio file in it
    train, test = corpus.split()                # held-out types for testing
    bank = train.bank()                         # for jaxser.augment on the device

Names are the file stems (``running_tap.wav`` -> ``running_tap``). The files are those
:func:`jaxser.audio.list_files` finds: every format libsndfile reads (wav, flac, ogg,
mp3...), and audio formats it cannot read (m4a, webm...) so that those are reported;
other files (text, hidden ones) are ignored. Files are read with :func:`jaxser.audio.load`
(any rate/channels -> float32 mono at ``sample_rate``); a file that cannot be read,
unsupported formats included, is skipped, listed in one warning with its reason and
kept in ``failures``, as the corpus builders do. Only the folder's own files are read,
not its subfolders. :meth:`NoiseCorpus.split` keeps noise types disjoint between training
and testing, so enhancement and robustness are measured on noise never trained on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxser import audio as audio_lib

__all__ = ["DEFAULT_TEST_TYPES", "NoiseBank", "NoiseCorpus", "NoiseCorpusError", "default_folder"]

log = logging.getLogger(__name__)

DEFAULT_TEST_TYPES = ("running_tap", "white_noise")
EXTENSIONS = audio_lib.DEFAULT_EXTENSIONS  # readable formats, and unsupported ones to report


class NoiseCorpusError(Exception):
    """A noise folder that gives no usable noise: missing, empty, unreadable, clashing names."""

    def __init__(self, folder, reason: str, fix: str | None = None):
        super().__init__(folder, reason, fix)
        self.folder = None if folder is None else os.fspath(folder)
        self.reason = reason
        self.fix = fix

    def __str__(self) -> str:
        where = f"{self.folder}: " if self.folder is not None else ""
        return where + self.reason + (f". {self.fix}" if self.fix else "")


class NoiseBank(NamedTuple):
    """Every track concatenated, for sampling on the device (a pytree: pass it to jit).

    ``audio`` float32 ``[N]``; ``starts`` and ``lengths`` int32 ``[T]``, track ``t`` being
    ``audio[starts[t] : starts[t] + lengths[t]]``; ``names`` is not part of it (see
    :attr:`NoiseCorpus.names`, same order).
    """

    audio: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def default_folder() -> pathlib.Path:
    """``$JAXSER_DATA/noise``."""
    root = os.environ.get("JAXSER_DATA")
    if not root:
        raise NoiseCorpusError(
            None,
            "no noise folder given and JAXSER_DATA is not set",
            "Set JAXSER_DATA to the folder holding noise/ (e.g. ../shared/data) or pass the folder",
        )
    return pathlib.Path(root) / "noise"


@dataclasses.dataclass(frozen=True, eq=False)
class NoiseCorpus:
    """Noise tracks by type: ``names[i]`` is the type of ``tracks[i]`` (float32 mono)."""

    names: tuple[str, ...]
    tracks: tuple[np.ndarray, ...]
    sample_rate: int = 16000
    folder: pathlib.Path | None = None
    failures: tuple[tuple[pathlib.Path, str], ...] = ()

    def __post_init__(self):
        if len(self.names) != len(self.tracks):
            raise ValueError(f"{len(self.names)} names for {len(self.tracks)} tracks")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"noise type names must be unique, got {self.names}")
        for name, track in zip(self.names, self.tracks):
            if track.ndim != 1 or track.size == 0:
                raise ValueError(f"noise track {name!r} must be a non-empty 1-D array, got shape {track.shape}")

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None, sample_rate: int = 16000) -> NoiseCorpus:
        """Every audio file directly in ``folder`` (default :func:`default_folder`).

        Raises:
          NoiseCorpusError: the folder is missing, not a folder, holds no audio file, none
            of them reads, or two files share a stem (``a.wav`` and ``a.flac``).
        """
        root = pathlib.Path(folder) if folder is not None else default_folder()
        fix = "Pass the folder holding one audio file per noise type, or set JAXSER_DATA to the folder holding noise/"
        if not root.exists():
            raise NoiseCorpusError(root, "noise folder not found", fix)
        if not root.is_dir():
            raise NoiseCorpusError(root, "not a folder", fix)
        paths = audio_lib.list_files(root, EXTENSIONS, recursive=False)
        if not paths:
            readable = ", ".join(audio_lib.READABLE_EXTENSIONS)
            raise NoiseCorpusError(
                root, f"no noise files ({readable}) in the folder", "Put one audio file per noise type there"
            )
        stems: dict[str, pathlib.Path] = {}
        for path in paths:
            if path.stem in stems:
                raise NoiseCorpusError(
                    root, f"two files for noise type {path.stem!r}: {stems[path.stem].name} and {path.name}",
                    "Keep one file per type",
                )
            stems[path.stem] = path
        clips, failures = audio_lib.load_many(paths, sample_rate)
        if failures:
            lines = "\n".join(f"  {path}: {reason}" for path, reason in failures)
            log.warning("noise: skipped %d of %d files:\n%s", len(failures), len(paths), lines)
        if not clips:
            raise NoiseCorpusError(root, f"none of the {len(paths)} noise files could be read; see the warning above")
        return cls(
            names=tuple(path.stem for path, _ in clips),
            tracks=tuple(track for _, track in clips),
            sample_rate=sample_rate,
            folder=root,
            failures=tuple(failures),
        )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def lengths(self) -> np.ndarray:
        """Samples per track, int64 ``[T]``."""
        return np.asarray([len(t) for t in self.tracks], np.int64)

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate

    def select(self, names: Sequence[str]) -> NoiseCorpus:
        """The given noise types, in the order given."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"unknown noise type(s) {unknown}; this corpus has {list(self.names)}")
        index = [self.names.index(n) for n in names]
        return dataclasses.replace(
            self, names=tuple(self.names[i] for i in index), tracks=tuple(self.tracks[i] for i in index)
        )

    def split(
        self, test_types: Sequence[str] | None = DEFAULT_TEST_TYPES, *, num_test: int = 2, seed: int = 0
    ) -> tuple[NoiseCorpus, NoiseCorpus]:
        """``(train, test)`` corpora holding disjoint noise types.

        Args:
          test_types: the held-out types (a config's list); None draws ``num_test`` types
            at random with ``seed`` (the same draw for the same corpus and seed).
          num_test, seed: used only when ``test_types`` is None.

        Raises:
          ValueError: an unknown type, or a split leaving either side empty.
        """
        if isinstance(test_types, str):
            test_types = (test_types,)
        if test_types is None:
            if not 0 < num_test < len(self):
                raise ValueError(f"num_test must be in [1, {len(self) - 1}] for {len(self)} noise types, got {num_test}")
            rng = np.random.default_rng(seed)
            chosen = set(rng.choice(sorted(self.names), size=num_test, replace=False).tolist())
            test_types = [n for n in self.names if n in chosen]
        test_types = list(dict.fromkeys(test_types))
        test = self.select(test_types)
        train_types = [n for n in self.names if n not in test_types]
        if not test_types or not train_types:
            raise ValueError(
                f"split must leave noise types on both sides; test_types={test_types}, corpus has {list(self.names)}"
            )
        return self.select(train_types), test

    def bank(self) -> NoiseBank:
        """All tracks concatenated (float32) with each one's start and length (int32)."""
        lengths = self.lengths
        total = int(lengths.sum())
        if total >= 2**31:
            raise ValueError(f"the noise bank has {total} samples; at most 2**31 - 1 fit int32 indices")
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        audio = np.concatenate([np.asarray(t, np.float32) for t in self.tracks])
        return NoiseBank(audio, starts.astype(np.int32), lengths.astype(np.int32))
