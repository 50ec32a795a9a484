#!/usr/bin/env bash
# Toy countermeasure recipe: LFCC-LCNN-LSTM (P2SGrad) learns to tell the toy corpus (bona fide) from
# copies of it passed through simple vocoders (spoofed). Attacks: W1 WORLD analysis-synthesis, G1
# Griffin-Lim from the mel, both in train/dev/eval; L1 an LPC vocoder, in eval only (held out).
# Stages (DESIGN.md): 0 toy corpus + spoofs, 1 waveforms, 2 lists with labels, 3 training,
# 4 scores of eval, 5 EER / per-attack EER / DET curve.
# Quick check (the suite's test): ./run.sh --conf conf/debug.yaml --num-utts 8 --num-test-utts 4 --nj 1
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

stage=0                  # first stage to run
stop_stage=5             # last stage to run
nj=2                     # parallel jobs for waveform preparation (at most the utterances of a set)
conf=conf/lfcc_lcnn_lstm_p2s.yaml  # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
train_set=train          # the set the model learns from
dev_set=dev              # the set that picks the best checkpoint
eval_sets="eval"         # sets to score, separated by spaces
checkpoint=best          # checkpoint used in inference: best, last, or a path
num_threads=1            # torch/OpenMP threads per job: the toy models gain nothing from more, and
                         # on a busy machine extra threads slow them down a lot
num_utts=60              # stage 0: bona fide toy utterances of the training set (each gets one copy per attack)
num_test_utts=20         # stage 0: bona fide toy utterances of the dev and eval sets
known_attacks="W1 G1"    # stage 0: attacks in every set
eval_attacks="W1 G1 L1"  # stage 0: attacks in the eval sets (L1 is never seen in training)

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage N     last stage to run (default $stop_stage)
  --nj N             parallel waveform jobs (default $nj)
  --conf FILE        recipe config (default $conf)
  --tag NAME         experiment name: exp/NAME (default: the config's name)
  --checkpoint C     best, last or a path, for inference (default $checkpoint)
  --num-threads N    threads per job (default $num_threads)
  --num-utts N       bona fide toy training utterances (default $num_utts); --num-test-utts: dev/eval (default $num_test_utts)
Any other setting at the top of run.sh is an option too: --eval-attacks, --eval-sets, ..."

. ./path.sh || exit 1
. ./cmd.sh
. utils/parse_options.sh
set -euo pipefail
export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads

tag=${tag:-$(basename "$conf" .yaml)}
exp=exp/$tag

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  # A different toy corpus (seed) per set, then the spoofed copies; data/<set>_bonafide keeps the sources.
  seed=0
  for set in $train_set $dev_set $eval_sets; do
    seed=$((seed + 1))
    n=$num_test_utts attacks=$eval_attacks
    [ "$set" = "$train_set" ] && n=$num_utts
    { [ "$set" = "$train_set" ] || [ "$set" = "$dev_set" ]; } && attacks=$known_attacks
    echo "Stage 0: toy corpus + spoofs ($attacks) of $set -> data/$set; logs: data/log/{prepare,spoof}_$set.log"
    ${cmd} data/log/prepare_"$set".log \
      python -m pylib.bin.make_toy_corpus --out data/"$set"_bonafide --num-utts "$n" --seed "$seed" --no-progress
    # shellcheck disable=SC2086  # $attacks is a list of words
    ${cmd} data/log/spoof_"$set".log \
      python local/make_spoofs.py --src data/"$set"_bonafide --out data/"$set" --attacks $attacks \
        --seed "$seed" --no-progress
    ${cmd} data/log/validate_"$set".log python -m pylib.bin.validate_data_dir --require-labels data/"$set"
  done
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  # Waveforms only: the model computes its LFCC front end itself.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 1: waveforms of $set ($nj jobs) -> dump/$set/wav; logs: dump/$set/log/extract.*.log"
    ${cmd} JOB=1:"$nj" dump/"$set"/log/extract.JOB.log \
      python -m pylib.bin.extract_features --conf "$conf" --wav-scp data/"$set"/wav.scp \
        --out-dir dump/"$set" --job JOB --num-jobs "$nj" --no-progress
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # Lists of the usable trials; their labels are copied to dump/<set>/utt2label for the loader.
  for set in $train_set $dev_set $eval_sets; do
    echo "Stage 2: list of $set -> dump/$set/$set.lst; log: dump/$set/log/make_lists.log"
    ${cmd} dump/"$set"/log/make_lists.log \
      python -m pylib.bin.make_lists --conf "$conf" --data-dir dump --set "$set" \
        --ids-from data/"$set"/wav.scp --utt2label data/"$set"/utt2label
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  # Resumes from the last checkpoint in $exp if there is one.
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
  # EER overall and per attack (L1 is the held-out one) and a DET curve.
  for set in $eval_sets; do
    echo "Stage 5: scoring $set -> $exp/infer_$set/results.json; log: $exp/log/score_$set.log"
    ${cmd} "$exp"/log/score_"$set".log \
      python -m pylib.bin.score_cm --exp-dir "$exp" --checkpoint "$checkpoint" \
        --scores "$exp"/infer_"$set"/scores.txt --labels data/"$set"/utt2label \
        --out "$exp"/infer_"$set"/results.json --det "$exp"/infer_"$set"/det.png
    grep -v '^#' "$exp"/log/score_"$set".log
  done
fi
