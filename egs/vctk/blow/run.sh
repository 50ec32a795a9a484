#!/usr/bin/env bash
# VCTK Blow: the seed's Blow voice conversion (project/05-nn-vocoders/blow) on VCTK at 16 kHz.
# Stages (docs/DESIGN.md): 0 prepare data (here), then voc.sh's 1 waveform (resampled to 16 kHz),
# 2 lists, 3 training (the speakers of data/train/spk.lst passed as model.speakers); then this
# recipe's own 4 conversion of the stage-1 test waveforms (pylib.bin.convert along conf/conversion_map.txt, the
# seed's pairs, or every utterance to --target) and 5 the listening page (voice conversion has no
# natural reference to score against).
#   ./run.sh --db /corpora/VCTK-Corpus          # 0.80 (wav48/) or 0.92 (wav48_silence_trimmed/, mic1)
#   ./run.sh                                    # downloads VCTK 0.92 (about 11 GB) into downloads/
#   ./run.sh --stage 4 --target p245            # convert every test utterance to p245
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
stage=0                  # first stage to run
conf=conf/blow.yaml      # the recipe config: features, data, model, optim and train sections
eval_sets="test"         # sets to convert, separated by spaces
db=""                    # the unpacked VCTK folder; empty: download 0.92 into $download_dir
download_dir=downloads   # stage 0 without --db: the archive and the unpacked corpus go here
vctk_url=https://datashare.ed.ac.uk/bitstream/handle/10283/3443/VCTK-Corpus-0.92.zip  # the official release (Edinburgh DataShare)
speakers=""              # speakers to use, separated by spaces; empty: every one in the corpus
dev_per_speaker=10       # dev utterances per speaker (the last ones before the test ones)
test_per_speaker=10      # test utterances per speaker (the last ones of each speaker)
conversion_map=conf/conversion_map.txt  # stage 4: `source target` pairs (the seed's blow/config.py)
target=""                # stage 4: convert every test utterance to this speaker instead of the map

help_message="Usage: $0 [options]
  --db DIR                unpacked VCTK (wav48/ of 0.80 or wav48_silence_trimmed/ of 0.92; default: download)
  --download-dir DIR      stage 0 without --db: where VCTK 0.92 goes (default $download_dir)
  --speakers \"...\"        speakers to use (default: all)
  --dev-per-speaker N     dev utterances per speaker (default $dev_per_speaker)
  --test-per-speaker N    test utterances per speaker (default $test_per_speaker)
  --conversion-map FILE   stage 4: lines \`source target\` (default $conversion_map)
  --target SPK            stage 4: convert every test utterance to SPK (instead of the map)
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  if [ -z "$db" ]; then
    db=$download_dir/VCTK-Corpus-0.92
    if [ ! -f "$db/.complete" ]; then
      echo "Stage 0: downloading $vctk_url -> $db; log: data/log/download.log"
      mkdir -p "$db" data/log
      ${cmd} data/log/download.log bash -c "curl -fL --retry 3 -C - -o '$download_dir/VCTK-Corpus-0.92.zip' \
        '$vctk_url' && unzip -q -o '$download_dir/VCTK-Corpus-0.92.zip' -d '$db' && touch '$db/.complete'"
    fi
  fi
  echo "Stage 0: data preparation from $db -> data/{train,dev,test}; log: data/log/prepare.log"
  # shellcheck disable=SC2086  # $speakers is a list
  ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data \
    --dev-per-speaker "$dev_per_speaker" --test-per-speaker "$test_per_speaker" ${speakers:+--speakers $speakers}
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 1 ]; then
  if stage_on 3; then  # the model's speaker table: the training speakers, in spk.lst's order
    [ -s data/"$train_set"/spk.lst ] || { echo "$0: data/$train_set/spk.lst is missing: run stage 0 first" >&2; exit 2; }
    train_opts="$train_opts --set model.speakers=[$(paste -sd, data/"$train_set"/spk.lst)]"
  fi
  last=$stop_stage
  stop_stage=$(( stop_stage < 3 ? stop_stage : 3 ))  # voc.sh's stages 4-5 are copy synthesis: ours follow
  stage=$(( stage < 1 ? 1 : stage ))
  run_stages ./voc.sh
  stop_stage=$last
fi

model=$exp/convert_model.pt
if stage_on 4; then
  echo "Stage 4: one-file model of $exp ($checkpoint) -> $model; log: $exp/log/export.log"
  ${cmd} "$exp"/log/export.log python -m pylib.bin.export_model "$exp" "$model" --checkpoint "$checkpoint"
  for set in $eval_sets; do
    out=$exp/convert_$set
    if [ -n "$target" ]; then how=(--target "$target"); else how=(--map "$conversion_map"); fi
    echo "Stage 4: conversion of $set (${how[*]}) -> $out; log: $exp/log/convert_$set.log"
    ${cmd} "$exp"/log/pairs_"$set".log python local/make_pairs.py --utt2spk data/"$set"/utt2spk \
      --speakers data/"$train_set"/spk.lst "${how[@]}" --out "$out"/pairs.txt --wav-dir dump/"$set"/wav
    ${train_cmd} "$exp"/log/convert_"$set".log python -m pylib.bin.convert --model "$model" \
      --pairs "$out"/pairs.txt --wav-scp "$out"/wav.scp --out-dir "$out" --overwrite --no-progress
  done
fi

if stage_on 5; then
  for set in $eval_sets; do
    echo "Stage 5: listening page of $set -> $exp/convert_$set/index.html; log: $exp/log/page_$set.log"
    ${cmd} "$exp"/log/page_"$set".log python local/vc_page.py --pairs "$exp"/convert_"$set"/pairs.txt \
      --utt2spk data/"$set"/utt2spk --source-dir dump/"$set"/wav --conv-dir "$exp"/convert_"$set" \
      --ref-dir dump/"$train_set"/wav --ref-utt2spk data/"$train_set"/utt2spk
    echo "Listening page: $exp/convert_$set/index.html"
  done
fi
