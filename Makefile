# The README's two commands: `make chat` and `make test`. `make` alone builds build/mlcc.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SHARED ?= $(abspath ../shared)
CMAKE_FLAGS ?=

.PHONY: all build deps chat test test-asan clean

all: build

build:
	@cmake -S . -B $(BUILD) -DMLCC_SHARED_DIR=$(SHARED) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@bash scripts/install-deps.sh

chat: deps build
	./$(BUILD)/mlcc chat $(MODEL)

$(BUILD)/testdata/.unpacked: | build
	@if [ -x "$(SHARED)/testdata/unpack.sh" ]; then \
	  rm -rf $(BUILD)/testdata && "$(SHARED)/testdata/unpack.sh" $(BUILD)/testdata >/dev/null && touch $@; \
	else echo "note: $(SHARED)/testdata not found; tests that need fixtures will say so"; fi

test: deps build $(BUILD)/testdata/.unpacked
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

# The suite again under AddressSanitizer + UndefinedBehaviorSanitizer (what .ci/run does second).
test-asan: deps
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DMLCC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

clean:
	rm -rf build build-asan
