#!/usr/bin/env bash
# TEMPLATE of a countermeasure recipe for corpus X: copy run.sh, path.sh and cmd.sh to egs/X/<model>/,
# link cm.sh (ln -s ../../TEMPLATE/cm1/cm.sh) and utils (ln -s ../../../utils), put the model's
# config in conf/ and the corpus' preparation in local/. Stages (docs/DESIGN.md): 0 data preparation
# (here, the corpus' own), then cm.sh, the stages every countermeasure recipe shares: 1 waveforms,
# 2 lists with labels, 3 training, 4 scores of the eval sets, 5 EER / per-attack EER / DET curve
# (--seeds "1 2 3": one run per seed and a report comparing them), 6 fusion with --fuse-with runs.
# Every stage can be rerun alone: ./run.sh --stage 4 --stop-stage 5

. ./cm.sh                # the settings of stages 1-5 and their defaults (./cm.sh --help); this recipe's:
stage=0                  # first stage to run
db=""                    # stage 0: the corpus folder
conf=conf/model.yaml     # the recipe config: copy a shipped one, e.g. ../../toy/lcnn/conf/lfcc_lcnn_lstm_p2s.yaml
labels=utt2label         # stage 5: the key in data/<set>/ (an official protocol file where the corpus has one)

help_message="Usage: $0 --db DIR [options]   (a countermeasure recipe)
  --db DIR           stage 0: the corpus folder, bona fide and spoofed trials
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  # The corpus' own preparation goes here, e.g.
  #   echo "Stage 0: data preparation from $db -> data/; log: data/log/prepare.log"
  #   ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data
  # It writes data/<set>/ for every set in $train_set $dev_set $eval_sets, each file sorted by trial
  # id, one line per trial (stage 1 checks them with pylib.bin.validate_data_dir --require-labels):
  #   wav.scp    <utt-id> <path of a wav or flac file>
  #   utt2spk    <utt-id> <speaker-id>
  #   utt2label  <utt-id> bonafide|spoof <attack-id, or - for bona fide>  (stage 5's key: --labels)
  require_data wav.scp utt2spk utt2label
fi

run_stages ./cm.sh
