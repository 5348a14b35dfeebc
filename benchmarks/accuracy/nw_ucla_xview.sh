#!/usr/bin/env bash
# Reproduces the rows of benchmarks/accuracy/nw_ucla_xview.csv: NW-UCLA cross-view (train views 1+2, test view 3),
# SkeletonCLR and SkeleMixCLR pretrained with the shipped nw_ucla_xview config and seeds 0, 1, 2, evaluated in
# float32 (kNN and linear on clean backbone features), one row appended per finished run.
#
#   bash benchmarks/accuracy/nw_ucla_xview.sh [path/to/NW-UCLA/all_sqe]
#
# Environment: OUT (runs and data, default runs/accuracy), SEEDS (default 0,1,2), METHODS (default "skeletonclr
# skelemixclr"; skelemixclr_plus for R = 3), STREAM (joint, motion or bone; default joint), THREADS (torch threads
# per run, default: all cores; with 2 cores two runs side by side at 1 thread each finish sooner than one after the
# other at 2), SCHEDULE (key=value overrides of the config; default none). The rows with 100 epochs:
#   SCHEDULE="train.epochs=100 train.lr_milestones=[80]" OUT=runs/accuracy-100 bash benchmarks/accuracy/nw_ucla_xview.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
UCLA=${1:-../shared/data/nw-ucla/all_sqe}
OUT=${OUT:-runs/accuracy}
SEEDS=${SEEDS:-0,1,2}
METHODS=${METHODS:-skeletonclr skelemixclr}
STREAM=${STREAM:-joint}
SCHEDULE=${SCHEDULE:-}
CSV=benchmarks/accuracy/nw_ucla_xview.csv
[ -n "${THREADS:-}" ] && export OMP_NUM_THREADS=$THREADS

DATA=$OUT/nw-ucla  # prepare's defaults: first-frame centring, turned to face the camera, each axis to [-1, 1]
[ -f "$DATA/dataset.json" ] || skelemix prepare nw-ucla "$UCLA" "$DATA" --no-progress
for method in $METHODS; do
  # shellcheck disable=SC2086  # SCHEDULE is a list of overrides
  skelemix pretrain nw_ucla_xview "$method" "data.path=$DATA" "data.stream=$STREAM" $SCHEDULE \
    --run-dir "$OUT/$method-$STREAM" --seeds "$SEEDS" --no-progress
  runs=()
  for seed in ${SEEDS//,/ }; do
    run=$OUT/$method-$STREAM/seed-$seed
    skelemix evaluate knn "$run"
    skelemix evaluate linear "$run"
    runs+=("$run")
  done
  skelemix report "${runs[@]}" --accuracy-csv "$CSV" > /dev/null
done
skelemix report "$OUT"/*/seed-* --group
