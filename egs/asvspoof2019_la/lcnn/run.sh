#!/usr/bin/env bash
# ASVspoof 2019 LA countermeasures (Wang & Yamagishi, Interspeech 2021): LFCC-LCNN-LSTM-sum with
# P2SGrad / OC-softmax / AM-softmax / sigmoid, and LFCC-LCNN with fixed-length input. Trains on
# train, picks the checkpoint on dev, scores eval against the official protocol and ASV scores.
# Stages (docs/DESIGN.md): 0 data from --db (here), then cm.sh, the stages every countermeasure
# recipe shares: 1 waveforms, 2 lists with labels, 3 training, 4 scores, 5 EER / min t-DCF /
# per-attack EER / DET curve.
# Get the corpus first: local/README.md (a licence click-through, so no automatic download).
#   ./run.sh --db /data/asvspoof2019/LA [--conf conf/lfcc_lcnn_lstm_oc.yaml]
# Every stage can be rerun alone: ./run.sh --stage 4 --stop-stage 5

. ./cm.sh                # the settings of stages 1-5 and their defaults (./cm.sh --help); this recipe's:
stage=0                  # first stage to run
db=""                    # stage 0: the ASVspoof 2019 LA folder (holds ASVspoof2019_LA_train/ ...)
nj=8                     # parallel jobs for waveform preparation
conf=conf/lfcc_lcnn_lstm_p2s.yaml  # the recipe config: features, data, model, optim and train sections
num_threads=0            # torch/OpenMP threads per job; 0 = leave the library defaults
labels=cm_protocol.txt   # stage 5 scores against the official CM protocol (stage 0 copies it to data/<set>/)
asv_scores=asv_scores.txt  # and uses the official ASV scores for min t-DCF (ASVspoof 2019 cost model);
                         # the train part has none and is never scored

help_message="Usage: $0 --db /path/to/LA [options]
  --db DIR           the ASVspoof 2019 LA folder, from LA.zip of https://doi.org/10.7488/ds/2555
                     (licence click-through, download by hand; see local/README.md). It must hold
                     ASVspoof2019_LA_{train,dev,eval}/flac/, ASVspoof2019_LA_cm_protocols/ and
                     ASVspoof2019_LA_asv_scores/. Needed by stage 0 only.
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  if [ -z "$db" ]; then
    echo "$0: stage 0 needs --db /path/to/LA, the ASVspoof 2019 LA folder; see local/README.md" >&2
    exit 2
  fi
  # wav.scp, utt2spk, utt2label (as pylib.bin.asvspoof_labels writes it) and copies of the official
  # CM protocol and ASV scores. The set names are the LA parts: train, dev, eval.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 0: ASVspoof 2019 LA $set -> data/$set; log: data/log/prepare_$set.log"
    ${cmd} data/log/prepare_"$set".log python local/prepare_la.py --db "$db" --part "$set" --out data/"$set"
  done
fi

run_stages ./cm.sh
