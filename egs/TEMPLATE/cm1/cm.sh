#!/usr/bin/env bash
# The stages of every countermeasure recipe (LFCC-LCNN, RawNet2, ...), written once. A recipe's
# run.sh prepares data/<set>/ (with utt2label) in its stage 0, then calls this script (linked into
# the recipe folder as cm.sh) with its settings. Run from the recipe folder. Stages (docs/DESIGN.md):
#   1 waveforms of every set (the models compute their front end themselves) -> dump/<set>/wav/
#   2 lists of every set with their labels -> dump/<set>/<set>.lst, dump/<set>/utt2label
#   3 training; the dev set picks checkpoint_best.pt -> exp/<tag>/
#   4 scores of the eval sets -> exp/<tag>/infer_<set>/scores.txt (--infer-opts "--mc-dropout 144":
#     the seed's MC-dropout columns too)
#   5 EER, per-attack EER, DET curve (and min t-DCF with ASV scores) -> exp/<tag>/infer_<set>/results.json
#   6 (with --fuse-with) logistic-regression fusion with other runs, trained on the dev scores
#     -> exp/fusion_<tag>/infer_<set>/{scores.txt,fusion.json,results.json}
# With --seeds "1 2 3", stages 3-5 train and score one run per seed, exp/<tag>_seed<N>/ (train.seed
# set to N), and stage 5 ends with pylib.bin.compare_runs over them -> exp/<tag>_report/index.html.
# Every stage can be rerun alone: ./cm.sh --conf conf/debug.yaml --stage 4 --stop-stage 5

. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"/../stages.sh
stop_stage=6             # last stage to run (6, fusion, is skipped without --fuse-with)
labels=utt2label         # stage 5: the key file in data/<set>/ scored against (utt2label, or an official protocol)
asv_scores=""            # stage 5: ASV scores file in data/<set>/ for min t-DCF, used where it exists; empty: none
seeds=""                 # stages 3-5: train and score one run per seed, exp/<tag>_seed<N>/, then compare them; empty: one run, exp/<tag>/
fuse_with=""             # stage 6: other run folders (exp/a exp/b) to fuse this run's scores with; empty: stage 6 skipped
fuse_opts=""             # stage 6: extra options of pylib.bin.fuse_scores, e.g. "--l2 1e-3"

stage_settings+=(labels asv_scores seeds fuse_with fuse_opts)
family_help() {
  echo "  --labels NAME      stage 5: key file in data/<set>/: utt2label or a CM protocol (default $labels)"
  echo "  --asv-scores NAME  stage 5: ASV scores in data/<set>/ for min t-DCF, where present (default: ${asv_scores:-none})"
  echo "  --seeds \"N ...\"    stages 3-5: one run per seed in exp/<tag>_seed<N>/, compared in exp/<tag>_report/"
  echo "                     (default: ${seeds:-none, one run in exp/<tag>/})"
  echo "  --fuse-with \"...\"  stage 6: run folders to fuse with (fusion trained on dev) -> exp/fusion_<tag>/"
  echo "                     (default: ${fuse_with:-none, stage 6 skipped})"
  echo "  --fuse-opts \"...\"  stage 6: extra options of pylib.bin.fuse_scores, e.g. \"--l2 1e-3\" (default: \"$fuse_opts\")"
}
stage_usage

# A run.sh sources this script for the settings above (and their --help lines), then runs it
# with run_stages after its stage 0; executed, it runs stages 1-6.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

. utils/parse_options.sh
stages_setup
[ -n "$tag" ] || { echo "$0: give --tag NAME or --conf FILE: the runs are exp/<tag>, exp/<tag>_seed<N>, exp/fusion_<tag>" >&2; exit 2; }

# The run folders of stages 3-5: exp/<tag>, or exp/<tag>_seed<N> for each of --seeds.
runs=("$exp")
if [ -n "$seeds" ]; then
  runs=()
  for seed in $seeds; do
    [[ "$seed" =~ ^[0-9]+$ ]] || { echo "$0: --seeds takes whole numbers separated by spaces (e.g. \"1 2 3\"), not '$seed'" >&2; exit 2; }
    for run in "${runs[@]}"; do
      [ "$run" != "exp/${tag}_seed$seed" ] || { echo "$0: --seeds \"$seeds\" names seed $seed twice" >&2; exit 2; }
    done
    runs+=("exp/${tag}_seed$seed")
  done
fi
for run in $fuse_with; do
  [ -d "$run" ] || { echo "$0: --fuse-with: $run is not a run folder (give experiment folders, e.g. \"exp/a exp/b\")" >&2; exit 2; }
  case " ${runs[*]} " in
    *" ${run%/} "*) echo "$0: --fuse-with: $run is this run (stage 6 fuses this run's folders with the listed ones): leave it out" >&2; exit 2 ;;
  esac
