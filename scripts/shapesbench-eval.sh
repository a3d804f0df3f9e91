#!/usr/bin/env bash
# ShapesBench table: evaluates the recipe's models (scripts/shapesbench.sh) on seen and held-out prompts with the
# analyzer and the judge pair that training never saw, and writes docs/shapesbench/ (table rows + one GIF per row).
#   teacher 50-step DDIM + CFG, teacher 4-step DDIM (CFG scale 7.5, see docs/shapesbench.md),
#   VCM 4-step, T2V-Turbo 4- and 8-step (w = 7.5, the reference default, from the config).
# Usage: scripts/shapesbench-eval.sh [WORK_DIR] [SEEDS]     (WORK_DIR as given to the recipe; SEEDS default 0,1)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/shapesbench}
seeds=${2:-0,1}
cfg=configs/shapesbench
docs=docs/shapesbench
if [ -n "${T2V_RUN:-}" ]; then   # e.g. "bash .device/run.sh" (see scripts/shapesbench.sh)
  t2v() { $T2V_RUN "$@"; }
else
  dotnet build src/T2VTurbo.Cli -c Release -v quiet -nologo >/dev/null
  t2v() { dotnet src/T2VTurbo.Cli/bin/Release/net10.0/t2v-turbo.dll "$@"; }
fi
splits=${SPLITS:-seen heldout}
latest() { ls -d "$1"/checkpoint-* | sort -t- -k2 -n | tail -1; }
teacher="$work/teacher/model.safetensors"
vcm="$(latest "$work/vcm")/unet_lora.pt"
turbo="$(latest "$work/turbo")/unet_lora.pt"
judges=(--image-judge "$work/judge-clip/clip.safetensors" --image-judge-config "$cfg/clip.json" --image-judge-kind clip
  --video-judge "$work/judge-viclip/viclip.safetensors" --video-judge-config "$cfg/viclip.json")
mkdir -p "$docs"
rows=(
  "teacher-ddim50|--mode teacher --steps 50 --guidance 7.5"
  "teacher-ddim4|--mode teacher --steps 4 --guidance 7.5"
  "vcm-4|--lora $vcm --steps 4"
  "t2v-turbo-4|--lora $turbo --steps 4"
  "t2v-turbo-8|--lora $turbo --steps 8"
)
for split in $splits; do
  table="$work/eval/table-$split.md"
  mkdir -p "$work/eval"
  : > "$table"
  for row in "${rows[@]}"; do
    name=${row%%|*}; args=${row#*|}
    out="$work/eval/$split/$name"
    # shellcheck disable=SC2086  # args is a word list by design
    t2v eval --model "$teacher" --config "$cfg/teacher.json" --prompts "$cfg/prompts-$split.txt" --seeds "$seeds" \
      --label "$name" --output "$out" "${judges[@]}" --device "${DEVICE:-cpu}" --dtype fp32 $args
    [ -s "$table" ] || grep '^| model\|^|---' "$out/eval.md" > "$table"
    grep "^| $name " "$out/eval.md" >> "$table"
    # 4× nearest-neighbour upscale, so 32×32 pixels are visible on a page
    command -v ffmpeg >/dev/null || continue
    ffmpeg -v error -y -i "$out/videos/prompt_000.gif" -vf "scale=iw*4:ih*4:flags=neighbor,split[a][b];[a]palettegen[p];[b][p]paletteuse" \
      "$docs/$split-$name.gif"
  done
  cp "$table" "$docs/table-$split.md"
done
echo "tables: $docs/table-seen.md, $docs/table-heldout.md"
