"""A generated corpus of emotional-prosody-like speech: the default data set, no download.

Every clip is built by a source-filter model of voiced speech, the way emotional
prosody is usually described (pitch level and range, tempo, loudness, voice quality):

* **Source.** A glottal-flow pulse train (a smooth polynomial opening, a parabolic
  closing, a closed phase) whose fundamental frequency follows a contour: declination
  over the utterance, a pitch accent on every syllable (large on stressed ones), slow
  drift and per-cycle jitter; per-cycle shimmer scales each pulse. The flow is
  differentiated (lip radiation). A short closing phase makes a tense voice with a flat
  spectrum, a long one a lax voice with a steep spectral tilt. Aspiration noise is
  added while the glottis is open (breathiness).
* **Filter.** Each syllable is a vowel: four second-order resonators (formants) scaled by
  the speaker's vocal-tract length, shifted a little by the emotion, jittered per
  syllable. About half the syllables start with a fricative-like noise burst.
* **Timing.** Syllables at the emotion's rate, grouped in phrases of 3-7 separated by
  pauses; leading and trailing silence; the clip length is drawn uniformly from the
  duration range independently of the class, so duration is no cue.
* **Level.** Speech is scaled to an RMS level set by the emotion and the speaker's
  recording gain, and a faint low-passed noise floor is added.

The four classes mirror the IEMOCAP four-class task (:data:`CLASS_NAMES`). Their
prosody (:data:`PROSODY`) follows the direction of the effects reported for acted
emotional speech: anger and happiness high and loud, anger with the tensest voice and
fastest tempo, happiness with the widest pitch range, sadness low, slow, quiet, narrow,
breathy and jittery. Classes overlap on purpose: every utterance draws an emotional
*intensity* (weak anger is close to neutral), every prosodic parameter gets its own
per-utterance noise, and speakers differ in pitch, formants, level, tempo and
expressiveness (:data:`SPEAKERS`, 5 female and 5 male), so speaker-independent splits
are meaningful and a classifier cannot reach 100% on a handful of statistics.

Determinism: clip ``(seed, speaker, emotion, index)`` has its own random stream, seeded
from those four values (with ``zlib.crc32`` of the names, stable across processes and
machines), so any subset of the corpus generates the same clips as the whole. Output
is quantised to the 16-bit grid (``k / 32768``), as a recording would be, so the last-bit
differences that vectorised ``exp``/``sin`` may show between CPUs do not reach it (a
sample would have to sit within ~1e-12 of a rounding boundary). Changing any table or
formula here changes the corpus: bump the version of
:class:`jaxser.data.builders.synthetic.Synthetic` (a pinned fingerprint in
``tests/data/test_synthetic.py`` catches changes made by accident).

Pure numpy/scipy; no TensorFlow. A few milliseconds per clip: the 480-clip default
corpus takes a few seconds.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from scipy import signal

from jaxser.data.schema import SAMPLE_RATE

CLASS_NAMES = ("anger", "happiness", "neutral", "sadness")
CORPUS = "synthetic"


@dataclasses.dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: voice and speaking-style traits fixed across utterances."""

    id: str
    gender: str
    f0: float  # Hz, pitch of neutral speech before declination and accents
    formant_scale: float  # vocal-tract length factor: shorter tract, higher formants
    gain_db: float  # recording level relative to the corpus' reference
    expressiveness: float  # how far emotions move this speaker's prosody from neutral
    tempo: float  # speaking-rate factor


# Alternating genders, so the first N speakers (the `tiny` config takes 4) stay
# balanced. F0 and formant factors span typical adult ranges; the other traits are
# spread so that no speaker is an average one.
SPEAKERS = (
    Speaker("s01", "female", 210.0, 1.17, 0.0, 1.00, 1.00),
    Speaker("s02", "male", 115.0, 1.00, -2.0, 0.90, 1.06),
    Speaker("s03", "female", 235.0, 1.21, 2.0, 1.15, 0.95),
    Speaker("s04", "male", 100.0, 0.95, 1.0, 1.10, 1.00),
    Speaker("s05", "female", 190.0, 1.13, -1.0, 0.80, 1.10),
    Speaker("s06", "male", 130.0, 1.03, 0.0, 1.00, 0.91),
    Speaker("s07", "female", 250.0, 1.23, -2.0, 0.90, 1.00),
    Speaker("s08", "male", 122.0, 0.98, 2.0, 1.20, 1.07),
    Speaker("s09", "female", 200.0, 1.15, 1.0, 1.05, 0.93),
    Speaker("s10", "male", 140.0, 1.06, -1.0, 0.85, 1.02),
)
_SPEAKERS = {s.id: s for s in SPEAKERS}


