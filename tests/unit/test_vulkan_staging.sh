#!/usr/bin/env bash
# test_vulkan_staging.sh - test_vulkan_runtime again with host copies through staging buffers
# (the path of devices whose memory the host cannot map, e.g. discrete GPUs), forced on
# lavapipe with MLCC_VULKAN_STAGING=1. Exit 77 (skip) passes through.
set -u
MLCC_VULKAN_STAGING=1 exec "$MLCC_BINARY_DIR/test_vulkan_runtime"
