#!/usr/bin/env bash
# CMU ARCTIC WaveGlow: the seed's WaveGlow (project-NN-Pytorch-scripts project/05-nn-vocoders/waveglow,
# sandbox/block_waveglow.py) with its published settings (conf/waveglow.yaml, each key cited): 3 blocks
# x 4 flows of a 1x1 convolution and an affine coupling (8 dilated layers, 256 channels) on the
# waveform squeezed 8 samples a group, conditioned on the raw 80-band log-mel every 5 ms; the exact
# negative log-likelihood; batches of 2 x 1 s, Adam 5e-4, 200 epochs, stop after 50 without a better
# dev loss (waveglow/00_demo.sh). WaveGlow-2 (project/05-nn-vocoders/waveglow-2, the legacy coupling
# network): --conf conf/waveglow2.yaml (the same dump: ./run.sh --conf conf/waveglow2.yaml --stage 3).
# Stages (docs/DESIGN.md): 0 download/prepare data (local/arctic.sh, as egs/cmu_arctic/nsf), then
# voc.sh: 1 mel + wav (the same features as egs/cmu_arctic/nsf; no F0), 2 lists (no statistics:
# the mel is not normalised), 3 training, 4 copy synthesis of the test set (z drawn with std
# model.sigma = 0.6, the seed's, then the seed's denoising), 5 scoring and the listening page.
#   ./run.sh --db /corpora/arctic # a folder holding cmu_us_<spk>_arctic/wav/*.wav (without: download)
#   ./run.sh --conf conf/debug.yaml --speakers "slt bdl" --nj 1   # a toy-width model: minutes on a CPU
# Cost: training wants a GPU (the seed: 200 epochs). Stage 4 is one parallel pass through the
# inverted flows, no sample-by-sample loop: about 8x real time on one CPU thread at the published
# width, a few minutes for the 12 test utterances (about 36 s). Every stage can be rerun alone:
# ./run.sh --stage 4

. ./voc.sh               # the settings of stages 1-5 and their defaults (./voc.sh --help); this recipe's:
conf=conf/waveglow.yaml  # the recipe config (conf/waveglow2.yaml: WaveGlow-2): features ... train sections
. local/arctic.sh        # the stage 0 of egs/cmu_arctic/*: its settings (--db, ...), --help

. utils/parse_options.sh
stages_setup

stage_on 0 && arctic_stage0

run_stages ./voc.sh