@dataclasses.dataclass(frozen=True)
class Prosody:
    """The acoustic parameters an emotion sets (before per-utterance variation)."""

    f0_st: float  # pitch level relative to the speaker's neutral, semitones
    range_st: float  # height of a stressed syllable's pitch accent, semitones
    rate: float  # syllables per second, pauses excluded
    level_db: float  # speech RMS level relative to neutral
    closing: float  # glottal closing phase, fraction of a period (short: tense voice)
    jitter: float  # relative SD of the period, per cycle
    shimmer: float  # relative SD of the pulse amplitude, per cycle
    breath: float  # aspiration noise relative to the voiced excitation
    pause: float  # pause-length factor
    declination_st: float  # pitch fall over the utterance, semitones
    f1: float  # F1 factor (jaw opening)
    f2: float  # F2 factor (lip spreading)


PROSODY = {
    "neutral": Prosody(0.0, 2.5, 4.5, 0.0, 0.28, 0.006, 0.04, 0.06, 1.0, 3.0, 1.00, 1.00),
    "anger": Prosody(3.5, 4.0, 5.6, 8.0, 0.12, 0.010, 0.06, 0.03, 0.7, 2.0, 1.08, 1.02),
    "happiness": Prosody(4.5, 8.0, 5.0, 4.0, 0.21, 0.008, 0.05, 0.05, 0.8, 1.0, 1.03, 1.06),
    "sadness": Prosody(-2.0, 1.0, 3.3, -6.0, 0.42, 0.015, 0.08, 0.16, 1.6, 2.0, 0.95, 0.97),
}

# Vowel formants F1-F3 of an adult male voice (Hz; classic measurements of English
# vowels, rounded), and formant bandwidths (Hz). F4 is fixed at 3500 Hz.
_VOWELS = np.array(
    [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]],
    dtype=np.float64,
)
_F4 = 3500.0
_BANDWIDTHS = np.array([70.0, 100.0, 160.0, 250.0])
_REFERENCE_DBFS = -30.0  # neutral speech RMS at 0 dB speaker gain
_PEAK = 0.9  # clips louder than this are scaled down, as a limiter would


def _check_seed(seed) -> None:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r}: must be a non-negative integer")


def _check_duration_range(duration_range) -> None:
    low, high = duration_range
    if not 1.0 <= low <= high <= 60.0:
        raise ValueError(
            f"duration_range={tuple(duration_range)}: need 1.0 <= min <= max <= 60.0 seconds "
            "(one second leaves room for the silences and at least one syllable)"
        )


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    """Which clips make the corpus: the first ``num_speakers`` of :data:`SPEAKERS`, each
    with ``utterances_per_class`` clips per class, lengths uniform in ``duration_range``."""

    num_speakers: int = 10
    utterances_per_class: int = 12
    seed: int = 0
    duration_range: tuple[float, float] = (1.5, 4.0)

    def __post_init__(self):
        if not 1 <= self.num_speakers <= len(SPEAKERS):
            raise ValueError(f"CorpusConfig.num_speakers={self.num_speakers}: must be 1..{len(SPEAKERS)}")
        if self.utterances_per_class < 1:
            raise ValueError(f"CorpusConfig.utterances_per_class={self.utterances_per_class}: must be >= 1")
        _check_seed(self.seed)
        _check_duration_range(self.duration_range)

    @property
    def speakers(self) -> tuple[Speaker, ...]:
        return SPEAKERS[: self.num_speakers]

    def __len__(self) -> int:
        return self.num_speakers * len(CLASS_NAMES) * self.utterances_per_class


DEFAULT = CorpusConfig()  # 480 clips, ~22 min: trains a model in minutes on 2 CPU cores
TINY = CorpusConfig(num_speakers=4, utterances_per_class=3)  # 48 clips, for fast tests


