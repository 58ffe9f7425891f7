#!/usr/bin/env bash
# test_vulkan_nodevice.sh - where the Vulkan loader finds no driver, the Vulkan tests skip (77)
# and say why, and a model asked to run on Vulkan fails with that reason instead of crashing.
# Runs on every machine with the loader (lavapipe hidden by pointing the loader at no ICD).
set -u
export VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json
out=$("$MLCC_BINARY_DIR/test_vulkan_runtime" 2>&1); rc=$?
if [ $rc -ne 77 ]; then echo "test_vulkan_runtime without a driver: exit $rc, want 77 (skip)"; echo "$out"; exit 1; fi
case "$out" in
  *"no Vulkan device"*) ;;
  *) echo "the skip does not say why: $out"; exit 1 ;;
esac
model="$MLCC_TESTDATA/hf-tiny/llama"
[ -d "$model" ] || { echo "SKIP: no $model"; exit 77; }
err=$("$MLCC" debug logits --model "$model" --tokens 1,2,3 --device vulkan --out "$MLCC_BINARY_DIR/vk-nodevice.safetensors" 2>&1); rc=$?
if [ $rc -eq 0 ]; then echo "mlcc debug logits --device vulkan succeeded without a device"; exit 1; fi
case "$err" in
  *"device vulkan: no Vulkan device"*) echo "ok: $err" ;;
  *) echo "unexpected error: $err"; exit 1 ;;
esac
