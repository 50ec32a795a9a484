#!/usr/bin/env bash
# The stages of every countermeasure recipe (LFCC-LCNN, RawNet2, ...), written once. A recipe's
# run.sh prepares data/<set>/ (with utt2label) in its stage 0, then calls this script (linked into
# the recipe folder as cm.sh) with its settings. Run from the recipe folder. Stages (docs/DESIGN.md):
#   1 waveforms of every set (the models compute their front end themselves) -> dump/<set>/wav/
#   2 lists of every set with their labels -> dump/<set>/<set>.lst, dump/<set>/utt2label
#   3 training; the dev set picks checkpoint_best.pt -> exp/<tag>/
#   4 scores of the eval sets -> exp/<tag>/infer_<set>/scores.txt
#   5 EER, per-attack EER, DET curve (and min t-DCF with ASV scores) -> exp/<tag>/infer_<set>/results.json
# Every stage can be rerun alone: ./cm.sh --conf conf/debug.yaml --stage 4 --stop-stage 5

. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"/../stages.sh
labels=utt2label         # stage 5: the key file in data/<set>/ scored against (utt2label, or an official protocol)
asv_scores=""            # stage 5: ASV scores file in data/<set>/ for min t-DCF, used where it exists; empty: none

stage_settings+=(labels asv_scores)
family_help() {
  echo "  --labels NAME      stage 5: key file in data/<set>/: utt2label or a CM protocol (default $labels)"
  echo "  --asv-scores NAME  stage 5: ASV scores in data/<set>/ for min t-DCF, where present (default: ${asv_scores:-none})"
}
stage_usage

# A run.sh sources this script for the settings above (and their --help lines), then runs it
# with run_stages after its stage 0; executed, it runs stages 1-5.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

. utils/parse_options.sh
stages_setup

stage_on 1 && stage_extract "waveforms" --require-labels

stage_on 2 && stage_lists labels

stage_on 3 && stage_train

stage_on 4 && stage_infer "scores"

if stage_on 5; then
  for set in $eval_sets; do
    asv=()
    if [ -n "$asv_scores" ] && [ -f data/"$set"/"$asv_scores" ]; then asv=(--asv-scores data/"$set"/"$asv_scores"); fi
    echo "Stage 5: scoring $set -> $exp/infer_$set/results.json; log: $exp/log/score_$set.log"
    ${cmd} "$exp"/log/score_"$set".log \
      python -m pylib.bin.score_cm --exp-dir "$exp" --checkpoint "$checkpoint" \
        --scores "$exp"/infer_"$set"/scores.txt --labels data/"$set"/"$labels" \
        "${asv[@]}" --out "$exp"/infer_"$set"/results.json --det "$exp"/infer_"$set"/det.png
    grep -v '^#' "$exp"/log/score_"$set".log
  done
fi
