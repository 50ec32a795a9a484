#!/usr/bin/env bash
# TEMPLATE recipe: what a new recipe copies. Copy this folder to egs/<corpus>/<model>/, point the
# utils link at ../../../utils, write conf/<model>.yaml, and replace stage 0 with the corpus' own
# data preparation (in local/). Stages (DESIGN.md): 0 data, 1 features, 2 lists and statistics,
# 3 training, 4 inference, 5 scoring. Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

stage=0                  # first stage to run
stop_stage=5             # last stage to run
nj=4                     # parallel jobs for feature extraction (at most the utterances of a set)
conf=conf/model.yaml     # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
train_set=train          # the set the model learns from (normalisation statistics come from it)
dev_set=dev              # the set that picks the best checkpoint
eval_sets="eval"         # sets to run inference on and score, separated by spaces
checkpoint=best          # checkpoint used in inference: best, last, or a path
num_utts=40              # stage 0 (toy corpus): utterances per set

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage N     last stage to run (default $stop_stage)
  --nj N             parallel feature-extraction jobs (default $nj)
  --conf FILE        recipe config (default $conf)
  --tag NAME         experiment name: exp/NAME (default: the config's name)
  --checkpoint C     best, last or a path, for inference (default $checkpoint)
Any other setting at the top of run.sh is an option too: --train-set, --eval-sets, ..."

. ./path.sh || exit 1
. ./cmd.sh
. utils/parse_options.sh
set -euo pipefail

tag=${tag:-$(basename "$conf" .yaml)}
exp=exp/$tag

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  # The toy corpus stands in for a real corpus here. A real recipe calls its own preparation,
  # e.g. `python local/prepare_data.py --db "$db" --out data`, writing data/<set>/wav.scp,
  # utt2spk and (countermeasures) utt2label, sorted; then the same validation.
  seed=0
  for set in $train_set $dev_set $eval_sets; do
    seed=$((seed + 1))  # a different toy corpus per set
    echo "Stage 0: data preparation of $set -> data/$set; log: data/log/prepare_$set.log"
    ${cmd} data/log/prepare_"$set".log \
      python -m pylib.bin.make_toy_corpus --out data/"$set" --num-utts "$num_utts" --seed "$seed"
    echo "Stage 0: checking data/$set; log: data/log/validate_$set.log"
    ${cmd} data/log/validate_"$set".log python -m pylib.bin.validate_data_dir data/"$set"
  done
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  # One job per part of wav.scp; each writes dump/<set>/<feature>/<utt>.f4 (or .wav) files, and the
  # last merges utt2num_frames. Rerunning skips finished files.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 1: features of $set ($nj jobs) -> dump/$set; logs: dump/$set/log/extract.*.log"
    ${cmd} JOB=1:"$nj" dump/"$set"/log/extract.JOB.log \
      python -m pylib.bin.extract_features --conf "$conf" --wav-scp data/"$set"/wav.scp \
        --out-dir dump/"$set" --job JOB --num-jobs "$nj"
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # Lists keep the utterances whose features all exist with consistent lengths (dropped ones are
  # listed in the log); statistics are the mean/std per dim of the training set's features.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 2: list of $set -> dump/$set/$set.lst; log: dump/$set/log/make_lists.log"
    ${cmd} dump/"$set"/log/make_lists.log \
      python -m pylib.bin.make_lists --conf "$conf" --data-dir dump --set "$set" \
        --ids-from data/"$set"/wav.scp
  done
  echo "Stage 2: statistics of $train_set -> dump/$train_set/stats; log: dump/$train_set/log/compute_stats.log"
  ${cmd} dump/"$train_set"/log/compute_stats.log \
    python -m pylib.bin.compute_stats --conf "$conf" --data-dir dump --set "$train_set"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  # Resumes from the last checkpoint in $exp if there is one; --set key=value overrides the config.
  echo "Stage 3: training -> $exp; log: $exp/log/train.log"
  ${train_cmd} "$exp"/log/train.log \
    python -m pylib.bin.train --conf "$conf" --data-dir dump --exp-dir "$exp"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  # Writes generated waveforms (vocoders) or scores.txt (countermeasures) into $exp/infer_<set>/.
  for set in $eval_sets; do
    echo "Stage 4: inference on $set -> $exp/infer_$set; log: $exp/log/infer_$set.log"
    ${train_cmd} "$exp"/log/infer_"$set".log \
      python -m pylib.bin.infer --exp-dir "$exp" --checkpoint "$checkpoint" --data-dir dump \
        --set "$set" --out-dir "$exp"/infer_"$set"
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  # Countermeasures: EER (and min t-DCF with --asv-scores) from scores.txt against utt2label.
  # Vocoders call pylib.bin.score_vocoder here instead (mel distance, MCD, F0 RMSE, V/UV error).
  for set in $eval_sets; do
    echo "Stage 5: scoring $set -> $exp/infer_$set/results.json; log: $exp/log/score_$set.log"
    ${cmd} "$exp"/log/score_"$set".log \
      python -m pylib.bin.score_cm --scores "$exp"/infer_"$set"/scores.txt --labels data/"$set"/utt2label \
        --out "$exp"/infer_"$set"/results.json --det "$exp"/infer_"$set"/det.png
    cat "$exp"/log/score_"$set".log
  done
fi
