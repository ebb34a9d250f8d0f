"""Shared settings of the Zhao et al. 2019 configs (not an experiment by itself).

Paper: 8 s clips at 16 kHz (cropped or zero-padded), four LFLBs + LSTM(256) + Dense,
Keras, hyperparameters from Bayesian optimisation (not reported: we choose Adam,
lr 1e-3, batch 16, L2 1e-4 on kernels as the paper's "penalties on layer
parameters"), early stopping on validation accuracy.

Protocol here: leave-one-speaker-out; in each fold one of the training speakers is
held out for validation and early stopping (the test speaker never is). Evaluation
covers every test utterance: 8 s windows every 4 s, probabilities averaged.
"""

from jaxser import config as config_lib


def base(model: str, corpus: str = "emodb"):
    c = config_lib.base_config()
    c.data.name = corpus
    c.data.clip_seconds = 8.0
    c.data.eval_mode = "chunks"
    c.data.chunk_seconds = 8.0
    c.data.hop_seconds = 4.0
    c.split.kind = "loso"
    c.split.val_speakers = 1
    c.model.name = model
    # BatchNorm running statistics: Keras' momentum 0.99 (the models' default) leaves the
    # running variance dominated by its initial 1.0 for the first ~300 steps (0.99^200 =
    # 0.13), while a LOSO fold has ~25 steps per epoch: every early-stopping evaluation
    # then sees a mis-normalised network (measured: fold 0 at step 200 scored 0.88 on a
    # training batch with batch statistics, 0.19 with running ones). 0.9 (PyTorch's
    # default) settles within ~50 steps.
    c.model.kwargs.bn_momentum = 0.9
    c.train.global_batch_size = 16
    c.train.epochs = 40
    c.train.optimizer = "adam"
    c.train.learning_rate = 1e-3
    c.train.l2 = 1e-4
    c.train.early_stopping_metric = "ua"
    c.train.early_stopping_patience = 8
    c.train.log_every_steps = 10
    return c


def smoke(c):
    """A few steps on short clips: checks that the config runs, not what it scores."""
    c.data.clip_seconds = c.data.chunk_seconds = 2.0
    c.data.hop_seconds = 1.0
    c.train.epochs = 1
    c.train.global_batch_size = 8
    return c