def example_id(speaker: str, emotion: str, index: int) -> str:
    """The stable id of a clip: ``synthetic/<speaker>/<emotion>/<index>``."""
    return f"{CORPUS}/{speaker}/{emotion}/{index}"


def iter_corpus(config: CorpusConfig = DEFAULT) -> Iterator[dict[str, Any]]:
    """Every clip of the corpus, by speaker, class and index, as an example dict.

    Keys: ``audio`` (float32, 16 kHz, on the 16-bit grid), ``label`` (class name),
    ``speaker``, ``gender``, ``id`` (see :func:`example_id`).
    """
    for speaker in config.speakers:
        for emotion in CLASS_NAMES:
            for index in range(config.utterances_per_class):
                yield {
                    "audio": generate_utterance(emotion, speaker.id, index, config.seed, config.duration_range),
                    "label": emotion,
                    "speaker": speaker.id,
                    "gender": speaker.gender,
                    "id": example_id(speaker.id, emotion, index),
                }


def generate_utterance(
    emotion: str,
    speaker: str,
    index: int,
    seed: int = 0,
    duration_range: tuple[float, float] = DEFAULT.duration_range,
) -> np.ndarray:
    """One clip: float32 mono at 16 kHz, values ``k / 32768`` with ``|value| <= 0.9``."""
    if emotion not in PROSODY:
        raise ValueError(f"unknown emotion {emotion!r}; valid: {', '.join(CLASS_NAMES)}")
    if speaker not in _SPEAKERS:
        raise ValueError(f"unknown speaker {speaker!r}; valid: {', '.join(_SPEAKERS)}")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index={index!r}: must be a non-negative integer")
    _check_seed(seed)
    _check_duration_range(duration_range)
    who = _SPEAKERS[speaker]
    rng = np.random.default_rng([int(seed), zlib.crc32(speaker.encode()), zlib.crc32(emotion.encode()), int(index)])

    n = int(round(rng.uniform(*duration_range) * SAMPLE_RATE))
    p = _utterance_prosody(rng, emotion, who)
    syllables = _layout(rng, p, n)
    excitation = _excitation(rng, p, who, syllables, n)
    speech, voiced = _articulate(rng, p, who, syllables, excitation, n)

    rms = math.sqrt(float(np.mean(speech[voiced] ** 2)))
    speech *= _db(_REFERENCE_DBFS + p.level_db + who.gain_db) / rms
    floor = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n))  # gently low-passed noise
    speech += floor * (_db(rng.uniform(-66.0, -56.0)) / math.sqrt(float(np.mean(floor**2))))
    peak = float(np.max(np.abs(speech)))
    if peak > _PEAK:
        speech *= _PEAK / peak
    return (np.round(speech * 32768.0) / 32768.0).astype(np.float32)


def summary(examples: Iterable[Mapping[str, Any]], sample_rate: int = SAMPLE_RATE) -> dict[str, Any]:
    """Counts per class, speaker and gender, and clip durations (s), of example dicts.

    Takes anything with ``audio``, ``label``, ``speaker`` and ``gender`` keys (the
    output of :func:`iter_corpus`, or numpy examples from TFDS); values are counted as
    they come (names, or indices from TFDS' class labels), as plain Python values.
    """
    counts = {key: collections.Counter() for key in ("label", "speaker", "gender")}
    seconds = []
    for example in examples:
        for key, counter in counts.items():
            value = example[key]
            value = value.item() if isinstance(value, np.generic) else value  # JSON-friendly keys
            counter[value.decode() if isinstance(value, bytes) else value] += 1
        seconds.append(len(example["audio"]) / sample_rate)
    if not seconds:
        raise ValueError("summary() got no examples")
    seconds = np.asarray(seconds)

    def ordered(counter):  # indices before names, each in order
        return dict(sorted(counter.items(), key=lambda kv: (isinstance(kv[0], str), kv[0])))

    return {
        "examples": len(seconds),
        "per_class": ordered(counts["label"]),
        "per_speaker": ordered(counts["speaker"]),
        "per_gender": ordered(counts["gender"]),
        "seconds": {
            "total": float(seconds.sum()),
            "min": float(seconds.min()),
            "mean": float(seconds.mean()),
            "max": float(seconds.max()),
        },
    }


