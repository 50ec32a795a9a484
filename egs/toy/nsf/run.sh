#!/usr/bin/env bash
# Toy NSF recipe: an hn-sinc-NSF vocoder trained on the synthetic toy corpus (known F0), then copy
# synthesis of the eval set scored against the natural waveforms. Stages (DESIGN.md): 0 toy corpus,
# 1 mel + F0 + wav, 2 lists and statistics, 3 training, 4 inference, 5 scoring.
# Quick check (the suite's test): ./run.sh --conf conf/debug.yaml --num-utts 12 --num-test-utts 4 --nj 1
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

stage=0                  # first stage to run
stop_stage=5             # last stage to run
nj=2                     # parallel jobs for feature extraction (at most the utterances of a set)
conf=conf/hn_sinc_nsf.yaml  # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
train_set=train          # the set the model learns from (normalisation statistics come from it)
dev_set=dev              # the set that picks the best checkpoint
eval_sets="eval"         # sets to run inference on and score, separated by spaces
checkpoint=best          # checkpoint used in inference: best, last, or a path
num_threads=1            # torch/OpenMP threads per job: the toy models gain nothing from more, and
                         # on a busy machine extra threads slow them down a lot
num_utts=40              # stage 0 (toy corpus): utterances of the training set
num_test_utts=10         # stage 0 (toy corpus): utterances of the dev and eval sets
max_plots=20             # stage 5: spectrogram PNGs for the first N utterances of each set

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage N     last stage to run (default $stop_stage)
  --nj N             parallel feature-extraction jobs (default $nj)
  --conf FILE        recipe config (default $conf)
  --tag NAME         experiment name: exp/NAME (default: the config's name)
  --checkpoint C     best, last or a path, for inference (default $checkpoint)
  --num-threads N    threads per job (default $num_threads)
  --num-utts N       toy training utterances (default $num_utts); --num-test-utts: dev/eval (default $num_test_utts)
Any other setting at the top of run.sh is an option too: --train-set, --eval-sets, ..."

. ./path.sh || exit 1
. ./cmd.sh
. utils/parse_options.sh
set -euo pipefail
export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads

tag=${tag:-$(basename "$conf" .yaml)}
exp=exp/$tag

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  # A different toy corpus (seed) per set; the same 4 speakers in each.
  seed=0
  for set in $train_set $dev_set $eval_sets; do
    seed=$((seed + 1))
    n=$num_test_utts
    [ "$set" = "$train_set" ] && n=$num_utts
    echo "Stage 0: toy corpus $set -> data/$set; log: data/log/prepare_$set.log"
    ${cmd} data/log/prepare_"$set".log \
      python -m pylib.bin.make_toy_corpus --out data/"$set" --num-utts "$n" --seed "$seed" --no-progress
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
  # Against the natural waveforms of dump/<set>/wav: log-mel L1, MCD, F0 RMSE (cents), V/UV error;
  # spectrogram PNGs in plots/ and a listening page index.html next to the generated files.
  for set in $eval_sets; do
    echo "Stage 5: scoring $set -> $exp/infer_$set/results.json; log: $exp/log/score_$set.log"
    ${cmd} "$exp"/log/score_"$set".log \
      python -m pylib.bin.score_vocoder --exp-dir "$exp" --checkpoint "$checkpoint" \
        --gen-dir "$exp"/infer_"$set" --ref-dir dump/"$set"/wav \
        --list dump/"$set"/"$set".lst --max-plots "$max_plots" --no-progress
    sed -n '/^[0-9]* utterances at/,/^utterance/p' "$exp"/log/score_"$set".log | head -n 2
    echo "Listening page: $exp/infer_$set/index.html"
  done
fi
