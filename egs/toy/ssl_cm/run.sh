#!/usr/bin/env bash
# Toy self-supervised countermeasure recipe, offline: a wav2vec 2.0-style front end (a tiny randomly
# initialised one written here, or your checkpoint with --ssl-model) and the seed's LLGF back end
# (project-NN-Pytorch-scripts 07-asvspoof-ssl) learn to tell the toy corpus from copies of it made by
# neural vocoders: the training and dev spoofs are copy-syntheses by the toy NSF and HiFi-GAN
# recipes' models (the vocoded-training idea of the seed's 09-asvspoof-vocoded-trn). The eval set's
# spoofs are the toy CM recipe's W1/G1/L1 attacks, none of them seen in training.
# Stages (docs/DESIGN.md): 0 toy corpus, SSL model, vocoders, vocoded copies (here), then cm.sh, the
# stages every countermeasure recipe shares: 1 waveforms + cached SSL features, 2 lists with labels,
# 3 training, 4 scores of eval, 5 EER / per-attack EER / DET curve.
# Quick check (as the suite's test): ./run.sh --conf conf/debug.yaml --num-utts 6 --num-test-utts 3 --nj 1 \
#   --vocoders "a.pt b.pt"
# Every stage can be rerun alone: ./run.sh --stage 3 --stop-stage 3

. ./cm.sh                # the settings of stages 1-5 and their defaults (./cm.sh --help); this recipe's:
stage=0                  # first stage to run
nj=2                     # parallel jobs for waveform and SSL feature extraction
conf=conf/ssl_fix_llgf.yaml  # the recipe config: features, data, model, optim and train sections
num_threads=1            # torch/OpenMP threads per job (the toy models gain nothing from more)
num_utts=40              # stage 0: bona fide toy training utterances (each gets one copy per vocoder)
num_test_utts=12         # stage 0: bona fide toy utterances of the dev and eval sets
ssl_model=""             # stage 0: SSL checkpoint (Hugging Face folder or fairseq .pt); empty: a tiny random one
vocoders=""              # stage 0: nnsp vocoder model files making the training spoofs; empty: the toy
                         # NSF and HiFi-GAN models of egs/toy/nsf (trained there first where missing)
eval_attacks="W1 G1 L1"  # stage 0: toy attacks of the eval set (egs/toy/lcnn; unseen in training)

help_message="Usage: $0 [options]
  --num-utts N       stage 0: bona fide toy training utterances (default $num_utts)
  --num-test-utts N  stage 0: bona fide toy dev/eval utterances (default $num_test_utts)
  --ssl-model PATH   stage 0: SSL checkpoint, linked as exp/ssl_model (default: a tiny random model)
  --vocoders \"...\"   stage 0: vocoder model files for the training spoofs (default: egs/toy/nsf's)
  --eval-attacks \"...\" stage 0: toy attacks of the eval set (default \"$eval_attacks\")
$(stage_help)"

. utils/parse_options.sh
stages_setup

if stage_on 0; then
  mkdir -p exp data/log
  # The SSL model every config reads as exp/ssl_model.
  if [ -n "$ssl_model" ]; then
    [ -e "$ssl_model" ] || { echo "$0: --ssl-model $ssl_model does not exist" >&2; exit 2; }
    ln -sfn "$(readlink -f "$ssl_model")" exp/ssl_model
  elif [ ! -e exp/ssl_model ]; then
    echo "Stage 0: a tiny random wav2vec 2.0 model -> exp/ssl_model; log: data/log/make_ssl.log"
    ${cmd} data/log/make_ssl.log python -m pylib.bin.make_tiny_ssl --out exp/ssl_model --kind wav2vec2 --seed 0
  fi
  # The vocoders: given, or the toy NSF and HiFi-GAN recipe's models (exported to exp/vocoders/).
  if [ -z "$vocoders" ]; then
    for c in hn_sinc_nsf hifigan; do
      if [ ! -f ../nsf/exp/$c/checkpoint_best.pt ]; then
        echo "Stage 0: training the toy vocoder $c in ../nsf (its stages 0-3; a few minutes)"
        (cd ../nsf && ./run.sh --conf conf/$c.yaml --stop-stage 3 --nj "$nj")
      fi
      ${cmd} data/log/export_$c.log \
        python -m pylib.bin.export_model ../nsf/exp/$c exp/vocoders/$c.pt --checkpoint best
      vocoders="$vocoders exp/vocoders/$c.pt"
    done
  fi
  seed=0
  for set in $train_set $dev_set $eval_sets; do
    seed=$((seed + 1)) n=$num_test_utts
    [ "$set" = "$train_set" ] && n=$num_utts
    echo "Stage 0: toy corpus of $set -> data/${set}_bonafide; log: data/log/prepare_$set.log"
    ${cmd} data/log/prepare_"$set".log \
      python -m pylib.bin.make_toy_corpus --out data/"$set"_bonafide --num-utts "$n" --seed "$seed" --no-progress
    awk '{print $1, "bonafide -"}' data/"$set"_bonafide/wav.scp > data/"$set"_bonafide/utt2label
    if [ "$set" = "$train_set" ] || [ "$set" = "$dev_set" ]; then
      echo "Stage 0: copy synthesis of $set by $(echo $vocoders | wc -w) vocoders -> data/${set}_vocoded; log: data/log/vocode_$set.log"
      # shellcheck disable=SC2086  # $vocoders is a list of files
      ${train_cmd} data/log/vocode_"$set".log \
        python -m pylib.bin.copy_synth --source data/"$set"_bonafide --vocoders $vocoders \
          --out data/"$set"_vocoded --no-progress
      ${cmd} data/log/combine_"$set".log python -m pylib.bin.combine_data --drop-partial \
        --out data/"$set" data/"$set"_bonafide data/"$set"_vocoded
    else
      echo "Stage 0: toy spoofs ($eval_attacks) of $set -> data/$set; log: data/log/spoof_$set.log"
      # shellcheck disable=SC2086  # $eval_attacks is a list of words
      ${cmd} data/log/spoof_"$set".log \
        python -m pylib.bin.make_toy_spoofs --src data/"$set"_bonafide --out data/"$set" --attacks $eval_attacks \
          --seed "$seed" --no-progress
    fi
  done
fi

run_stages ./cm.sh
