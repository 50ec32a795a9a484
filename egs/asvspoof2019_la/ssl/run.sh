#!/usr/bin/env bash
# ASVspoof 2019 LA countermeasures with a self-supervised front end (Wang & Yamagishi, "Investigating
# self-supervised front ends for speech spoofing countermeasures", Odyssey 2022; the seed's
# 07-asvspoof-ssl and 09-asvspoof-vocoded-trn): wav2vec 2.0 XLSR, frozen (its features cached by
# stage 1) or fine-tuned, with the GF / LGF / LLGF / FF back ends (docs/countermeasures.md).
# Stages (docs/DESIGN.md): 0 data from --db and the SSL model (here), then cm.sh, the stages every
# countermeasure recipe shares: 1 waveforms or cached SSL features, 2 lists with labels, 3 training,
# 4 scores, 5 EER / min t-DCF / per-attack EER / DET curve, 6 fusion (with --fuse-with).
# Needs: the corpus (local/README.md) and an SSL checkpoint (docs/ssl.md#checkpoints; the seed's is
# xlsr_53_56k.pt from fairseq). Nothing is downloaded.
#   ./run.sh --db /data/asvspoof2019/LA --ssl-model /data/ssl/xlsr_53_56k.pt [--conf conf/w2v_xlsr_ft_gf.yaml]
# Every stage can be rerun alone: ./run.sh --stage 4 --stop-stage 5

. ./cm.sh                # the settings of stages 1-6 and their defaults (./cm.sh --help); this recipe's:
stage=0                  # first stage to run
db=""                    # stage 0: the ASVspoof 2019 LA folder (holds ASVspoof2019_LA_train/ ...)
ssl_model=""             # stage 0: the SSL checkpoint (fairseq .pt or transformers folder), linked as exp/ssl_model
nj=4                     # parallel jobs for waveform / SSL feature extraction
conf=conf/w2v_xlsr_fix_llgf.yaml  # the recipe config (conf/: fixed or fine-tuned XLSR, GF/LGF/LLGF/FF)
num_threads=0            # torch/OpenMP threads per job; 0 = leave the library defaults
labels=cm_protocol.txt   # stage 5 scores against the official CM protocol (stage 0 copies it to data/<set>/)
asv_scores=asv_scores.txt  # and uses the official ASV scores for min t-DCF

help_message="Usage: $0 --db /path/to/LA --ssl-model /path/to/xlsr_53_56k.pt [options]
  --db DIR           the ASVspoof 2019 LA folder (see local/README.md); needed by stage 0 only
  --ssl-model PATH   the SSL checkpoint every config reads as exp/ssl_model: a fairseq .pt (the seed's
                     xlsr_53_56k.pt) or a transformers folder; needed by stage 0 only (docs/ssl.md)
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  if [ -z "$db" ] || [ -z "$ssl_model" ]; then
    echo "$0: stage 0 needs --db /path/to/LA (local/README.md) and --ssl-model PATH (docs/ssl.md#checkpoints)" >&2
    exit 2
  fi
  [ -e "$ssl_model" ] || { echo "$0: --ssl-model $ssl_model does not exist; see docs/ssl.md#checkpoints" >&2; exit 2; }
  mkdir -p exp
  ln -sfn "$(readlink -f "$ssl_model")" exp/ssl_model
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 0: ASVspoof 2019 LA $set -> data/$set; log: data/log/prepare_$set.log"
    ${cmd} data/log/prepare_"$set".log python local/prepare_la.py --db "$db" --part "$set" --out data/"$set"
  done
fi

run_stages ./cm.sh