# --- the model -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Syllable:
    onset: int  # first sample of the consonant part
    start: int  # first sample of the vowel
    stop: int  # one past its last sample
    accent_st: float
    gain_db: float
    vowel: int


def _utterance_prosody(rng: np.random.Generator, emotion: str, who: Speaker) -> Prosody:
    """The emotion's prosody at a random intensity, with per-utterance noise on every field."""
    neutral, target = PROSODY["neutral"], PROSODY[emotion]
    # Intensity 0 is neutral speech, 1 the emotion's profile; weak emotional utterances
    # are what makes classes overlap the way acted corpora do.
    intensity = rng.uniform(0.3, 1.3) * who.expressiveness
    mixed = {
        f.name: getattr(neutral, f.name) + intensity * (getattr(target, f.name) - getattr(neutral, f.name))
        for f in dataclasses.fields(Prosody)
    }
    noise = rng.standard_normal(12)
    return Prosody(
        f0_st=mixed["f0_st"] + 1.2 * noise[0],
        range_st=mixed["range_st"] * math.exp(0.25 * noise[1]),
        rate=max(2.0, mixed["rate"] * who.tempo * math.exp(0.1 * noise[2])),
        level_db=mixed["level_db"] + 2.5 * noise[3],
        closing=min(0.5, max(0.06, mixed["closing"] + 0.04 * noise[4])),
        jitter=mixed["jitter"] * math.exp(0.3 * noise[5]),
        shimmer=mixed["shimmer"] * math.exp(0.3 * noise[6]),
        breath=mixed["breath"] * math.exp(0.3 * noise[7]),
        pause=mixed["pause"] * math.exp(0.2 * noise[8]),
        declination_st=mixed["declination_st"] + 0.7 * noise[9],
        f1=mixed["f1"] * math.exp(0.02 * noise[10]),
        f2=mixed["f2"] * math.exp(0.02 * noise[11]),
    )


def _layout(rng: np.random.Generator, p: Prosody, n: int) -> list[_Syllable]:
    """Syllables in phrases of 3-7 with pauses between, inside leading/trailing silence."""
    lead, tail = rng.uniform(0.08, 0.25, size=2)
    t, end = lead, n / SAMPLE_RATE - tail
    syllables: list[_Syllable] = []
    while True:
        for _ in range(int(rng.integers(3, 8))):
            period = rng.uniform(0.75, 1.25) / p.rate
            if t + period > end:
                return syllables
            consonant = period * rng.uniform(0.2, 0.4)
            stressed = rng.random() < 0.35
            accent = p.range_st * (rng.uniform(0.6, 1.0) if stressed else rng.uniform(0.0, 0.3))
            syllables.append(
                _Syllable(
                    onset=int(t * SAMPLE_RATE),
                    start=int((t + consonant) * SAMPLE_RATE),
                    stop=int((t + period) * SAMPLE_RATE),
                    accent_st=accent,
                    gain_db=(3.0 if stressed else 0.0) + 1.5 * rng.standard_normal(),
                    vowel=int(rng.integers(len(_VOWELS))),
                )
            )
            t += period
        t += p.pause * rng.uniform(0.1, 0.3)


