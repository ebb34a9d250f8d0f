"""Reference Zhao et al. (2019) 1D/2D CNN-LSTM in PyTorch, for benchmarks only.

Not part of the jaxser package, and torch is not a jaxser dependency: install the CPU
build yourself (``pip install torch==2.13.0``, which resolves to the ``+cpu`` wheel
here). Same layer sizes as ``jaxser.models.CNNLSTM1D/2D`` (4 LFLBs: conv 3 / 3x3 SAME +
BatchNorm(eps 1e-3, momentum 0.01 = Keras' 0.99) + ELU + max-pool (floor), filters
64, 64, 128, 128; LSTM 256 read at its last step; Linear K). Inputs channels-last like
the others, ``[B, N, 1]`` or a precomputed log-mel ``[B, frames, mels, 1]``;
transposed to PyTorch's NCHW inside ``forward``.

    .venv/bin/python tools/reference_cnn_lstm_torch.py --model 2d --steps 3
"""

from __future__ import annotations

import sys


def import_torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - environment dependent
        raise SystemExit(
            f"PyTorch is required for the PyTorch reference ({e}); it is not a jaxser dependency: "
            "pip install torch==2.13.0 (CPU build)"
        ) from e
    return torch


FILTERS = (64, 64, 128, 128)
POOLS = {"1d": (4, 4, 4, 4), "2d": (2, 4, 4, 4)}


def build_model(kind: str, num_classes: int, input_shape: tuple[int, ...]):
    torch = import_torch()
    nn = torch.nn
    conv = nn.Conv1d if kind == "1d" else nn.Conv2d
    bn = nn.BatchNorm1d if kind == "1d" else nn.BatchNorm2d
    pool = nn.MaxPool1d if kind == "1d" else nn.MaxPool2d

    class CNNLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            blocks, c_in = [], 1
            for f, p in zip(FILTERS, POOLS[kind]):
                blocks += [conv(c_in, f, 3, padding=1), bn(f, eps=1e-3, momentum=0.01), nn.ELU(), pool(p)]
                c_in = f
            self.blocks = nn.Sequential(*blocks)
            spatial = list(input_shape[:-1])
            for p in POOLS[kind]:
                spatial = [s // p for s in spatial]
            features = c_in * (spatial[1] if kind == "2d" else 1)
            self.lstm = nn.LSTM(features, 256, batch_first=True)
            self.dense = nn.Linear(256, num_classes)

        def forward(self, x):  # x: [B, N, 1] or [B, T, F, 1]
            x = x.movedim(-1, 1)  # channels first
            x = self.blocks(x)  # [B, C, T'] or [B, C, T', F']
            if x.dim() == 4:
                x = x.permute(0, 2, 3, 1).flatten(2)  # [B, T', F' * C]
            else:
                x = x.transpose(1, 2)  # [B, T', C]
            out, _ = self.lstm(x)
            return self.dense(out[:, -1])

    return CNNLSTM()


def make_train_step(kind: str, num_classes: int, input_shape: tuple[int, ...], lr: float = 1e-3):
    """``step(x, y) -> loss`` (one Adam step, eager mode) and the model."""
    torch = import_torch()
    model = build_model(kind, num_classes, input_shape)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step, model


def main(argv=None) -> int:
    import reference_cli

    torch = import_torch()
    return reference_cli.run(
        __doc__.splitlines()[0], make_train_step,
        lambda batch, shape: (torch.randn(batch, *shape), torch.randint(0, reference_cli.NUM_CLASSES, (batch,))),
        lambda model: f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
                      f"params {sum(p.numel() for p in model.parameters())}",
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
