"""Models, chosen by name from one explicit dict.

    from jaxser import models
    model = models.build("zhao2019_cnn2d", num_classes=7, bn_axis_name="data")
"""

from __future__ import annotations

from flax import linen as nn

from jaxser.models.cnn_lstm import CNNLSTM1D, CNNLSTM2D
from jaxser.models.zhong import ACLN, FCN, FusedACLNFCN

# Classifiers of waveforms, model(audio, lengths, train=) -> logits: what the supervised
# kind trains. FCN and FusedACLNFCN take functionals too; their kind builds them directly.
MODELS: dict[str, type[nn.Module]] = {
    "zhao2019_cnn1d": CNNLSTM1D,
    "zhao2019_cnn2d": CNNLSTM2D,
    "zhong2020_acln": ACLN,
}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    """The model ``MODELS[name]`` with ``num_classes`` outputs; ``kwargs`` set its fields."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](num_classes=num_classes, **kwargs)


__all__ = ["ACLN", "CNNLSTM1D", "CNNLSTM2D", "FCN", "FusedACLNFCN", "MODELS", "build"]
