#!/usr/bin/env bash
# ShapesBench recipe: every weight file of the small T2V-Turbo from nothing, with our own commands.
#   data → VAE → CLIP (image reward + the teacher's text tower) → ViCLIP (video reward) → teacher → VCM → T2V-Turbo,
#   plus a second CLIP/ViCLIP pair trained with another seed on a disjoint data set (the judges).
# Sizes: 32×32, 8 frames at 8 fps, configs in configs/shapesbench/ (chosen from ../shared/notes/shapesbench-sizing.md).
# Usage: scripts/shapesbench.sh [WORK_DIR]      SMOKE=1 runs a few steps of each stage (a wiring check, minutes);
#        SHIP=1 copies the resulting default model into models/shapesbench/. The table: scripts/shapesbench-eval.sh.
#        DEVICE=cuda trains on the GPU (fp32, as on the CPU); T2V_RUN="bash .device/run.sh" runs a packed program
#        instead of building here (a machine without the .NET SDK). IMAGE_REWARD_SCALE / VIDEO_REWARD_SCALE (default 1.0 /
#        2.0, the reference's β) change the T2V-Turbo stage's reward weights (for ablations).
#        VAE_BATCH, VAE_STEPS, VAE_MINUTES, TEACHER_BATCH, TEACHER_LR, TEACHER_STEPS, TEACHER_MINUTES: the GPU profile
#        (docs/shapesbench.md gives the values the shipped model was trained with).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/shapesbench}
cfg=configs/shapesbench
smoke=${SMOKE:-0}
steps() { if [ "$smoke" = 1 ]; then echo 2; else echo "$1"; fi; }
count() { if [ "$smoke" = 1 ]; then echo 16; else echo "$1"; fi; }
if [ -n "${T2V_RUN:-}" ]; then
  t2v() { $T2V_RUN "$@"; }
else
  dotnet build src/T2VTurbo.Cli -c Release -v quiet -nologo >/dev/null
  t2v() { dotnet src/T2VTurbo.Cli/bin/Release/net10.0/t2v-turbo.dll "$@"; }
fi
dev=(--device "${DEVICE:-cpu}")
# Trainers run with --resume, so a stage that dies (a killed process, or the rare native error TorchSharp can raise in a
# long run, see docs/shapesbench.md) is retried once from its last checkpoint instead of ending the recipe.
resumable() { t2v "$@" || { echo "t2v-turbo $1 $2 failed (exit $?); retrying once from its last checkpoint" >&2; t2v "$@"; }; }
mkdir -p "$work"
start=$(date +%s)
last=$start
# Seconds per stage, appended to $work/timings.tsv (the numbers docs/shapesbench.md reports).
stage() { local now; now=$(date +%s); printf '%s\t%s\n' "$1" $((now - last)) >> "$work/timings.tsv"; last=$now; }
common=(--size 32 --frames 8 --fps 8)
cache=(--data-cache-mb 512 "${dev[@]}")   # decoded once (memory + .t2v-cache/ on disk for later stages): ffmpeg per clip would dominate
# A GPU trains the same models with bigger batches for a fixed time: VAE_MINUTES / TEACHER_MINUTES stop those stages
# there (with VAE_STEPS / TEACHER_STEPS as the upper bound), VAE_BATCH / TEACHER_BATCH / TEACHER_LR set the rest.
vae_time=(); [ -n "${VAE_MINUTES:-}" ] && vae_time=(--max-train-minutes "$VAE_MINUTES")
teacher_time=(); [ -n "${TEACHER_MINUTES:-}" ] && teacher_time=(--max-train-minutes "$TEACHER_MINUTES")

# Every stage resumes: a data set whose ground_truth.json exists (written last) is kept, trainers continue from their
# newest checkpoint (--resume), so a killed recipe is restarted with the same command.
[ -f "$work/data/ground_truth.json" ] || t2v shapes make --count "$(count 2000)" --seed 1 --out "$work/data" --split train "${common[@]}"
stage data
[ -f "$work/judge-data/ground_truth.json" ] || t2v shapes make --count "$(count 600)" --seed 2 --out "$work/judge-data" --split train "${common[@]}"
stage judge-data

