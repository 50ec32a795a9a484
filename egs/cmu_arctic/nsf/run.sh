#!/usr/bin/env bash
# CMU ARCTIC hn-sinc-NSF: the published NSF setting (16 kHz, 80-band log-mel + F0 every 5 ms) on
# speakers slt, bdl, rms and clb. Stages (docs/DESIGN.md): 0 download/prepare data (here), then
# voc.sh, the stages every vocoder recipe shares: 1 mel + F0 + wav, 2 lists and statistics,
# 3 training, 4 copy synthesis of the test set, 5 scoring.
#   ./run.sh                      # downloads the four speakers into downloads/ (about 400 MB)
#   ./run.sh --db /corpora/arctic # a folder holding cmu_us_<spk>_arctic/wav/*.wav
# Split per speaker: test arctic_b0474-b0476 (the NSF recipes' test list), dev b0464-b0473, the rest train.
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
stage=0                  # first stage to run
conf=conf/hn_sinc_nsf.yaml  # the recipe config: features, data, model, optim and train sections
db=""                    # corpus folder with cmu_us_<spk>_arctic/wav/; empty: download into $download_dir
download_dir=downloads   # stage 0 without --db: archives and unpacked speakers go here
base_url=http://festvox.org/cmu_arctic/packed  # the official festvox site
speakers="slt bdl rms clb"  # ARCTIC speaker codes
dev_ids=b0464-b0473      # dev prompts per speaker (ranges or commas)
test_ids=b0474-b0476     # test prompts per speaker
eval_sets="test"         # sets to run inference on and score, separated by spaces

help_message="Usage: $0 [options]
  --db DIR           corpus folder holding cmu_us_<spk>_arctic/wav/ (default: download to $download_dir)
  --speakers \"...\"   speakers (default \"$speakers\")
  --dev-ids IDS      dev prompts per speaker, ranges or commas (default $dev_ids)
  --test-ids IDS     test prompts per speaker (default $test_ids)
  --download-dir DIR stage 0 without --db: where the archives go (default $download_dir)
  --base-url URL     stage 0 without --db: where the archives come from (default $base_url)
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
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
fi

run_stages ./voc.sh
