# shellcheck shell=bash
# What voc1/voc.sh (vocoders) and cm1/cm.sh (countermeasures) share: the settings every stage
# script takes, their --help lines, and the stage bodies that are the same for both task families.
# Sourced by both before their options are parsed (and so by a run.sh that sources voc.sh or cm.sh
# for its settings); they run in the recipe folder, so data/, dump/ and exp/ are below it. Shell
# only orchestrates: every stage is one `python -m pylib.bin.<tool>` per set, launched through
# ${cmd}/${train_cmd} of cmd.sh, each with its log. The stages and their files: docs/DESIGN.md.

. ./path.sh || exit 1    # the repository's venv and pylib (utils/env.sh)
. ./cmd.sh               # the launchers ${cmd} and ${train_cmd}: local processes or a cluster
set -euo pipefail

stage=1                  # first stage to run (stage 0, the corpus' data preparation, is run.sh's)
stop_stage=5             # last stage to run
conf=""                  # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
nj=4                     # stage 1: parallel extraction jobs per set (at most the utterances of a set)
train_set=train          # the set the model learns from (vocoders: normalisation statistics too)
dev_set=dev              # the set that picks the best checkpoint
eval_sets="eval"         # sets to run inference on and score, separated by spaces
checkpoint=best          # stages 4-5: the checkpoint used: best, last, or a path
train_opts=""            # stage 3: extra options of pylib.bin.train, e.g. "--set train.max_steps=1000"
infer_opts=""            # stage 4: extra options of pylib.bin.infer, e.g. "--mc-dropout 144"
num_threads=""           # torch/OpenMP threads per job; empty or 0: the library's default

# The settings above, passed on by run_stages; voc.sh and cm.sh append their own.
stage_settings=(stage stop_stage conf tag nj train_set dev_set eval_sets checkpoint train_opts infer_opts num_threads)

# stage_help: the --help lines of the settings above, with their current values as defaults, then
# those of the task family (family_help, defined by voc.sh or cm.sh).
stage_help() {
  local conf_d=${conf:-none: required} tag_d=${tag:-the config file name} threads_d=${num_threads:-empty}
  cat <<HELP
  --stage N          first stage to run (default $stage)
  --stop-stage N     last stage to run (default $stop_stage)
  --conf FILE        the recipe config (default: $conf_d)
  --tag NAME         experiment name: exp/NAME (default: $tag_d)
  --nj N             stage 1: parallel extraction jobs per set (default $nj)
  --train-set NAME   the training set, data/NAME (default $train_set)
  --dev-set NAME     the set that picks the best checkpoint (default $dev_set)
  --eval-sets "..."  sets for inference and scoring (default "$eval_sets")
  --checkpoint C     stages 4-5: best, last or a path (default $checkpoint)
  --train-opts "..." stage 3: extra options of pylib.bin.train, e.g. "--set train.epochs=5"
  --infer-opts "..." stage 4: extra options of pylib.bin.infer, e.g. "--mc-dropout 144" (default: "$infer_opts")
  --num-threads N    torch/OpenMP threads per job; empty or 0: the library's default (default: $threads_d)
HELP
  family_help
}

# stage_usage: sets the --help of voc.sh or cm.sh itself.
stage_usage() {
  help_message="Usage: $0 --conf FILE [options]   (run from the recipe folder)
$(stage_help)"
}

# require_data FILE...: stage 0's end in a recipe template: every set's data/<set>/ holds FILE...
require_data() {
  local set f
  echo "Stage 0: checking that data/{${train_set},${dev_set},${eval_sets// /,}} hold $*"
  for set in $train_set $dev_set $eval_sets; do
    for f in "$@"; do
      [ -s data/"$set"/"$f" ] || { echo "$0: data/$set/$f is missing: stage 0 of run.sh must write it (see its comments)" >&2; exit 2; }
    done
  done
}

# run_stages SCRIPT: run.sh's call of voc.sh or cm.sh, passing every stage setting on (--name value).
run_stages() {
  local name args=()
  for name in "${stage_settings[@]}"; do
    args+=(--"${name//_/-}" "${!name}")
  done
  "$1" "${args[@]}"
}

