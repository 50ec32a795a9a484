#!/usr/bin/env bash
# TEMPLATE of a vocoder recipe for corpus X: copy run.sh, path.sh and cmd.sh to egs/X/<model>/, link
# voc.sh (ln -s ../../TEMPLATE/voc1/voc.sh) and utils (ln -s ../../../utils), put the model's config
# in conf/ and the corpus' preparation in local/. Stages (docs/DESIGN.md): 0 data preparation (here,
# the corpus' own), then voc.sh, the stages every vocoder recipe shares: 1 features, 2 lists and
# statistics, 3 training, 4 copy synthesis of the eval sets, 5 scoring.
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
stage=0                  # first stage to run
conf=conf/model.yaml     # the recipe config: copy a shipped one, e.g. ../../toy/nsf/conf/hn_sinc_nsf.yaml
db=""                    # stage 0: the corpus folder

help_message="Usage: $0 --db DIR [options]
  --db DIR           stage 0: the corpus folder
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  # The corpus' own preparation goes here, e.g.
  #   echo "Stage 0: data preparation from $db -> data/; log: data/log/prepare.log"
  #   ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data
  # It writes data/<set>/ for every set in $train_set $dev_set $eval_sets, each file sorted by
  # utterance id, one line per utterance (stage 1 checks them with pylib.bin.validate_data_dir):
  #   wav.scp   <utt-id> <path of a wav or flac file>  (at features.sample_rate, or set features.resample)
  #   utt2spk   <utt-id> <speaker-id>
  require_data wav.scp utt2spk
fi

run_stages ./voc.sh
