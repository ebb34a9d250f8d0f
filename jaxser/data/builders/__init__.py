"""One TFDS builder per corpus, all emitting the example schema of :mod:`jaxser.data.schema`.

- :mod:`~jaxser.data.builders.emodb`: EmoDB (German, 535 utterances).
- :mod:`~jaxser.data.builders.casia`: CASIA (Mandarin; configs ``public`` and ``full``).
- :mod:`~jaxser.data.builders.iemocap`: IEMOCAP (configs ``4class``, ``4class_exc_merged``, ``full``).
- :mod:`~jaxser.data.builders.ravdess`: RAVDESS speech (resampled from 48 kHz).
- :mod:`~jaxser.data.builders.tfds_catalog`: TFDS's ``crema_d`` and ``savee`` rewritten into the schema.
- :mod:`~jaxser.data.builders.synthetic`: generated emotional-prosody speech (4 classes, 10 speakers), the built-in default corpus.
- :mod:`~jaxser.data.builders.common`: manual-dir checks, audio reading, bad-file reports.

Nothing is imported here, so importing one builder does not import (and register with
TFDS) all the others; :mod:`jaxser.data.corpora` is the one place that gathers them.
"""
