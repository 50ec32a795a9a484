#!/usr/bin/env bash
# CMU ARCTIC hn-sinc-NSF: the published NSF setting (16 kHz, 80-band log-mel + F0 every 5 ms) on
# speakers slt, bdl, rms and clb. Stages (DESIGN.md): 0 download/prepare data, 1 mel + F0 + wav,
# 2 lists and statistics, 3 training, 4 copy synthesis of the test set, 5 scoring.
#   ./run.sh                      # downloads the four speakers into downloads/ (about 400 MB)
#   ./run.sh --db /corpora/arctic # a folder holding cmu_us_<spk>_arctic/wav/*.wav
# Split per speaker: test arctic_b0474-b0476 (the NSF recipes' test list), dev b0464-b0473, the rest train.
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

stage=0                  # first stage to run
stop_stage=5             # last stage to run
nj=4                     # parallel jobs for feature extraction (at most the utterances of a set)
conf=conf/hn_sinc_nsf.yaml  # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
db=""                    # corpus folder with cmu_us_<spk>_arctic/wav/; empty: download into $download_dir
download_dir=downloads   # stage 0 without --db: archives and unpacked speakers go here
base_url=http://festvox.org/cmu_arctic/packed  # the official festvox site
speakers="slt bdl rms clb"  # ARCTIC speaker codes
dev_ids=b0464-b0473      # dev prompts per speaker (ranges or commas)
test_ids=b0474-b0476     # test prompts per speaker
train_set=train          # the set the model learns from (normalisation statistics come from it)
dev_set=dev              # the set that picks the best checkpoint
eval_sets="test"         # sets to run inference on and score, separated by spaces
checkpoint=best          # checkpoint used in inference: best, last, or a path
train_opts=""            # extra options of pylib.bin.train, e.g. "--set train.max_steps=1000"
num_threads=""           # torch/OpenMP threads per job; empty: the library's default
max_plots=20             # stage 5: spectrogram PNGs for the first N utterances of each set

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage N     last stage to run (default $stop_stage)
  --nj N             parallel feature-extraction jobs (default $nj)
  --conf FILE        recipe config (default $conf)
  --tag NAME         experiment name: exp/NAME (default: the config's name)
  --db DIR           corpus folder holding cmu_us_<spk>_arctic/wav/ (default: download to $download_dir)
  --speakers \"...\"   speakers (default \"$speakers\")
  --checkpoint C     best, last or a path, for inference (default $checkpoint)
  --train-opts \"...\" extra training options, e.g. \"--set train.epochs=5\"
Any other setting at the top of run.sh is an option too: --dev-ids, --test-ids, --eval-sets, ..."

. ./path.sh || exit 1
. ./cmd.sh
. utils/parse_options.sh
set -euo pipefail
if [ -n "$num_threads" ]; then export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads; fi

tag=${tag:-$(basename "$conf" .yaml)}
exp=exp/$tag

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -z "$db" ]; then
    # The 0.95 release the NSF papers used; the unversioned name is festvox' current packing.
    for spk in $speakers; do
      echo "Stage 0: downloading cmu_us_${spk}_arctic -> $download_dir; log: data/log/download_$spk.log"
      ${cmd} data/log/download_"$spk".log utils/download.sh "$download_dir" cmu_us_"$spk"_arctic \
        "$base_url"/cmu_us_"$spk"_arctic-0.95-release.tar.bz2 "$base_url"/cmu_us_"$spk"_arctic.tar.bz2
    done
    db=$download_dir
  fi
  echo "Stage 0: data preparation from $db -> data/{train,dev,test}; log: data/log/prepare.log"
  # shellcheck disable=SC2086  # $speakers is a list
  ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data --speakers $speakers \
    --dev-ids "$dev_ids" --test-ids "$test_ids"
  for set in $train_set $dev_set $eval_sets; do
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
        --out-dir dump/"$set" --job JOB --num-jobs "$nj" --no-progress
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
  # Resumes from the last checkpoint in $exp if there is one.
  echo "Stage 3: training -> $exp; log: $exp/log/train.log"
  # shellcheck disable=SC2086  # $train_opts is a list of options
  ${train_cmd} "$exp"/log/train.log \
    python -m pylib.bin.train --conf "$conf" --data-dir dump --exp-dir "$exp" $train_opts
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  # Copy synthesis: generated waveforms from the natural mel and F0, in $exp/infer_<set>/.
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
