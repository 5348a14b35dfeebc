#!/usr/bin/env bash
# The small-data benchmarks (issue 32): for each target (MSR Action3D xsub, UTKinect-Action3D xsub, NW-UCLA xsub and
# xview), each method and each seed, pretrain with the shipped small_data recipe and evaluate the target's test
# split in float32: kNN, linear, semi-supervised with 10% of the training labels (semi10), and the same network
# without pretraining (random_knn, random_linear, scratch_semi10). One row per finished run is appended to
# benchmarks/small_data/results.csv:
#   dataset,method,pretrain_data,seed,knn,linear,semi10,random_knn,random_linear,scratch_semi10,commit
# pretrain_data "public": the target's training clips and every training clip of the other public Kinect v1
# datasets (never the target's test clips); "own": the target's training clips alone. docs/OWN_DATA.md recommends
# pretraining both ways and keeping the one `skelemix evaluate cv` (training subjects only) rates higher: each
# finished run's cv top-1 is appended to benchmarks/small_data/cv.csv (dataset,method,pretrain_data,seed,cv,commit),
# and summary.py reports the path that choice takes.
#
#   bash benchmarks/small_data/run.sh [path/to/shared/data]
#
# Environment: OUT (runs and data, default runs/small_data), SEEDS (default "0 1 2"; empty: only prepare), METHODS (default
# "skeletonclr skelemixclr"), TARGETS (default "msr-action3d utkinect nw-ucla-xsub nw-ucla-xview"), DATA (default
# "public own"), THREADS (torch threads per process; with 2 cores, two copies of this script side by side at 1
# thread each, on different TARGETS, finish sooner than one at 2). A run with a row in a CSV is not evaluated again
# for it, a stopped one resumed. A variant of the recipe: VARIANT (a name) and OVERRIDES (pretraining settings,
# e.g. "augment.shear=0.2"); its runs are <data>-<method>-<VARIANT>, its rows go to results-<VARIANT>.csv and
# cv-<VARIANT>.csv (the untrained baselines are the recipe's: they do not depend on pretraining settings).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared/data}
OUT=${OUT:-runs/small_data}
SEEDS=${SEEDS-0 1 2}
METHODS=${METHODS:-skeletonclr skelemixclr}
TARGETS=${TARGETS-msr-action3d utkinect nw-ucla-xsub nw-ucla-xview}
DATA=${DATA:-public own}
OVERRIDES=${OVERRIDES:-}
[ -n "$OVERRIDES" ] && [ -z "${VARIANT:-}" ] && { echo "run.sh: OVERRIDES needs a VARIANT name" >&2; exit 2; }
CSV=benchmarks/small_data/results${VARIANT:+-$VARIANT}.csv
CV_CSV=benchmarks/small_data/cv${VARIANT:+-$VARIANT}.csv
[ -n "${THREADS:-}" ] && export OMP_NUM_THREADS=$THREADS

prepare() {  # prepare's defaults for these readers: first-frame centring, turned to face the camera, axes to [-1, 1]
  local name=$1; shift
  [ -f "$OUT/data/$name/dataset.json" ] || skelemix prepare "$@" "$OUT/data/$name" --no-progress > /dev/null
}
prepare nw-ucla nw-ucla "$SHARED/nw-ucla/all_sqe"
prepare msr-action3d msr-action3d "$SHARED/msr-action3d"
prepare utkinect utkinect "$SHARED/utkinect-action3d" "$SHARED/utkinect-action3d/actionLabel.txt"

baseline() {  # the same network without pretraining, once per target and seed (the method does not change it)
  local run=$1 out=$2
  for protocol in knn linear; do
    [ -f "$out/$protocol-random-init.json" ] || skelemix evaluate $protocol "$run" --random-init --out-dir "$out" > /dev/null
  done
  [ -f "$out/semi-10pct-from-scratch.json" ] || \
    skelemix evaluate semi "$run" --fraction 0.1 --from-scratch --out-dir "$out" > /dev/null
}

evaluate_run() {  # pretrain (or resume) one run, evaluate it and its untrained twin, append its row to $CSV
  local run=$1 paths=$2 target=$3 data=$4 benchmark=$5 method=$6 seed=$7
  if [ ! -f "$run/pretrain_summary.yaml" ]; then
    if compgen -G "$run/checkpoints/*.ckpt" > /dev/null; then
      skelemix pretrain --resume "$run" --no-progress
    else
      rm -rf "$run"  # stopped before its first checkpoint: nothing to continue
      # shellcheck disable=SC2086  # OVERRIDES: one word per setting
      skelemix pretrain small_data "$method" "data.path=$paths" "data.benchmark=$benchmark" "train.seed=$seed" \
        $OVERRIDES --run-dir "$run" --no-progress
    fi
  fi
  for protocol in knn linear; do
    [ -f "$run/evaluation/$protocol.json" ] || skelemix evaluate $protocol "$run" > /dev/null
  done
  [ -f "$run/evaluation/semi-10pct.json" ] || skelemix evaluate semi "$run" --fraction 0.1 > /dev/null
  baseline "$run" "$OUT/$target/untrained/seed-$seed"
  python3 benchmarks/small_data/row.py "$CSV" "$run" "$OUT/$target/untrained/seed-$seed" "$target" "$data" >> "$CSV"
  tail -n 1 "$CSV"
}

for data in $DATA; do  # all seeds of one pretraining pool before the next; seed by seed, so that a stopped sweep
  for seed in $SEEDS; do  # has every target's first seeds
    for target in $TARGETS; do
      case $target in
        nw-ucla-*) dataset=nw-ucla; benchmark=${target#nw-ucla-} ;;
        *) dataset=$target; benchmark=xsub ;;
      esac
      others=$(for d in nw-ucla msr-action3d utkinect; do [ "$d" = "$dataset" ] || printf ',%s' "$OUT/data/$d"; done)
      paths="[$OUT/data/$dataset$(if [ "$data" = public ]; then echo "$others"; fi)]"
      for method in $METHODS; do
        run=$OUT/$target/$data-$method${VARIANT:+-$VARIANT}/seed-$seed
        row="^$target,$method,$data,$seed,"  # a run with a row in a CSV is recorded (here or elsewhere): CSVs are kept
        if ! grep -q "$row" "$CSV" 2>/dev/null; then
          evaluate_run "$run" "$paths" "$target" "$data" "$benchmark" "$method" "$seed"
        fi
        if [ -f "$run/pretrain_summary.yaml" ] && ! grep -q "$row" "$CV_CSV" 2>/dev/null; then
          [ -f "$run/evaluation/cv.json" ] || skelemix evaluate cv "$run" > /dev/null
          python3 benchmarks/small_data/row.py --cv "$CV_CSV" "$run" "$target" "$data" >> "$CV_CSV"
        fi
      done
    done
  done
done
