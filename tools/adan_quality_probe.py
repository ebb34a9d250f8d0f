"""How good one fold's generated vectors are, quickly (behind BUILD_NOTES' "Why tanh and d = 2" table).

    JAXSER_DATA=../shared/data .venv/bin/python tools/adan_quality_probe.py TAG --config.augmenter.epochs=300 \
        [--config.augmenter.latent_activation=tanh --config.augmenter.d_steps=2 ...]

Trains configs/yi2020_emodb.py's augmenter on fold 0's training speakers (workdir
/tmp/adan_probe_TAG), generates one set and prints JSON: the MMD to the training vectors,
a linear SVM of the real vectors scored on the generated ones (their intended labels),
one of the generated vectors scored on the validation speaker, and the spreads.
"""
import json
import shutil
import sys
import time

from sklearn.svm import LinearSVC

from jaxser import config as C, mmd
from jaxser.systems import adan, classic
from jaxser.train import adversarial, data as tdata

over = sys.argv[2:]
c=C.load('configs/yi2020_emodb.py', ['--config.data.manual_dir=../shared/data/emodb','--config.train.progress=false']+over)
fc=classic.load_data(c); fold=tdata.fold(c, fc.meta)
norm=adan._normalized(c, fc, fold)
X,y,_=adan._part(fc,fold,'train',norm); Xv,yv,_=adan._part(fc,fold,'val',norm)
rec=adan.recipe(c,7,y); st=adan._initial_state(c,rec,X.shape[1])
wd='/tmp/adan_probe_'+sys.argv[1]; shutil.rmtree(wd, ignore_errors=True)
t=time.time()
st,_=adversarial.Trainer(rec,st,X,y,wd,epochs=c.augmenter.epochs,batch_size=128,epochs_per_call=25,checkpoint_every_epochs=10000).fit()
g=adversarial.generate(rec,st,y,seed=1)
svm=LinearSVC(C=1e-3,max_iter=5000).fit(X,y)
svm_g=LinearSVC(C=1e-3,max_iter=5000).fit(g,y)
print(json.dumps({"tag":sys.argv[1],"sec":round(time.time()-t), "mmd":float(mmd.mmd(X,g)), "mmd_real_val": float(mmd.mmd(X,Xv)),
  "real_svm_on_gen": float((svm.predict(g)==y).mean()), "gen_svm_on_val": float((svm_g.predict(Xv)==yv).mean()), "real_svm_on_val": float((svm.predict(Xv)==yv).mean()),
  "gen_std": float(g.std()), "real_std": float(X.std())}), flush=True)