def _excitation(rng: np.random.Generator, p: Prosody, who: Speaker, syllables: list[_Syllable], n: int) -> np.ndarray:
    """Differentiated glottal flow (plus aspiration) along the utterance's F0 contour."""
    t = np.arange(n) / SAMPLE_RATE
    # Pitch in semitones: declination, slow drift, one accent (a sin^2 hump) per syllable.
    semitones = -p.declination_st * t / t[-1]
    knots = np.arange(0.0, t[-1] + 0.1, 0.1)
    semitones += np.interp(t, knots, 0.5 * rng.standard_normal(len(knots)))
    for s in syllables:
        u = np.linspace(0.0, 1.0, s.stop - s.onset, endpoint=False)
        semitones[s.onset : s.stop] += s.accent_st * np.sin(np.pi * u) ** 2
    f0 = who.f0 * np.exp2((p.f0_st + semitones) / 12.0)

    # Jitter: each glottal cycle gets its own period factor. Cycles are counted on the
    # unjittered phase; the jittered one may run a few cycles further, hence the margin.
    cycle = np.cumsum(f0 / SAMPLE_RATE).astype(np.int64)
    count = int(cycle[-1] * 1.2) + 8
    jitter = 1.0 + p.jitter * rng.standard_normal(count)
    phase = np.cumsum(f0 * jitter[cycle] / SAMPLE_RATE)
    cycle = np.minimum(phase.astype(np.int64), count - 1)
    phi = phase - cycle

    # Glottal flow: smoothstep opening over 45% of the period, parabolic closing.
    opening, closing = 0.45, p.closing
    rise = np.clip(phi / opening, 0.0, 1.0)
    fall = np.clip((phi - opening) / closing, 0.0, 1.0)
    flow = np.where(phi < opening + closing, 1.0 - fall * fall, 0.0)
    flow = np.where(phi < opening, rise * rise * (3.0 - 2.0 * rise), flow)
    shimmer = np.maximum(0.2, 1.0 + p.shimmer * rng.standard_normal(count))
    flow *= shimmer[cycle]  # the flow is 0 at cycle boundaries, so no steps appear
    excitation = np.diff(flow, prepend=0.0)
    aspiration = rng.standard_normal(n) * (flow > 0.0)
    return excitation + p.breath * float(np.std(excitation)) * aspiration


def _articulate(
    rng: np.random.Generator, p: Prosody, who: Speaker, syllables: list[_Syllable], excitation: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Vowels (formant filters on the enveloped excitation) and consonant bursts.

    Returns the speech and a mask of the vowel samples (where its level is measured).
    """
    ring = int(0.03 * SAMPLE_RATE)  # resonances decay within ~30 ms
    out = np.zeros(n + ring)
    voiced = np.zeros(n, dtype=bool)
    # One fricative colour per utterance: a 2nd-order band-pass around 3.5-5.5 kHz.
    centre = rng.uniform(3500.0, 5500.0)
    fricative = signal.butter(2, [centre * 0.7, min(centre * 1.3, 7600.0)], "bandpass", fs=SAMPLE_RATE, output="sos")
    for s in syllables:
        length = s.stop - s.start
        formants = np.append(_VOWELS[s.vowel] * [p.f1, p.f2, 1.0], _F4) * who.formant_scale
        formants *= np.exp(0.04 * rng.standard_normal(4))  # no two renditions alike
        vowel = np.concatenate([excitation[s.start : s.stop] * _envelope(length), np.zeros(ring)])
        vowel = signal.sosfilt(_resonators(formants), vowel) * _db(s.gain_db)
        out[s.start : s.stop + ring] += vowel
        voiced[s.start : s.stop] = True
        if rng.random() < 0.5 and s.start - s.onset > 16:
            burst = signal.sosfilt(fricative, rng.standard_normal(s.start - s.onset)) * _envelope(s.start - s.onset)
            level = float(np.sqrt(np.mean(vowel[:length] ** 2) / np.mean(burst**2)))
            out[s.onset : s.start] += burst * level * _db(-rng.uniform(16.0, 26.0))
    return out[:n], voiced


def _resonators(formants: np.ndarray) -> np.ndarray:
    """Cascade of two-pole resonators at ``formants`` as second-order sections, unit DC gain."""
    formants = np.minimum(formants, 0.45 * SAMPLE_RATE)
    r = np.exp(-np.pi * _BANDWIDTHS / SAMPLE_RATE)
    a1 = -2.0 * r * np.cos(2.0 * np.pi * formants / SAMPLE_RATE)
    a2 = r * r
    sos = np.zeros((len(formants), 6))
    sos[:, 0] = 1.0 + a1 + a2
    sos[:, 3], sos[:, 4], sos[:, 5] = 1.0, a1, a2
    return sos


def _envelope(length: int) -> np.ndarray:
    """Raised-cosine attack over the first 20%, release over the last 35%."""
    u = (np.arange(length) + 0.5) / length
    attack = 0.5 - 0.5 * np.cos(np.pi * np.clip(u / 0.2, 0.0, 1.0))
    release = 0.5 - 0.5 * np.cos(np.pi * np.clip((1.0 - u) / 0.35, 0.0, 1.0))
    return attack * release


def _db(value: float) -> float:
    return 10.0 ** (value / 20.0)
