# shellcheck shell=bash
# Stage 0 of every CMU ARCTIC recipe (egs/cmu_arctic/*/run.sh), written once: the corpus settings,
# the recipe's --help (these settings, then voc.sh's) and the stage itself (arctic_stage0). A run.sh
# sources it after ./voc.sh and its own settings (conf=...), before utils/parse_options.sh, from its
# folder, where local/ links to this folder.
# Split per speaker: test arctic_b0474-b0476 (the NSF recipes' test list), dev b0464-b0473, the rest train.

stage=0                  # first stage to run (0: this corpus' data preparation)
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

# arctic_stage0: without --db, downloads the speakers into $download_dir (a finished download or
# unpack is never repeated); then local/prepare_data.py writes data/{train,dev,test}/{wav.scp,utt2spk}.
arctic_stage0() {
  local spk
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
}
