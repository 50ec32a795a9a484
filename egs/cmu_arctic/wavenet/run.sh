#!/usr/bin/env bash
# CMU ARCTIC WaveNet: the seed's WaveNet vocoder (project-NN-Pytorch-scripts
# project/05-nn-vocoders/wavenet, sandbox/block_wavenet.py WaveNet_v1) with its published settings
# (conf/wavenet.yaml, each key cited): 10-bit µ-law output, 30 gated layers (dilations 1 ... 512
# three times), conditioned on the 80-band log-mel every 5 ms through a BLSTM; batches of 2 x 3 s,
# Adam 5e-4, 200 epochs, stop after 50 without a better dev loss (wavenet/00_demo.sh).
# Stages (docs/DESIGN.md): 0 download/prepare data (local/arctic.sh, as egs/cmu_arctic/nsf), then
# voc.sh: 1 mel + wav (the same features as egs/cmu_arctic/nsf; no F0), 2 lists and statistics,
# 3 training (teacher-forced), 4 copy synthesis of the test set, 5 scoring and the listening page.
#   ./run.sh --db /corpora/arctic # a folder holding cmu_us_<spk>_arctic/wav/*.wav (without: download)
#   ./run.sh --conf conf/debug.yaml --speakers "slt bdl" --nj 1   # a tiny model: minutes on a CPU
# Cost: training is one parallel pass per segment, for a GPU (the seed: several hours). Stage 4
# generates sample by sample (16000 steps per second of audio, each one update of 30 cached
# layers): about 120 samples/s on one CPU thread, so the 12 test utterances (about 36 s) take over
# an hour of CPU; a GPU or --test-ids keep it short. Every stage can be rerun alone: ./run.sh --stage 4

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
conf=conf/wavenet.yaml   # the recipe config: features, data, model, optim and train sections
. local/arctic.sh        # the stage 0 of egs/cmu_arctic/*: its settings (--db, ...), --help

. utils/parse_options.sh
stages_setup

stage_on 0 && arctic_stage0

run_stages ./voc.sh
