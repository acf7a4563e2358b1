# The two commands: `make run` and `make test` (see README.md).
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
DATA ?= ./var
SAMPLES ?= testdata

.PHONY: all deps build build-asan testdata test unit run bench fuzz lint format format-check tidy clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDXHUB_SANITIZE=ON \
	  -DDXHUB_INTEGRATION_TESTS=OFF

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target dxhub_unit_tests

testdata: deps
	@scripts/fetch-test-data.sh $(BUILD)/testdata >/dev/null

# Lint (format + clang-tidy), unit and integration tests on the release build, then the unit
# tests under ASan+UBSan.
test: build build-asan testdata lint
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# Build, load the sample studies (idempotent: already archived instances count as duplicates)
# and start dxhub on its embedded defaults.
run: build
	@mkdir -p $(DATA)
	$(BUILD)/bin/dxhub import --data $(DATA) --no-progress \
	  $(SAMPLES)/ct-abdomen-20slices $(SAMPLES)/cr-chest
	@echo
	@echo "dxhub: worklist http://127.0.0.1:8080/  API /api  DICOM AE DXHUB on port 11112"
	@echo "       send studies with: storescu -aec DXHUB 127.0.0.1 11112 FILE..."
	@echo "       AI results (bundled reference model, not clinical): .../api/studies/UID/ai"
	@echo "       log in as admin: the password is printed below on first start and kept in $(DATA)/initial-admin-password"
	@echo
	exec $(BUILD)/bin/dxhub serve --data $(DATA)

bench: build
	@scripts/install-deps.sh
	bench/ingest.sh
	bench/query.sh
	bench/inference.sh
	bench/imaging.sh

# Fuzz every parser of outside input for FUZZ_SECONDS each, seeded with real files: DICOM
# datasets, STOW multipart bodies, Accept headers, QIDO query strings, TOML configs and cards.
FUZZ_SECONDS ?= 60
FUZZERS = dataset_fuzzer multipart_fuzzer accept_fuzzer qido_fuzzer toml_fuzzer
fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDXHUB_SANITIZE=ON \
	  -DDXHUB_FUZZ=ON -DDXHUB_TESTS=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(FUZZERS)
	scripts/fuzz-corpora.sh build-fuzz/corpus
	for f in $(FUZZERS); do \
	  build-fuzz/bin/$$f -max_total_time=$(FUZZ_SECONDS) -max_len=262144 -rss_limit_mb=4096 \
	    -print_final_stats=1 build-fuzz/corpus/$$f > build-fuzz/$$f.log 2>&1 || \
	    { tail -50 build-fuzz/$$f.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|cov:" build-fuzz/$$f.log | tail -2; \
	done

lint: format-check tidy

format-check:
	find src tests bench fuzz -name '*.cpp' -o -name '*.h' | xargs clang-format --dry-run --Werror

format:
	find src tests bench fuzz -name '*.cpp' -o -name '*.h' | xargs clang-format -i

# src/imaging/itk_*.cpp are skipped: Debian's ITK 5.2 headers refuse clang (src/imaging/itk_bridge.h).
tidy: build
	run-clang-tidy -p $(BUILD) -quiet -j $(JOBS) 'src/(?!.*/itk_).*\.cpp$$' > $(BUILD)/clang-tidy.log 2>&1 \
	  || { grep -E 'warning:|error:' $(BUILD)/clang-tidy.log; exit 1; }

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
