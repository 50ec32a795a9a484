#!/usr/bin/env bash
# CMU ARCTIC iLPCNet: the seed's iLPCNet (project-NN-Pytorch-scripts project/05-nn-vocoders/ilpcnet,
# sandbox/block_lpcnet.py LPCNetV1; after Hwang et al., ICASSP 2020) with its published settings
# (conf/ilpcnet.yaml, each key cited): LP coefficients (order 15, 10 ms frames) predicted from the
# 80-band log-mel + F0, a frame-rate network and two sample-rate GRUs (256, 16) for a Gaussian
# excitation; batches of 256 x 2400 samples, Adam 1e-4, the seed's two training stages (condition
# network, then the rest: 00_demo.sh stage1 100 epochs, stage2 400) in one run (model.stage1_steps).
# Stages (docs/DESIGN.md): 0 download/prepare data (local/arctic.sh, as egs/cmu_arctic/nsf), then
# voc.sh: 1 mel + F0 + wav (the same dump as egs/cmu_arctic/nsf), 2 lists and statistics,
# 3 training, 4 copy synthesis of the test set (excitation std x model.temperature = 0.7, the
# seed's), 5 scoring and the listening page.
#   ./run.sh --db /corpora/arctic # a folder holding cmu_us_<spk>_arctic/wav/*.wav (without: download)
#   ./run.sh --conf conf/debug.yaml --speakers "slt bdl" --nj 1   # a tiny model: minutes on a CPU
# Cost: training wants a GPU. Stage 4 generates sample by sample (16000 GRU steps per second of
# audio): about 6x real time on one CPU thread, a few minutes for the 12 test utterances (about
# 36 s). Every stage can be rerun alone: ./run.sh --stage 4

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
conf=conf/ilpcnet.yaml   # the recipe config: features, data, model, optim and train sections
. local/arctic.sh        # the stage 0 of egs/cmu_arctic/*: its settings (--db, ...), --help

. utils/parse_options.sh
stages_setup

stage_on 0 && arctic_stage0

run_stages ./voc.sh
