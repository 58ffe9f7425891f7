#!/usr/bin/env bash
# test_vulkan_nosubgroup.sh - test_vulkan_graph again with MLCC_VULKAN_NO_SUBGROUP=1: the
# cross-thread reductions take their shared-memory trees (the path of devices without subgroup
# arithmetic) instead of subgroupAdd/Max. Exit 77 (skip) passes through.
set -u
MLCC_VULKAN_NO_SUBGROUP=1 exec "$MLCC_BINARY_DIR/test_vulkan_graph"