# stages_setup: after parse_options.sh: checks the settings, sets exp and the thread variables.
stages_setup() {
  local n
  for n in "$stage" "$stop_stage" "$nj"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "$0: --stage, --stop-stage and --nj take whole numbers, not '$n'" >&2; exit 2; }
  done
  if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 1 ]; then  # some stage of voc.sh/cm.sh will read it
    [ -n "$conf" ] || { echo "$0: --conf FILE is required (the recipe config, e.g. conf/debug.yaml)" >&2; exit 2; }
    [ -f "$conf" ] || { echo "$0: --conf $conf: no such file (run it from the recipe folder)" >&2; exit 2; }
  fi
  if [ -n "$num_threads" ] && [ "$num_threads" != 0 ]; then
    export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads
  fi
  tag=${tag:-$(basename "$conf" .yaml)}
  exp=exp/$tag
}

# stage_on N: whether stage N lies within --stage .. --stop-stage.
stage_on() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# Stage 1. stage_extract WHAT [validate_data_dir options]: checks data/<set> (what stage 0 wrote),
# then one job per part of wav.scp writes dump/<set>/<feature>/<utt>.f4 (or .wav); the last job
# merges utt2num_frames. Rerunning skips finished files.
stage_extract() {
  local what=$1 set
  shift
  for set in $train_set $dev_set $eval_sets; do
    [ -f data/"$set"/wav.scp ] || { echo "$0: data/$set/wav.scp is missing: run stage 0 of run.sh first" >&2; exit 2; }
    echo "Stage 1: checking data/$set; log: data/log/validate_$set.log"
    ${cmd} data/log/validate_"$set".log python -m pylib.bin.validate_data_dir "$@" data/"$set"
    echo "Stage 1: $what of $set ($nj jobs) -> dump/$set; logs: dump/$set/log/extract.*.log"
    ${cmd} JOB=1:"$nj" dump/"$set"/log/extract.JOB.log \
      python -m pylib.bin.extract_features --conf "$conf" --wav-scp data/"$set"/wav.scp \
        --out-dir dump/"$set" --job JOB --num-jobs "$nj" --no-progress
  done
}

# Stage 2. stage_lists [labels]: dump/<set>/<set>.lst keeps the utterances whose features all exist
# with consistent lengths (dropped ones are named in the log); with `labels` the list also carries
# data/<set>/utt2label over to dump/<set>/utt2label for the loader (countermeasures).
stage_lists() {
  local set labels=()
  for set in $train_set $dev_set $eval_sets; do
    if [ "${1:-}" = labels ]; then labels=(--utt2label data/"$set"/utt2label); fi
    echo "Stage 2: list of $set -> dump/$set/$set.lst; log: dump/$set/log/make_lists.log"
    ${cmd} dump/"$set"/log/make_lists.log \
      python -m pylib.bin.make_lists --conf "$conf" --data-dir dump --subset "$set" \
        --ids-from data/"$set"/wav.scp "${labels[@]}"
  done
}

# Stage 3: training; resumes from the last checkpoint in $exp if there is one.
stage_train() {
  echo "Stage 3: training -> $exp; log: $exp/log/train.log"
  # shellcheck disable=SC2086  # $train_opts is a list of options
  ${train_cmd} "$exp"/log/train.log \
    python -m pylib.bin.train --conf "$conf" --data-dir dump --exp-dir "$exp" $train_opts
}

# Stage 4. stage_infer WHAT: the model's output for every eval set in $exp/infer_<set>/ (with
# $infer_opts, e.g. --mc-dropout N for the seed's MC-dropout score columns).
stage_infer() {
  local set
  for set in $eval_sets; do
    echo "Stage 4: $1 of $set -> $exp/infer_$set; log: $exp/log/infer_$set.log"
    # shellcheck disable=SC2086  # $infer_opts is a list of options
    ${train_cmd} "$exp"/log/infer_"$set".log \
      python -m pylib.bin.infer --exp-dir "$exp" --checkpoint "$checkpoint" --data-dir dump \
        --subset "$set" --out-dir "$exp"/infer_"$set" $infer_opts
  done
}
