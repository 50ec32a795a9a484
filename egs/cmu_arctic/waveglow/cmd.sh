# shellcheck shell=bash
# How run.sh launches its stages: ${cmd} for CPU work (data, features, lists, scoring),
# ${train_cmd} for training and inference. Both take `[JOB=1:N] log command ...`.

# One machine (default): local processes, at most one job per core.
cmd="utils/run.py"
train_cmd="utils/run.py"

# A Slurm cluster: replace the two lines above with these, set to your site's partitions and limits.
# cmd="utils/slurm.py --partition cpu --time 4:00:00 --mem 4G"
# train_cmd="utils/slurm.py --partition gpu --gpus 1 --time 2-00:00:00 --mem 32G"
