"""What every corpus builder shares: finding the manual dir, reading audio, reporting.

A builder scans its manual dir into :class:`Item` s (the example without its audio),
then :func:`generate_examples` reads each file with :func:`jaxser.audio.load` at
16 kHz and yields TFDS ``(key, example)`` pairs. Files that cannot be used (unreadable
audio, a name that breaks the corpus' naming scheme, a label without a file...) are
collected as :class:`Problem` s and reported together in one warning once the split is
written, so one bad file never stops a build of thousands and none is dropped silently.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Iterable, Iterator
from typing import Any

import tensorflow_datasets as tfds

from jaxser import audio
from jaxser.data.schema import SAMPLE_RATE, to_int16

log = logging.getLogger(__name__)

class ManualDirError(FileNotFoundError):
    """The corpus' manual dir is missing, empty, or does not hold its layout."""


@dataclasses.dataclass(frozen=True)
class Item:
    """One example to build: its stable id, its audio file and its other fields."""

    id: str
    path: pathlib.Path
    fields: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Problem:
    """A file (or label entry) skipped while building, and why."""

    path: str
    reason: str


def manual_root(dl_manager, name: str) -> pathlib.Path:
    """The builder's manual dir, or :class:`ManualDirError` naming it.

    TFDS checks that the folder exists and is not empty, and raises a bare
    ``AssertionError`` (with the path and the download instructions) otherwise.
    """
    try:
        return pathlib.Path(dl_manager.manual_dir)
    except AssertionError as err:
        raise ManualDirError(
            f"{name}: {err}\nPass the folder with `manual_dir=` "
            "(jaxser.data.load) or DownloadConfig(manual_dir=...)."
        ) from None


def no_audio_error(name: str, root: pathlib.Path, layout: str, problems: Iterable[Problem] = ()) -> ManualDirError:
    """The error for a manual dir that holds none of the corpus' usable audio files."""
    rejected = [f"\n  {p.path}: {p.reason}" for p in list(problems)[:5]]
    found = "\nRejected while scanning:" + "".join(rejected) if rejected else ""
    return ManualDirError(f"{name}: no usable audio files under {root}. Expected layout:\n{layout}{found}")


def generate_examples(
    name: str, items: Iterable[Item], problems: Iterable[Problem] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(id, example)`` for every item whose audio reads; report the others.

    ``problems`` are the files the scan already rejected; they are reported with the
    unreadable ones. Raises :class:`ManualDirError` if not a single file could be read.
    """
    problems = list(problems)
    items = list(items)
    total = len(items) + len(problems)
    written = 0
    for item in items:
        try:
            wave = audio.load(item.path, sr=SAMPLE_RATE)
        except audio.AudioError as err:
            problems.append(Problem(str(item.path), err.reason))
            continue
        written += 1
        example_id = text_id(item.id)
        yield example_id, {"audio": to_int16(wave), "id": example_id, **item.fields}
    report(name, problems, total=total)
    if items and not written:
        raise ManualDirError(f"{name}: none of the {len(items)} audio files could be read; see the warning above")


def text_id(example_id: str) -> str:
    """``example_id`` as valid UTF-8 text: bytes of a non-UTF-8 file name become ``\\xNN``.

    Linux hands such names to Python with surrogate escapes, which TFDS cannot encode
    into a text feature; escaping keeps the file, and the id stays stable and unique.
    """
    return os.fsencode(example_id).decode("utf-8", "backslashreplace")


def report(name: str, problems: list[Problem], total: int) -> None:
    """One warning listing every skipped file with its reason (none when all is well)."""
    if not problems:
        return
    # text_id: a non-UTF-8 file name would make logging (and any UTF-8 writer) fail on it
    lines = [f"  {text_id(str(p.path))}: {text_id(str(p.reason))}" for p in problems]
    log.warning("%s: skipped %d of %d files:\n%s", name, len(problems), total, "\n".join(lines))


def wav_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The ``.wav`` files directly in ``folder``, sorted, without hidden files.

    Hidden files matter: archives unpacked from macOS carry ``._name.wav`` resource
    forks next to every real file, and those are not audio. A broken symlink is kept,
    so that reading it fails and it is reported rather than silently missing.
    """
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() == ".wav" and not p.name.startswith(".") and not p.is_dir()
    )


class ManualCorpusBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A corpus read from ``manual_dir`` into one ``train`` split.

    Subclasses give ``_info`` and ``_scan(root) -> (items, problems)``; reading the
    audio and reporting bad files is shared.
    """

    def _scan(self, root: pathlib.Path) -> tuple[list[Item], list[Problem]]:
        raise NotImplementedError

    def _report_name(self) -> str:
        """How the bad-file warning names this corpus."""
        return self.name

    def _split_generators(self, dl_manager):
        items, problems = self._scan(manual_root(dl_manager, self.name))
        return {"train": self._generate_examples(items, problems)}

    def _generate_examples(self, items, problems):
        return generate_examples(self._report_name(), items, problems)
