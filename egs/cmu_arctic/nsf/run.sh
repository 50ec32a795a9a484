#!/usr/bin/env bash
# CMU ARCTIC hn-sinc-NSF: the published NSF setting (16 kHz, 80-band log-mel + F0 every 5 ms) on
# speakers slt, bdl, rms and clb. Stages (docs/DESIGN.md): 0 download/prepare data (here), then
# voc.sh, the stages every vocoder recipe shares: 1 mel + F0 + wav, 2 lists and statistics,
# 3 training, 4 copy synthesis of the test set, 5 scoring.
#   ./run.sh                      # downloads the four speakers into downloads/ (about 400 MB)
#   ./run.sh --db /corpora/arctic # a folder holding cmu_us_<spk>_arctic/wav/*.wav
# Split per speaker (local/arctic.sh): test arctic_b0474-b0476, dev b0464-b0473, the rest train.
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
conf=conf/hn_sinc_nsf.yaml  # the recipe config: features, data, model, optim and train sections
. local/arctic.sh        # the stage 0 of egs/cmu_arctic/*: its settings (--db, ...), --help

. utils/parse_options.sh
stages_setup

stage_on 0 && arctic_stage0

run_stages ./voc.sh
