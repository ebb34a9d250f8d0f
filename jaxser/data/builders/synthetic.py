"""The built-in synthetic corpus (:mod:`jaxser.data.synthetic`) as a TFDS builder.

Generated on the fly: no download, no manual dir, no data files. Configs:

* ``default``: 10 speakers (5 female, 5 male) x 4 classes x 12 clips = 480 clips,
  about 22 minutes; the corpus for training and evaluating a model in a few minutes on
  a laptop CPU.
* ``tiny``: the first 4 speakers (2 female, 2 male) x 4 classes x 3 clips = 48 clips,
  for fast tests.

Everything is in ``train``; split by speaker with :mod:`jaxser.data.splits`. Ids are
``synthetic/<speaker>/<emotion>/<index>``, and each clip equals
``to_int16(generate_utterance(emotion, speaker, index, seed))``.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from jaxser.data import schema, synthetic


@dataclasses.dataclass(eq=False, kw_only=True)
class SyntheticConfig(tfds.core.BuilderConfig):
    """A corpus size: which speakers, how many clips each, the seed and clip lengths."""

    corpus: synthetic.CorpusConfig = synthetic.DEFAULT


class Synthetic(tfds.core.GeneratorBasedBuilder):
    """Generated emotional-prosody-like speech: 4 classes, 10 speakers, deterministic."""

    name = "synthetic"  # no TFDS catalog dataset has this name (checked with tfds.list_builders())
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: configs default (480 clips) and tiny (48), int16 at 16 kHz."}
    BUILDER_CONFIGS = [
        SyntheticConfig(name="default", description="10 speakers x 4 classes x 12 clips.", corpus=synthetic.DEFAULT),
        SyntheticConfig(name="tiny", description="4 speakers x 4 classes x 3 clips, for tests.", corpus=synthetic.TINY),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=schema.example_features(synthetic.CLASS_NAMES),
            supervised_keys=("audio", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {"train": self._generate_examples(self.builder_config.corpus)}

    def _generate_examples(self, corpus: synthetic.CorpusConfig):
        for example in synthetic.iter_corpus(corpus):
            yield example["id"], {**example, "audio": schema.to_int16(example["audio"])}
