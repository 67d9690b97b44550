#!/usr/bin/env bash
# Every figure of the README's GPU column in one command (target: under 8 minutes on an H100).
#
#   bash benchmarks/device_suite.sh                 # on a CUDA machine, with the project installed
#   bash benchmarks/device_suite.sh --dry-run       # print the commands, run nothing
#   bash benchmarks/device_suite.sh --smoke         # the same steps on CPU with the tiny preset (a check, not figures)
#
# Runs training/run.py, so the figures are the ones a user gets: BLIP-base architecture (random-initialised from
# BlipConfig(): the Salesforce weights are unreachable offline), bf16, fused AdamW, SDPA attention, pixel cache,
# procedural people; training at batch 4 and 32, evaluation at batch 128 with `text` and `loc_text` captions under
# grammar-constrained decoding. Peak memory comes from the Trainer's own memory metrics. The table is printed by
# benchmarks/device_table.py from suite.json and each run's all_results.json.
set -euo pipefail

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    echo
    echo "options: --out DIR (default outputs/device-suite)  --frames N (synthetic frames, default 5000)"
    echo "         --train-steps N (default 60)  --eval-images N (default 1024)  --dry-run  --smoke  -h|--help"
}

die() {  # one line, exit 2: the project's convention for bad input
    echo "device_suite.sh: $*" >&2
    exit 2
}

positive_int() {  # NAME VALUE
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
}

out=outputs/device-suite frames=5000 train_steps=60 eval_images=1024 dry_run=0 smoke=0
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) dry_run=1 ;;
        --smoke) smoke=1 ;;
        --out | --frames | --train-steps | --eval-images)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --out) out=$2 ;;
                --frames) positive_int "$1" "$2"; frames=$2 ;;
                --train-steps) positive_int "$1" "$2"; train_steps=$2 ;;
                --eval-images) positive_int "$1" "$2"; eval_images=$2 ;;
            esac
            shift ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

py=${PYTHON:-python}
if ((smoke)); then  # CPU, tiny preset, fp32: checks the pipeline end to end in about a minute
    model=tiny precision=(--use_cpu true) optim=adamw_torch batches=(4 8) eval_batch=8
    ((frames == 5000)) && frames=60
    ((train_steps == 60)) && train_steps=2
    ((eval_images == 1024)) && eval_images=8
else
    model=base precision=(--bf16 true --use_cpu false) optim=adamw_torch_fused batches=(4 32) eval_batch=128
fi
if ! ((dry_run || smoke)); then
    "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
        || die "no CUDA GPU here (torch.cuda.is_available() is False); use --smoke for a CPU check or --dry-run"
fi

data=$out/data  # built once: every run reads the same frames
build="$py -m mpii_pose_dataset build --synthetic $frames --config video_split --validation-ratio 0.25 \
--num-proc $(nproc) --output $data --overwrite"
common=(training/configs/tiny_test.yaml --model_name_or_path "$model" --dataset_name "$data"
    --dataset_config_name video_split --pixel_cache true --attn_implementation sdpa --skip_memory_metrics false
    --num_overlays 0 --save_strategy no --overwrite_output_dir true --report_to none "${precision[@]}")
commands=("$build")
manifest=()  # one JSON object per run, read by device_table.py: what the run measures
for batch in "${batches[@]}"; do
    commands+=("accelerate launch --num_processes 1 training/run.py ${common[*]} --output_dir $out/train-b$batch \
--do_train true --do_eval false --per_device_train_batch_size $batch --max_steps $train_steps --optim $optim")
    manifest+=("{\"run\": \"train-b$batch\", \"stage\": \"train\", \"batch\": $batch, \"caption_column\": \"text\"}")
done
for column in text loc_text; do
    commands+=("accelerate launch --num_processes 1 training/run.py ${common[*]} --output_dir $out/eval-$column \
--do_train false --do_eval true --per_device_eval_batch_size $eval_batch --max_eval_samples $eval_images \
--caption_column $column --constrained_decoding true")
    manifest+=("{\"run\": \"eval-$column\", \"stage\": \"eval\", \"batch\": $eval_batch, \"caption_column\": \"$column\"}")
done

for command in "${commands[@]}"; do
    echo "+ $command"
    if ! ((dry_run)); then
        mkdir -p "$out"
        eval "$command" >"$out/last.log" 2>&1 || { tail -20 "$out/last.log" >&2; die "failed: $command"; }
    fi
done
((dry_run)) && exit 0
(IFS=,; echo "{\"model\": \"$model\", \"runs\": [${manifest[*]}]}") >"$out/suite.json"
"$py" benchmarks/device_table.py "$out"
