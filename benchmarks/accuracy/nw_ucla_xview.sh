#!/usr/bin/env bash
# Reproduces the rows of benchmarks/accuracy/nw_ucla_xview.csv: NW-UCLA cross-view (train views 1+2, test view 3),
# SkeletonCLR and SkeleMixCLR pretrained with seeds 0, 1, 2 on the same schedule, evaluated in float32 (kNN and
# linear on clean backbone features), one row appended per finished run.
#
#   bash benchmarks/accuracy/nw_ucla_xview.sh [path/to/NW-UCLA/all_sqe]
#
# Environment: OUT (runs and data, default runs/accuracy), SEEDS (default 0,1,2), METHODS (default "skeletonclr
# skelemixclr"), THREADS (torch threads per run, default: all cores; with 2 cores two runs side by side at 1 thread
# each finish sooner than one after the other at 2), and SCHEDULE (key=value overrides of the nw_ucla_xview config;
# default: the schedule the CSV's rows were measured with).
set -euo pipefail
cd "$(dirname "$0")/../.."
UCLA=${1:-../shared/data/nw-ucla/all_sqe}
OUT=${OUT:-runs/accuracy}
SEEDS=${SEEDS:-0,1,2}
METHODS=${METHODS:-skeletonclr skelemixclr}
SCHEDULE=${SCHEDULE:-train.epochs=20 train.lr=0.025 train.warmup_epochs=3 train.lr_milestones=[]}
CSV=benchmarks/accuracy/nw_ucla_xview.csv
[ -n "${THREADS:-}" ] && export OMP_NUM_THREADS=$THREADS

# the field's NW-UCLA preprocessing: keep the global motion (first-frame centring), each axis scaled to [-1, 1]
DATA=$OUT/nw-ucla-first-frame-minmax
[ -f "$DATA/dataset.json" ] || skelemix prepare nw-ucla "$UCLA" "$DATA" --centring first_frame --scale minmax --no-progress
for method in $METHODS; do
  # shellcheck disable=SC2086  # SCHEDULE is a list of overrides
  skelemix pretrain nw_ucla_xview "$method" "data.path=$DATA" train.precision=32 $SCHEDULE \
    --run-dir "$OUT/$method" --seeds "$SEEDS" --no-progress
  runs=()
  for seed in ${SEEDS//,/ }; do
    run=$OUT/$method/seed-$seed
    skelemix evaluate knn "$run"
    skelemix evaluate linear "$run"
    runs+=("$run")
  done
  skelemix report "${runs[@]}" --accuracy-csv "$CSV" > /dev/null
done
skelemix report "$OUT"/*/seed-* --group
