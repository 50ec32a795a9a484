#!/usr/bin/env bash
# LJSpeech HiFi-GAN: 22.05 kHz, 80-band log-mel with hop 256 (Kong et al. 2020, V1), and an
# NSF-HiFi-GAN variant that also reads F0 (conf/nsf_hifigan.yaml). Stages (docs/DESIGN.md):
# 0 download/prepare data (here), then voc.sh, the stages every vocoder recipe shares: 1 mel + F0 +
# wav, 2 lists and statistics, 3 training, 4 copy synthesis of the test set, 5 scoring.
#   ./run.sh                             # downloads LJSpeech-1.1 into downloads/ (2.6 GB)
#   ./run.sh --db /corpora/LJSpeech-1.1  # the unpacked corpus (metadata.csv, wavs/)
#   ./run.sh --conf conf/nsf_hifigan.yaml --stage 2   # the same dump serves both configs
# Split (sorted ids): the last 100 utterances test, the 100 before them dev, the rest train.
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
stage=0                  # first stage to run
conf=conf/hifigan_v1.yaml  # the recipe config: features, data, model, optim and train sections
db=""                    # LJSpeech-1.1/ (or the folder holding it); empty: download into $download_dir
download_dir=downloads   # stage 0 without --db: the archive and LJSpeech-1.1/ go here
url=https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2  # the corpus' official archive
num_dev=100              # dev utterances (just before the test set in id order)
num_test=100             # test utterances (the last ids)
eval_sets="test"         # sets to run inference on and score, separated by spaces

help_message="Usage: $0 [options]
  --db DIR           LJSpeech-1.1/ with metadata.csv and wavs/ (default: download to $download_dir)
  --download-dir DIR stage 0 without --db: where the archive goes (default $download_dir)
  --url URL          stage 0 without --db: the archive (default $url)
  --num-dev N        dev utterances, just before the test set in id order (default $num_dev)
  --num-test N       test utterances, the last ids (default $num_test)
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  if [ -z "$db" ]; then
    echo "Stage 0: downloading LJSpeech-1.1 -> $download_dir; log: data/log/download.log"
    ${cmd} data/log/download.log utils/download.sh "$download_dir" LJSpeech-1.1 "$url"
    db=$download_dir/LJSpeech-1.1
  fi
  echo "Stage 0: data preparation from $db -> data/{train,dev,test}; log: data/log/prepare.log"
  ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data \
    --num-dev "$num_dev" --num-test "$num_test"
fi

run_stages ./voc.sh