done

# score_set RUN SET [score_cm options]: stage 5 of one run and eval set -> RUN/infer_SET/results.json.
score_set() {
  local run=$1 set=$2 asv=()
  shift 2
  if [ -n "$asv_scores" ] && [ -f data/"$set"/"$asv_scores" ]; then asv=(--asv-scores data/"$set"/"$asv_scores"); fi
  echo "Stage ${stage_no}: scoring $set -> $run/infer_$set/results.json; log: $run/log/score_$set.log"
  ${cmd} "$run"/log/score_"$set".log \
    python -m pylib.bin.score_cm "$@" --scores "$run"/infer_"$set"/scores.txt --labels data/"$set"/"$labels" \
      "${asv[@]}" --out "$run"/infer_"$set"/results.json --det "$run"/infer_"$set"/det.png
  grep -v '^#' "$run"/log/score_"$set".log
}

stage_on 1 && stage_extract "waveforms" --require-labels

stage_on 2 && stage_lists labels

opts=$train_opts
for exp in "${runs[@]}"; do
  seed=${exp##*_seed}
  # shellcheck disable=SC2034  # read by stage_train
  [ "$exp" = "exp/$tag" ] || train_opts="$opts --set train.seed=$seed"

  stage_on 3 && stage_train

  stage_on 4 && stage_infer "scores"

  if stage_on 5; then
    stage_no=5
    for set in $eval_sets; do
      score_set "$exp" "$set" --exp-dir "$exp" --checkpoint "$checkpoint"
    done
  fi
done

# With --seeds: the runs compared, per eval set -> exp/<tag>_report/ (several sets: exp/<tag>_report/<set>/).
if stage_on 5 && [ -n "$seeds" ]; then
  for set in $eval_sets; do
    report=exp/${tag}_report
    [ "$(echo "$eval_sets" | wc -w)" -eq 1 ] || report=$report/$set
    echo "Stage 5: comparing the ${#runs[@]} seed runs on $set -> $report/index.html; log: $report/log/compare_runs.log"
    ${cmd} "$report"/log/compare_runs.log \
      python -m pylib.bin.compare_runs "${runs[@]}" --subset "$set" --out "$report"
    grep -v '^#' "$report"/log/compare_runs.log
  done
fi

if stage_on 6; then
  stage_no=6
  if [ -z "$fuse_with" ]; then
    echo "Stage 6: skipped (no --fuse-with: fusion needs other runs to fuse this one with)"
  else
    fusion=exp/fusion_$tag
    # shellcheck disable=SC2206  # $fuse_with is a list of folders
    members=($fuse_with "${runs[@]}")
    # the dev scores (stage 4 scores the eval sets only) and any eval scores still missing: this
    # run's dev scores afresh (stage 3 may have trained on), the other runs' where they are missing
    for run in "${members[@]}"; do
      own=false ckpt=$checkpoint
      case " ${runs[*]} " in *" $run "*) own=true ;; *) [[ "$checkpoint" =~ ^(best|last)$ ]] || ckpt=best ;; esac
      for set in $dev_set $eval_sets; do
        if [ -f "$run"/infer_"$set"/scores.txt ] && ! { $own && [ "$set" = "$dev_set" ]; }; then continue; fi
        echo "Stage 6: scores of $set by $run -> $run/infer_$set; log: $run/log/infer_$set.log"
        # shellcheck disable=SC2086  # $infer_opts is a list of options (as in stage 4)
        ${train_cmd} "$run"/log/infer_"$set".log \
          python -m pylib.bin.infer --exp-dir "$run" --checkpoint "$ckpt" --data-dir dump \
            --subset "$set" --out-dir "$run"/infer_"$set" $infer_opts
      done
    done
    for set in $eval_sets; do
      dev_scores=() eval_scores=()
      for run in "${members[@]}"; do
        dev_scores+=("$run"/infer_"$dev_set"/scores.txt)
        eval_scores+=("$run"/infer_"$set"/scores.txt)
      done
      echo "Stage 6: fusion of ${#members[@]} runs (trained on $dev_set) on $set -> $fusion/infer_$set/scores.txt; log: $fusion/log/fuse_$set.log"
      # shellcheck disable=SC2086  # $fuse_opts is a list of options
      ${cmd} "$fusion"/log/fuse_"$set".log \
        python -m pylib.bin.fuse_scores --dev "${dev_scores[@]}" --dev-labels data/"$dev_set"/utt2label \
          --eval "${eval_scores[@]}" --out "$fusion"/infer_"$set"/scores.txt \
          --save-model "$fusion"/infer_"$set"/fusion.json $fuse_opts
      grep -v '^#' "$fusion"/log/fuse_"$set".log
      score_set "$fusion" "$set"
    done
  fi
fi
