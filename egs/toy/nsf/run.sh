#!/usr/bin/env bash
# Toy NSF recipe: an hn-sinc-NSF vocoder trained on the synthetic toy corpus (known F0), then copy
# synthesis of the eval set scored against the natural waveforms. Stages (docs/DESIGN.md): 0 toy
# corpus (here), then voc.sh, the stages every vocoder recipe shares: 1 mel + F0 + wav, 2 lists and
# statistics, 3 training, 4 inference, 5 scoring.
# Quick check (as the suite's test): ./run.sh --conf conf/debug.yaml --num-utts 8 --num-test-utts 3 --nj 1
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
stage=0                  # first stage to run
nj=2                     # parallel jobs for feature extraction (at most the utterances of a set)
conf=conf/hn_sinc_nsf.yaml  # the recipe config: features, data, model, optim and train sections
num_threads=1            # torch/OpenMP threads per job: the toy models gain nothing from more, and
                         # on a busy machine extra threads slow them down a lot
num_utts=40              # stage 0 (toy corpus): utterances of the training set
num_test_utts=10         # stage 0 (toy corpus): utterances of the dev and eval sets

help_message="Usage: $0 [options]
  --num-utts N       stage 0: toy training utterances (default $num_utts)
  --num-test-utts N  stage 0: toy dev/eval utterances (default $num_test_utts)
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  # A different toy corpus per set (seeds 1, 2, 3, ...); the same 4 speakers in each.
  # shellcheck disable=SC2206  # the set names are words
  sets=($train_set $dev_set $eval_sets)
  for i in "${!sets[@]}"; do
    set=${sets[$i]} n=$num_test_utts
    [ "$i" = 0 ] && n=$num_utts
    echo "Stage 0: toy corpus $set -> data/$set; log: data/log/prepare_$set.log"
    ${cmd} data/log/prepare_"$set".log \
      python -m pylib.bin.make_toy_corpus --out data/"$set" --num-utts "$n" --seed "$((i + 1))" --no-progress
  done
fi

run_stages ./voc.sh
