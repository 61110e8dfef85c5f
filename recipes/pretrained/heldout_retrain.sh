#!/usr/bin/env bash
# The retrain CANDIDATES.md declares: the shipped model's stages (RESULTS.md, "Reproduce"),
# each with the unseen dev words held out, so that a model exists whose unseen-word skill can
# be judged on dev. It never installs anything: the ship rule in CANDIDATES.md decides.
# From finetune2 on it departs from them as CANDIDATES.md declares ("The held-out line from
# finetune2 on"), on what the dev words showed: 4,000 more synthetic clips per
# epoch, speeds 0.9-1.3 throughout, and fewer epochs, so each stage sees about as many
# clips as before.
#
# Usage, from the repository's root: bash recipes/pretrained/heldout_retrain.sh [DATA]
#   DATA  the corpora folder [../shared/data]; $PYTHON picks the interpreter [python]
#
# Re-running it goes on where it stopped: a stage whose report exists is done, and one whose
# training folder exists is resumed from its last epoch's checkpoint (training is killed
# at the end of a session on a machine without a GPU; the stages took 584 min on 2 cores).
# Reports go to exp/**/RESULTS.heldout*.md, never over the committed RESULTS pages.
set -euo pipefail
DATA="${1:-../shared/data}"
PY="${PYTHON:-python}"
WORDS=backward,bed,follow,forward,happy,learn,visual
FINE=(--repeat an4=3 --synthetic-subset)

# stage REPORT TRAIN_DIR ARGS...: one recipe run, skipped when REPORT exists, resumed when
# TRAIN_DIR holds a checkpoint.
stage() {
    local report=$1 train_dir=$2
    shift 2
    if [ -f "$report" ]; then
        echo "== done: $report"
        return
    fi
    local resume=()
    [ -d "$train_dir" ] && resume=(--resume)
    echo "== $* ${resume[*]}"
    "$PY" -m "$@" --dev-words "$WORDS" --results "$report" "${resume[@]}"
}

[ -f exp/an4/data/train.jsonl ] ||
    "$PY" -c "from recipes.an4.prepare import prepare; prepare('$DATA/an4', 'exp/an4/data')"
stage exp/speech_commands/RESULTS.heldout.md exp/speech_commands/train \
    recipes.speech_commands --data "$DATA/speech_commands" --extra exp/an4/data/train.jsonl --epochs 30
P=exp/pretrained
pretrained() {  # pretrained NAME ARGS...: a recipes.pretrained stage training in $P/NAME
    local name=$1
    shift
    stage "$P/RESULTS.heldout.$name.md" "$P/$name" recipes.pretrained --data "$DATA" \
        --train-dir "$P/$name" "$@"
}
pretrained train --init-from exp/speech_commands/train/model --epochs 16
pretrained finetune --init-from $P/train/model "${FINE[@]}" 4000 --repeat speech_commands=2 \
    --learning-rate 0.0005 --epochs 14
# From finetune2 on (declared in CANDIDATES.md): 4,000 more synthetic clips per epoch than the
# shipped line's stage, speeds 0.9-1.3, and its epochs scaled to keep the clips per stage.
FAST=(--speed 0.9,1.0,1.1,1.2,1.3)
pretrained finetune2 --init-from $P/finetune/model "${FINE[@]}" 8000 --repeat speech_commands=2 \
    "${FAST[@]}" --seed 1 --learning-rate 0.0003 --epochs 9
pretrained finetune3 --init-from $P/finetune2/model "${FINE[@]}" 8000 --repeat speech_commands=2 \
    "${FAST[@]}" --seed 2 --learning-rate 0.0002 --epochs 9
pretrained finetune4 --init-from $P/finetune3/model "${FINE[@]}" 8000 --repeat speech_commands=2 \
    "${FAST[@]}" --seed 3 --learning-rate 0.00015 --epochs 9 --average-with $P/finetune3/model
pretrained finetune5 --init-from $P/finetune4/averaged "${FINE[@]}" 8000 \
    --repeat speech_commands=2 "${FAST[@]}" --seed 4 --learning-rate 0.0001 --epochs 8
pretrained finetune6 --init-from $P/finetune4/averaged "${FINE[@]}" 8000 \
    --repeat speech_commands=3 "${FAST[@]}" --seed 5 --learning-rate 0.0001 --epochs 8
[ -d $P/soup/g2 ] || "$PY" -m ctcasr average $P/finetune5/model $P/finetune6/model -o $P/soup/g2
pretrained finetune8 --init-from $P/soup/g2 "${FINE[@]}" 8000 --repeat speech_commands=3 \
    "${FAST[@]}" --seed 8 --learning-rate 5e-05 --epochs 6
pretrained finetune9 --init-from $P/finetune8/model "${FINE[@]}" 10000 --repeat speech_commands=3 \
    "${FAST[@]}" --seed 9 --learning-rate 5e-05 --epochs 6 --average-with $P/finetune8/model \
    --average-best 3
pretrained finetune10 --init-from $P/finetune9/averaged "${FINE[@]}" 10000 \
    --repeat speech_commands=3 "${FAST[@]}" --seed 10 --learning-rate 5e-05 \
    --epochs 6 --average-with $P/finetune9/averaged --average-best 3
pretrained finetune11 --init-from $P/finetune10/averaged "${FINE[@]}" 10000 \
    --repeat speech_commands=3 "${FAST[@]}" --seed 11 --learning-rate 3e-5 \
    --epochs 5 --average-best 3 --average-with $P/finetune10/averaged \
    --average-with $P/finetune9/averaged
echo "== every stage done; compare with: $PY -m recipes.pretrained.dev_compare --help"
