#!/usr/bin/env bash
# LJSpeech HiFi-GAN: 22.05 kHz, 80-band log-mel with hop 256 (Kong et al. 2020, V1), and an
# NSF-HiFi-GAN variant that also reads F0 (conf/nsf_hifigan.yaml). Stages (DESIGN.md): 0 download/
# prepare data, 1 mel + F0 + wav, 2 lists and statistics, 3 training, 4 copy synthesis of the test
# set, 5 scoring.
#   ./run.sh                             # downloads LJSpeech-1.1 into downloads/ (2.6 GB)
#   ./run.sh --db /corpora/LJSpeech-1.1  # the unpacked corpus (metadata.csv, wavs/)
#   ./run.sh --conf conf/nsf_hifigan.yaml --stage 2   # the same dump serves both configs
# Split (sorted ids): the last 100 utterances test, the 100 before them dev, the rest train.
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

stage=0                  # first stage to run
stop_stage=5             # last stage to run
nj=4                     # parallel jobs for feature extraction (at most the utterances of a set)
conf=conf/hifigan_v1.yaml  # the recipe config: features, data, model, optim and train sections
tag=""                   # experiment name, results in exp/<tag>/; empty: the config's file name
db=""                    # LJSpeech-1.1/ (or the folder holding it); empty: download into $download_dir
download_dir=downloads   # stage 0 without --db: the archive and LJSpeech-1.1/ go here
url=https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2  # the corpus' official archive
num_dev=100              # dev utterances (just before the test set in id order)
num_test=100             # test utterances (the last ids)
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
  --db DIR           LJSpeech-1.1/ with metadata.csv and wavs/ (default: download to $download_dir)
  --num-dev N        dev utterances (default $num_dev); --num-test N: test utterances (default $num_test)
  --checkpoint C     best, last or a path, for inference (default $checkpoint)
  --train-opts \"...\" extra training options, e.g. \"--set train.epochs=5\"
Any other setting at the top of run.sh is an option too: --download-dir, --eval-sets, ..."

. ./path.sh || exit 1
. ./cmd.sh
. utils/parse_options.sh
set -euo pipefail
if [ -n "$num_threads" ]; then export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads; fi

tag=${tag:-$(basename "$conf" .yaml)}
exp=exp/$tag

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -z "$db" ]; then
    echo "Stage 0: downloading LJSpeech-1.1 -> $download_dir; log: data/log/download.log"
    ${cmd} data/log/download.log utils/download.sh "$download_dir" LJSpeech-1.1 "$url"
    db=$download_dir/LJSpeech-1.1
  fi
  echo "Stage 0: data preparation from $db -> data/{train,dev,test}; log: data/log/prepare.log"
  ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data \
    --num-dev "$num_dev" --num-test "$num_test"
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
  # Copy synthesis: generated waveforms from the natural mel (and F0), in $exp/infer_<set>/.
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
