"""Classic baseline: openSMILE IS11 functionals + linear SVM, CASIA, leave-one-speaker-out.

    jaxser cv --config configs/classic_svm_is11_casia.py --workdir runs/classic_svm_is11_casia \
        --config.data.manual_dir=../shared/data/casia

Expected: pooled WA 41.50 (±1.5). Measured 2026-12-01 on dev-cpu (2-core AMD EPYC VM, shared with
other jobs): pooled WA = UA 41.50, 192 s wall including the openSMILE extraction; records in
results/classic_svm_is11_casia_loso/.
Smoke mode: ``configs/classic_svm_is11_casia.py:smoke`` (the tiny synthetic corpus).
"""

from . import classic_svm_base


def get_config(arg=None):
    c = classic_svm_base.base("IS11", "casia")
    return classic_svm_base.smoke(c) if arg == "smoke" else c
