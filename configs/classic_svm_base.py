"""Shared settings of the classic baseline: openSMILE functionals + linear SVM (not an experiment).

The usual reference point of speech emotion recognition papers: utterance-level
openSMILE functionals (INTERSPEECH 2009 Emotion Challenge set IS09, 384 features, or the
2011 Speaker State set IS11, 4,368), z-scored with the statistics of the fold's
training speakers, and a linear SVM with balanced class weights fitted on them.
Leave-one-speaker-out, no validation speakers (nothing is selected: C is fixed), every
test utterance scored once; WA and UA pooled over the folds.

Reference (issue 10, measured on this kind of machine with
``LinearSVC(C=1e-3 for IS11, 1e-2 for IS09, class_weight='balanced')`` after
``StandardScaler``, pooled over LOSO folds): EmoDB IS11 WA 76.26 / UA 75.22,
IS09 66.73 / 65.28; CASIA IS11 WA 41.50, IS09 38.50.
"""

from jaxser import config as config_lib

C = {"IS09": 1e-2, "IS11": 1e-3}


def base(feature_set: str, corpus: str):
    c = config_lib.base_config()
    c.name = f"classic_svm_{feature_set.lower()}_{corpus}"
    c.kind = "sklearn"
    c.data.name = corpus
    c.features.source = "opensmile"
    c.features.opensmile_set = feature_set
    c.features.normalize = "train"
    c.features.drop_constant = False  # StandardScaler keeps constant features (scale 1), as the reference did
    c.split.kind = "loso"
    c.split.val_speakers = 0
    c.model.name = "linear_svm"
    c.model.kwargs.C = C[feature_set]
    c.model.kwargs.class_weight = "balanced"
    return c


def smoke(c):
    """The built-in tiny synthetic corpus: checks that the config runs, not what it scores."""
    c.data.name = "synthetic"
    c.data.config = "tiny"
    c.data.manual_dir = ""
    return c
