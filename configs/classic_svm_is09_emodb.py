"""Classic baseline: openSMILE IS09 functionals + linear SVM, EmoDB, leave-one-speaker-out.

    jaxser cv --config configs/classic_svm_is09_emodb.py --workdir runs/classic_svm_is09_emodb \
        --config.data.manual_dir=../shared/data/emodb

Expected: pooled WA 66.73 / UA 65.28 (±1.5). Measured 2026-12-01 on dev-cpu (2-core AMD EPYC VM, shared with
other jobs): pooled WA 66.73 / UA 65.28, 28 s wall including the openSMILE extraction; records in
results/classic_svm_is09_emodb_loso/.
Smoke mode: ``configs/classic_svm_is09_emodb.py:smoke`` (the tiny synthetic corpus).
"""

from . import classic_svm_base


def get_config(arg=None):
    c = classic_svm_base.base("IS09", "emodb")
    return classic_svm_base.smoke(c) if arg == "smoke" else c
