#!/usr/bin/env bash
# ASVspoof 2019 LA countermeasures (Wang & Yamagishi, Interspeech 2021): LFCC-LCNN-LSTM-sum with
# P2SGrad / OC-softmax / AM-softmax / sigmoid, and LFCC-LCNN with fixed-length input. Trains on
# train, picks the checkpoint on dev, scores eval against the official protocol and ASV scores.
# Stages (DESIGN.md): 0 data from --db, 1 waveforms, 2 lists with labels, 3 training,
# 4 scores, 5 EER / min t-DCF / per-attack EER / DET curve.
# Get the corpus first: local/README.md (a licence click-through, so no automatic download).
#   ./run.sh --db /data/asvspoof2019/LA [--conf conf/lfcc_lcnn_lstm_oc.yaml]
# Every stage can be rerun alone: ./run.sh --stage 4 --stop-stage 5

stage=0                  # first stage to run
stop_stage=5             # last stage to run
db=""                    # stage 0: the ASVspoof 2019 LA folder (holds ASVspoof2019_LA_train/ ...)
nj=8                     # parallel jobs for waveform preparation
conf=conf/lfcc_lcnn_lstm_p2s.yaml  # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
train_set=train          # the set the model learns from
dev_set=dev              # the set that picks the best checkpoint (and stops training early)
eval_sets="eval"         # sets to score, separated by spaces ("dev eval" scores both)
checkpoint=best          # checkpoint used in inference: best, last, or a path
num_threads=0            # torch/OpenMP threads per job; 0 = leave the library defaults

help_message="Usage: $0 --db /path/to/LA [options]
  --db DIR           the ASVspoof 2019 LA folder, from LA.zip of https://doi.org/10.7488/ds/2555
                     (licence click-through, download by hand; see local/README.md). It must hold
                     ASVspoof2019_LA_{train,dev,eval}/flac/, ASVspoof2019_LA_cm_protocols/ and
                     ASVspoof2019_LA_asv_scores/. Needed by stage 0 only.
  --stage N          first stage to run (default $stage)
  --stop-stage N     last stage to run (default $stop_stage)
  --nj N             parallel waveform jobs (default $nj)
  --conf FILE        recipe config (default $conf); conf/*.yaml lists the published systems
  --tag NAME         experiment name: exp/NAME (default: the config's name)
  --checkpoint C     best, last or a path, for inference (default $checkpoint)
  --eval-sets LIST   sets to score (default \"$eval_sets\")
  --num-threads N    threads per job, 0 = default (default $num_threads)"

. ./path.sh || exit 1
. ./cmd.sh
. utils/parse_options.sh
set -euo pipefail
if [ "$num_threads" -gt 0 ]; then export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads; fi

tag=${tag:-$(basename "$conf" .yaml)}
exp=exp/$tag

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -z "$db" ]; then
    echo "$0: stage 0 needs --db /path/to/LA, the ASVspoof 2019 LA folder; see local/README.md" >&2
    exit 2
  fi
  # wav.scp, utt2spk, utt2label (as pylib.bin.asvspoof_labels writes it) and copies of the official
  # CM protocol and ASV scores; then the checks. The set names are the LA parts: train, dev, eval.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 0: ASVspoof 2019 LA $set -> data/$set; logs: data/log/{prepare,validate}_$set.log"
    ${cmd} data/log/prepare_"$set".log python local/prepare_la.py --db "$db" --part "$set" --out data/"$set"
    ${cmd} data/log/validate_"$set".log python -m pylib.bin.validate_data_dir --require-labels data/"$set"
  done
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  # Waveforms only (flac -> 16-bit wav at 16 kHz): the model computes its LFCC front end itself.
  for set in $train_set $dev_set $eval_sets; do
    [ -f data/"$set"/wav.scp ] || { echo "$0: data/$set/wav.scp is missing: run stage 0 (--db)" >&2; exit 2; }
    echo "Stage 1: waveforms of $set ($nj jobs) -> dump/$set/wav; logs: dump/$set/log/extract.*.log"
    ${cmd} JOB=1:"$nj" dump/"$set"/log/extract.JOB.log \
      python -m pylib.bin.extract_features --conf "$conf" --wav-scp data/"$set"/wav.scp \
        --out-dir dump/"$set" --job JOB --num-jobs "$nj" --no-progress
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # Lists of the usable trials with their labels (dump/<set>/utt2label); no statistics: LFCC is not normalised.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 2: list of $set -> dump/$set/$set.lst; log: dump/$set/log/make_lists.log"
    ${cmd} dump/"$set"/log/make_lists.log \
      python -m pylib.bin.make_lists --conf "$conf" --data-dir dump --set "$set" \
        --ids-from data/"$set"/wav.scp --utt2label data/"$set"/utt2label
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  # Resumes from the last checkpoint in $exp if there is one; the dev loss picks checkpoint_best.pt.
  echo "Stage 3: training -> $exp; log: $exp/log/train.log"
  ${train_cmd} "$exp"/log/train.log \
    python -m pylib.bin.train --conf "$conf" --data-dir dump --exp-dir "$exp"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for set in $eval_sets; do
    echo "Stage 4: scores of $set -> $exp/infer_$set/scores.txt; log: $exp/log/infer_$set.log"
    ${train_cmd} "$exp"/log/infer_"$set".log \
      python -m pylib.bin.infer --exp-dir "$exp" --checkpoint "$checkpoint" --data-dir dump \
        --set "$set" --out-dir "$exp"/infer_"$set"
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  # EER, min t-DCF (ASVspoof 2019 cost model, with the official ASV scores), per-attack EER, DET curve.
  for set in $eval_sets; do
    asv=()
    [ -f data/"$set"/asv_scores.txt ] && asv=(--asv-scores data/"$set"/asv_scores.txt)
    echo "Stage 5: scoring $set -> $exp/infer_$set/results.json; log: $exp/log/score_$set.log"
    ${cmd} "$exp"/log/score_"$set".log \
      python -m pylib.bin.score_cm --exp-dir "$exp" --checkpoint "$checkpoint" \
        --scores "$exp"/infer_"$set"/scores.txt --labels data/"$set"/cm_protocol.txt \
        "${asv[@]}" --out "$exp"/infer_"$set"/results.json --det "$exp"/infer_"$set"/det.png
    grep -v '^#' "$exp"/log/score_"$set".log
  done
fi
