#!/usr/bin/env bash
# The stages of every vocoder recipe (NSF, HiFi-GAN, ...), written once. A recipe's run.sh prepares
# data/<set>/ in its stage 0, then calls this script (linked into the recipe folder as voc.sh)
# with its settings. Run from the recipe folder. Stages (docs/DESIGN.md):
#   1 features (mel, F0, waveform) of every set -> dump/<set>/
#   2 lists of every set, normalisation statistics of the training set -> dump/<set>/<set>.lst, dump/<train>/stats/
#   3 training -> exp/<tag>/
#   4 copy synthesis of the eval sets -> exp/<tag>/infer_<set>/<utt>.wav
#   5 scoring against the natural waveforms -> exp/<tag>/infer_<set>/results.json, plots/, index.html
# Every stage can be rerun alone: ./voc.sh --conf conf/debug.yaml --stage 3 --stop-stage 3

. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"/../stages.sh
max_plots=20             # stage 5: spectrogram PNGs for the first N utterances of each set

stage_settings+=(max_plots)
family_help() {
  echo "  --max-plots N      stage 5: spectrogram PNGs for the first N utterances of a set (default $max_plots)"
}
stage_usage

# A run.sh sources this script for the settings above (and their --help lines), then runs it
# with run_stages after its stage 0; executed, it runs stages 1-5.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

. utils/parse_options.sh
stages_setup

stage_on 1 && stage_extract "features"

if stage_on 2; then
  stage_lists
  # Statistics: the mean/std per dim of the training set's features, for the model's normalisation.
  echo "Stage 2: statistics of $train_set -> dump/$train_set/stats; log: dump/$train_set/log/compute_stats.log"
  ${cmd} dump/"$train_set"/log/compute_stats.log \
    python -m pylib.bin.compute_stats --conf "$conf" --data-dir dump --subset "$train_set"
fi

stage_on 3 && stage_train

stage_on 4 && stage_infer "copy synthesis"

if stage_on 5; then
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