# MSE, not L1: under L1 this VAE settles on grey blobs (the analyzer reads the prompt's colour in 34 % of its
# reconstructions after 1,500 steps; MSE at lr 1e-3 reaches 51 % in 500 steps, docs/shapesbench.md)
resumable train vae "${cache[@]}" --data "$work/data" --config "$cfg/teacher.json" --output "$work/vae" --batch-size "${VAE_BATCH:-32}" --frames 1 --size 32 \
  --rec-loss mse --lr 1e-3 --lr-warmup-steps 100 --max-train-steps "$(steps "${VAE_STEPS:-3000}")" "${vae_time[@]}" --resume
stage vae
resumable train clip "${cache[@]}" --data "$work/data" --config "$cfg/clip.json" --output "$work/clip" --batch-size 32 --frames 8 --size 32 \
  --max-train-steps "$(steps 1500)" --resume
stage clip
resumable train viclip "${cache[@]}" --data "$work/data" --config "$cfg/viclip.json" --output "$work/viclip" --batch-size 16 --frames 8 --size 32 \
  --max-train-steps "$(steps 1000)" --resume
stage viclip
resumable train teacher "${cache[@]}" --data "$work/data" --config "$cfg/teacher.json" --output "$work/teacher" --vae "$work/vae/vae.safetensors" \
  --text "$work/clip/text.safetensors" --batch-size "${TEACHER_BATCH:-16}" --frames 8 --size 32 --lr "${TEACHER_LR:-1e-3}" --lr-warmup-steps 100 \
  --max-train-steps "$(steps "${TEACHER_STEPS:-3000}")" "${teacher_time[@]}" --resume \
  --ema-decay 0.999   # exported weights = the moving average: the raw weights of a constant-lr run fluctuate (docs/shapesbench.md)
stage teacher

# The judges: the same classes, another seed, a disjoint data set; never used in training.
resumable train clip "${cache[@]}" --data "$work/judge-data" --config "$cfg/clip.json" --output "$work/judge-clip" --seed 99 --batch-size 32 \
  --frames 8 --size 32 --max-train-steps "$(steps 1000)" --resume
stage judge-clip
resumable train viclip "${cache[@]}" --data "$work/judge-data" --config "$cfg/viclip.json" --output "$work/judge-viclip" --seed 99 --batch-size 16 \
  --frames 8 --size 32 --max-train-steps "$(steps 800)" --resume
stage judge-viclip

teacher="$work/teacher/model.safetensors"
distill=("${cache[@]}" --teacher "$teacher" --config "$cfg/teacher.json" --data "$work/data" --n-frames 8 --fps 8 --height 32 --width 32
  --lora-rank 16 --learning-rate 5e-4 --train-batch-size 4 --checkpointing-steps 100 --validation-steps 0 --resume --dtype fp32)
# guidance w ∈ [5, 15] (CFG 6–16), the reference's range: this teacher's analyzer scores rise from CFG 2 to 7.5 and stay at 12
resumable distill "${distill[@]}" --output "$work/vcm" --image-reward none --video-reward none --max-train-steps "$(steps 300)"
stage vcm
resumable distill "${distill[@]}" --output "$work/turbo" --max-train-steps "$(steps 300)" \
  --image-reward clip --image-reward-path "$work/clip/clip.safetensors" --image-reward-config "$cfg/clip.json" \
  --reward-frame-bsz 4 --reward-scale "${IMAGE_REWARD_SCALE:-1.0}" \
  --video-reward vi_clip --video-rm-ckpt "$work/viclip/viclip.safetensors" --video-reward-config "$cfg/viclip.json" \
  --video-rm-batch-size 8 --video-reward-scale "${VIDEO_REWARD_SCALE:-2.0}"
stage turbo

# The embedded default model: T2V-Turbo with its LoRA merged, VAE and text encoder in one fp16 file + its config.
latest_turbo=$(ls -d "$work"/turbo/checkpoint-* | sort -t- -k2 -n | tail -1)
mkdir -p "$work/default"
t2v convert "$teacher" "$work/default/model.safetensors" --lora "$latest_turbo/unet_lora.pt" --config "$cfg/teacher.json" --dtype fp16
cp "$cfg/teacher.json" "$work/default/config.json"
stage default-model
if [ "${SHIP:-0}" = 1 ]; then cp "$work/default/model.safetensors" "$work/default/config.json" models/shapesbench/; fi

echo "recipe done in $(( $(date +%s) - start )) s; weights under $work (SHIP=1 copies the default model into models/shapesbench/)"
