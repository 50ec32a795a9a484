#!/usr/bin/env bash
# Toy countermeasure recipe: LFCC-LCNN-LSTM (P2SGrad) learns to tell the toy corpus (bona fide) from
# copies of it passed through simple vocoders (spoofed). Attacks: W1 WORLD analysis-synthesis, G1
# Griffin-Lim from the mel, both in train/dev/eval; L1 an LPC vocoder, in eval only (held out).
# Stages (docs/DESIGN.md): 0 toy corpus + spoofs (here), then cm.sh, the stages every countermeasure
# recipe shares: 1 waveforms, 2 lists with labels, 3 training, 4 scores of eval, 5 EER / per-attack
# EER (L1 is the held-out one) / DET curve, 6 fusion with other runs (--fuse-with; skipped without).
# Several seeds and their report: ./run.sh --seeds "1 2" -> exp/<tag>_seed{1,2}/, exp/<tag>_report/index.html
# Quick check (as the suite's test): ./run.sh --conf conf/debug.yaml --num-utts 4 --num-test-utts 2 --nj 1
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./cm.sh                # the settings of stages 1-5 and their defaults (./cm.sh --help); this recipe's:
stage=0                  # first stage to run
nj=2                     # parallel jobs for waveform preparation (at most the utterances of a set)
conf=conf/lfcc_lcnn_lstm_p2s.yaml  # the recipe config: features, data, model, optim and train sections
num_threads=1            # torch/OpenMP threads per job: the toy models gain nothing from more, and
                         # on a busy machine extra threads slow them down a lot
num_utts=60              # stage 0: bona fide toy utterances of the training set (each gets one copy per attack)
num_test_utts=20         # stage 0: bona fide toy utterances of the dev and eval sets
known_attacks="W1 G1"    # stage 0: attacks in every set
eval_attacks="W1 G1 L1"  # stage 0: attacks in the eval sets (L1 is never seen in training)

help_message="Usage: $0 [options]
  --num-utts N       stage 0: bona fide toy training utterances (default $num_utts)
  --num-test-utts N  stage 0: bona fide toy dev/eval utterances (default $num_test_utts)
  --known-attacks \"...\"  stage 0: attacks in every set (default \"$known_attacks\")
  --eval-attacks \"...\"   stage 0: attacks in the eval sets (default \"$eval_attacks\")
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
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
      python -m pylib.bin.make_toy_spoofs --src data/"$set"_bonafide --out data/"$set" --attacks $attacks \
        --seed "$seed" --no-progress
  done
fi

run_stages ./cm.sh
