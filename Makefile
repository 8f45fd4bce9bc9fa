# bsnn - the only build system. `make help` lists the targets.

# ---- version: read from include/bsnn.h, nowhere else ------------------------
hdr_num = $(shell sed -n 's/^\#define BSNN_VERSION_$(1) *\([0-9][0-9]*\).*/\1/p' include/bsnn.h)
MAJOR := $(call hdr_num,MAJOR)
MINOR := $(call hdr_num,MINOR)
PATCH := $(call hdr_num,PATCH)
VERSION := $(MAJOR).$(MINOR).$(PATCH)

# ---- install locations -------------------------------------------------------
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=

# ---- tools and flags ---------------------------------------------------------
CC ?= cc
CXX ?= c++
OPT ?= -O2 -march=x86-64-v2 -mtune=native
WARN := -Wall -Wextra -Wpedantic -Werror
CFLAGS_BASE := -std=c11 $(OPT) $(WARN) -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L
BLIS_LIBS := -lblis -lm
# Debian ships BLIS without a .pc file; its header lives on the multiarch path.
BLIS_CFLAGS :=

ifeq ($(SANITIZE),1)
  SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  OUT := lib/san
else ifeq ($(SANITIZE),thread)
  SAN := -fsanitize=thread -fno-omit-frame-pointer
  OUT := lib/tsan
else
  SAN :=
  OUT := lib
endif

CFLAGS += $(CFLAGS_BASE) $(SAN) $(BLIS_CFLAGS) -g
LDFLAGS += $(SAN)

# src/ in tiers, one folder each (src/common/common.h lists them); each folder
# is built by wildcard. src/mpi/ is not libbsnn: it is libbsnn_mpi (make mpi).
SRCS := $(sort $(filter-out src/mpi/%,$(wildcard src/*/*.c)))
SRC_HDRS := $(filter-out src/mpi/%,$(wildcard src/*/*.h))
STATIC_OBJS := $(patsubst src/%.c,$(OUT)/obj/static/%.o,$(SRCS))
SHARED_OBJS := $(patsubst src/%.c,$(OUT)/obj/shared/%.o,$(SRCS))

STATIC_LIB := $(OUT)/libbsnn.a
SHARED_REAL := $(OUT)/libbsnn.so.$(VERSION)
SHARED_SONAME := libbsnn.so.$(MAJOR)
SHARED_LIB := $(OUT)/libbsnn.so

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
# Criterion cannot start under ThreadSanitizer (Snaipe/Criterion#274): a
# SANITIZE=thread run is the thread tests alone (host threads, and bsnn's
# own worker pool), each built with its own main.
ifeq ($(SANITIZE),thread)
  TEST_SRCS := tests/test_thread.c tests/test_pool.c
endif
TEST_BINS := $(patsubst tests/%.c,$(OUT)/tests/%,$(TEST_SRCS))
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLE_BINS := $(patsubst examples/%.c,$(OUT)/examples/%,$(EXAMPLE_SRCS))

.PHONY: all lib deps test check-exports check-header check-tiers examples demo demo-deps docs install uninstall \
        clean help bench bench-deps bench-plot

all: lib

lib: $(STATIC_LIB) $(SHARED_LIB) $(OUT)/bsnn.pc

help:
	@echo "make            build $(STATIC_LIB), $(SHARED_REAL) and bsnn.pc"
	@echo "make deps       install missing Debian packages (as root) or print the command"
	@echo "make test       build and run every test (SANITIZE=1: address+undefined)"
	@echo "make demo       run the batch-size study (QUICK=1: reduced), output in out/demo"
	@echo "make docs       rerun the study and refresh docs/img/ for docs/guide.md"
	@echo "make docs-optimizers  regenerate the updates-to-fit table of docs/optimizers.md"
	@echo "make examples   build the example programs"
	@echo "make test-rust  build and test the Rust crates (Debian's cargo) against lib/"
	@echo "make bench      bsnn vs PyTorch vs FANN (QUICK=1: one-minute subset)"
	@echo "make install    install under PREFIX=$(PREFIX) (LIBDIR, DESTDIR honoured)"
	@echo "make mpi        build libbsnn_mpi (data parallelism over Open MPI; make mpi-deps)"
	@echo "make test-mpi   run the MPI tests under mpirun (2 and 3 ranks)"
	@echo "make bench-mpi  2 ranks vs 1 rank x 2 threads vs 1 rank, wide net"

# ---- libraries -----------------------------------------------------------------
$(OUT)/obj/static/%.o: src/%.c $(SRC_HDRS) include/bsnn.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DBSNN_BUILDING -c $< -o $@

$(OUT)/obj/shared/%.o: src/%.c $(SRC_HDRS) include/bsnn.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DBSNN_BUILDING -fPIC -fvisibility=hidden -c $< -o $@

$(STATIC_LIB): $(STATIC_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(SHARED_REAL): $(SHARED_OBJS) src/bsnn.map
	@mkdir -p $(@D)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,$(SHARED_SONAME) -Wl,--version-script=src/bsnn.map \
	    -Wl,--no-undefined -o $@ $(SHARED_OBJS) $(BLIS_LIBS)

$(SHARED_LIB): $(SHARED_REAL)
	ln -sf libbsnn.so.$(VERSION) $(OUT)/$(SHARED_SONAME)
	ln -sf libbsnn.so.$(VERSION) $@

$(OUT)/bsnn.pc: bsnn.pc.in include/bsnn.h
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

# ---- dependencies ----------------------------------------------------------------
DEPS_PKGS := libblis-dev libcriterion-dev pkg-config
deps:
	@missing=; \
	printf '#include <blis.h>\nint main(void){return 0;}\n' | $(CC) -x c - -o /dev/null $(BLIS_LIBS) 2>/dev/null \
	    || missing="$$missing libblis-dev"; \
	pkg-config --exists criterion 2>/dev/null || missing="$$missing libcriterion-dev pkg-config"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPS_PKGS); \
	else \
	    echo "make deps: missing packages. Run as root:"; \
	    echo "    apt-get install -y $(DEPS_PKGS)"; exit 1; \
	fi

# ---- tests -----------------------------------------------------------------------
TEST_LIBS := $(STATIC_LIB) $(BLIS_LIBS) $(shell pkg-config --libs criterion 2>/dev/null) -lpthread

$(OUT)/tests/%: tests/%.c tests/testutil.h $(STATIC_LIB) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TEST_FLAGS_$*) -Wno-pedantic -Isrc -o $@ $< $(TEST_LIBS) $(LDFLAGS)

# The floating-point state test runs host OpenMP threads around bsnn calls
# (a per-test variable: a target-specific one would reach the library too).
TEST_FLAGS_test_fpstate := -fopenmp

test: deps lib $(TEST_BINS) check-exports check-header check-tiers
	@sh tests/run-tests.sh $(TEST_BINS)

# The architecture rules of src/ (tests/check-tiers.py): no file includes or
# calls into a higher tier, no files call each other in a circle, no library
# code calls a public function. Objects built with one section per function
# and no inlining, so every call is a relocation of its caller.
CHECK_OBJS := $(patsubst src/%.c,lib/check/%.o,$(SRCS))
lib/check/%.o: src/%.c $(SRC_HDRS) include/bsnn.h
	@mkdir -p $(@D)
	@$(CC) $(CFLAGS_BASE) -O0 -fno-inline -ffunction-sections -DBSNN_BUILDING -c $< -o $@
check-tiers: $(CHECK_OBJS)
	@rm -rf lib/check/flat && mkdir -p lib/check/flat
	@for o in $(CHECK_OBJS); do f=$${o#lib/check/}; cp $$o lib/check/flat/$$(echo $$f | sed 's|/|__|g'); done
	@/usr/bin/python3 tests/check-tiers.py --self-test
	@/usr/bin/python3 tests/check-tiers.py $(if $(V),-v) lib/check/flat src

check-exports: $(SHARED_REAL)
	@sh tests/check-exports.sh $(SHARED_REAL) $(SHARED_SONAME) include/bsnn.h

# The public header must compile alone as C99, C11 and C++, warnings as errors,
# and a C++ program must link the shared library and train a step.
check-header: $(SHARED_LIB)
	@mkdir -p $(OUT)/header
	$(CC) -std=c99 -Wall -Wextra -Wpedantic -Werror -Iinclude -c tests/header_c.c -o $(OUT)/header/c99.o
	$(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -c tests/header_c.c -o $(OUT)/header/c11.o
	$(CXX) -std=c++11 -Wall -Wextra -Wpedantic -Werror $(SAN) -Iinclude tests/test_header.cpp \
	    -o $(OUT)/header/test_header -L$(OUT) -lbsnn -Wl,-rpath,$(CURDIR)/$(OUT) $(LDFLAGS)
	$(OUT)/header/test_header

# ---- examples and demo -------------------------------------------------------------
$(OUT)/examples/%: examples/%.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC_LIB) $(BLIS_LIBS) $(LDFLAGS)

examples: deps $(EXAMPLE_BINS)

# The batch-size study (issue 5): figures and CSV files in DEMO_OUT.
# QUICK=1 (or DEMO_QUICK=1) runs the reduced version CI uses.
DEMO_OUT ?= out/demo
DEMO_QUICK_FLAG := $(if $(filter-out 0,$(QUICK)$(DEMO_QUICK)),--quick)
$(OUT)/examples/demo $(OUT)/examples/bsnn-train: examples/exutil.h examples/svgplot.h
$(OUT)/examples/demo: examples/demo_critical.h
$(OUT)/examples/demo: LDFLAGS += -lpthread

# Part 4 reads Fashion-MNIST from Debian's package; installed when missing (as root).
demo-deps:
	@[ -d /usr/share/datasets/fashion-mnist ] || { [ "$$(id -u)" = 0 ] && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } || \
	    echo "make demo: Fashion-MNIST missing (apt-get install dataset-fashion-mnist); part 4 is skipped"

demo: deps demo-deps $(OUT)/examples/demo
	@mkdir -p $(DEMO_OUT)
	$(OUT)/examples/demo --out $(DEMO_OUT) $(DEMO_QUICK_FLAG)

# The guide's pictures: a full demo run, then the small SVGs copied to docs/img.
DOC_FIGURES := parity toy1d spiral_loss spiral_boundary critical_spiral critical_fashion \
    fashion_sweep fashion_time
docs: demo
	@mkdir -p docs/img
	for f in $(DOC_FIGURES); do cp $(DEMO_OUT)/$$f.svg docs/img/$$f.svg; done

# The command-line tool's test runs the built binary.
$(OUT)/tests/test_bsnn_train: $(OUT)/examples/bsnn-train

# ---- update rules, layers, docs (issue 3) ------------------------------------------
# The update loops (src/train/optimizer.c) vectorise only at -O3 without errno from
# sqrtf; elementwise and IEEE-exact, so results stay bit-identical to scalar code.
$(OUT)/obj/static/train/optimizer.o $(OUT)/obj/shared/train/optimizer.o: CFLAGS += -O3 -fno-math-errno

# docs/optimizers.md's table of updates-to-fit on 4-bit parity per rule and
# batch size, regenerated by examples/optimizers (about a minute on 2 cores)
# and pasted between the table markers.
OPT_TABLE_BEGIN := <!-- optimizers table: begin (generated by make docs-optimizers) -->
OPT_TABLE_END := <!-- optimizers table: end -->
.PHONY: docs-optimizers
docs-optimizers: deps $(OUT)/examples/optimizers
	$(OUT)/examples/optimizers 5 100000 > $(OUT)/optimizers-table.md
	awk -v table=$(OUT)/optimizers-table.md \
	    '$$0 == "$(OPT_TABLE_BEGIN)" { print; while ((getline l < table) > 0) print l; skip = 1; next } \
	     $$0 == "$(OPT_TABLE_END)" { skip = 0 } !skip' docs/optimizers.md > $(OUT)/optimizers.md.new
	mv $(OUT)/optimizers.md.new docs/optimizers.md

# ---- benchmarks (issue 6) --------------------------------------------------------------
# `make bench` times bsnn, PyTorch and FANN side by side (tests/bench/run.py);
# QUICK=1 runs a one-minute subset. Never part of `make test` or CI.
# The elementwise loops of these files (bias sums, activation derivatives,
# the finiteness scan) vectorise only at -O3; they have no reductions in
# float, so results stay bit-identical to scalar code.
$(foreach f,nn/dense nn/activation nn/dropout common/finite train/engine kernels/simd kernels/sumsq,$(OUT)/obj/static/$(f).o $(OUT)/obj/shared/$(f).o): CFLAGS += -O3
# Their selects (relu's x > 0 ? dy : 0, a dropout mask) vectorise only when
# the compiler may compute both sides: bsnn masks every floating-point
# exception, so no operation traps, and the results are the same.
$(foreach f,nn/activation nn/dropout,$(OUT)/obj/static/$(f).o $(OUT)/obj/shared/$(f).o): CFLAGS += -fno-trapping-math

BENCH_PKGS := libfann-dev python3-torch python3-matplotlib dataset-fashion-mnist
BENCH_DIR := $(OUT)/bench
BENCH_CFLAGS := -std=c11 $(OPT) $(WARN) -D_POSIX_C_SOURCE=200809L -Iinclude
BENCH_QUICK := $(if $(filter 1,$(QUICK)),--quick)
# The real run reads Debian's Fashion-MNIST, decompressed into the build dir
# (bsnn's IDX loader reads uncompressed files; PyTorch reads the same copies).
FASHION_SRC := /usr/share/datasets/fashion-mnist
FASHION_FILES := $(addprefix $(BENCH_DIR)/fashion/,train-images-idx3-ubyte \
    train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
BENCH_BSNN_PROGS := $(addprefix $(BENCH_DIR)/,bench_bsnn bench_machine bench_fashion)
.PHONY: bench-fashion

bench-deps:
	@missing=; \
	printf '#include <floatfann.h>\nint main(void){return 0;}\n' | $(CC) -x c - -o /dev/null -lfloatfann 2>/dev/null \
	    || missing="$$missing libfann-dev"; \
	/usr/bin/python3 -c 'import torch' 2>/dev/null || missing="$$missing python3-torch"; \
	[ -f $(FASHION_SRC)/t10k-labels-idx1-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make bench: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BENCH_PKGS); \
	else \
	    echo "make bench: missing packages. Run as root:"; \
	    echo "    apt-get install -y $(BENCH_PKGS)"; exit 1; \
	fi

$(BENCH_BSNN_PROGS): $(BENCH_DIR)/%: tests/bench/%.c tests/bench/bench_common.h $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(STATIC_LIB) $(BLIS_LIBS)

$(BENCH_DIR)/bench_fann: tests/bench/bench_fann.c tests/bench/bench_common.h | bench-deps
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lfloatfann -lm

$(FASHION_FILES): $(BENCH_DIR)/fashion/%: | bench-deps
	@mkdir -p $(@D)
	gzip -dc $(FASHION_SRC)/$*.gz > $@.tmp && mv $@.tmp $@

# Everything: machine, steps, the real run and the targets table.
bench: deps bench-deps $(BENCH_BSNN_PROGS) $(BENCH_DIR)/bench_fann $(FASHION_FILES)
	/usr/bin/python3 tests/bench/run.py $(BENCH_DIR) $(BENCH_QUICK)

# The real run alone (its results beside the full run's, not over them).
bench-fashion: deps bench-deps $(BENCH_BSNN_PROGS) $(FASHION_FILES)
	/usr/bin/python3 tests/bench/run.py $(BENCH_DIR) --only fashion $(BENCH_QUICK) \
	    --out $(BENCH_DIR)/results-fashion.jsonl

# The plot in docs/ is drawn from the last full run's results.
bench-plot:
	/usr/bin/python3 tests/bench/plot.py tests/bench/results.jsonl docs/performance.svg


# ---- Rust crates (issue 14) --------------------------------------------------------
# make test-rust: examples/rust (bsnn-sys, bsnn) built and tested with Debian's
# cargo and rustc 1.63 against the shared library built here (BSNN_LIB_DIR;
# the crates' build script uses pkg-config otherwise). The tools are named by
# path so a rustup toolchain first on PATH is never used (its lockfile format
# Debian's cargo rejects). Not part of `make test`; builds under $(OUT)/rust.
RUST_CARGO ?= /usr/bin/cargo
RUST_RUSTC ?= /usr/bin/rustc
RUST_RUSTDOC ?= /usr/bin/rustdoc
RUST_ENV = BSNN_LIB_DIR=$(CURDIR)/$(OUT) LD_LIBRARY_PATH=$(CURDIR)/$(OUT) RUSTC=$(RUST_RUSTC) \
    RUSTDOC=$(RUST_RUSTDOC) CARGO_TARGET_DIR=$(CURDIR)/$(OUT)/rust
.PHONY: test-rust rust-deps
rust-deps:
	@[ -x $(RUST_CARGO) ] && [ -x $(RUST_RUSTC) ] && [ -x $(RUST_RUSTDOC) ] || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make rust-deps: installing cargo"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo; \
	else \
	    echo "make test-rust: Debian's cargo is missing. Run as root:"; \
	    echo "    apt-get install -y cargo"; exit 1; \
	fi

test-rust: rust-deps $(SHARED_LIB)
	@[ -z "$(SAN)" ] || { echo "make test-rust: build without SANITIZE"; exit 1; }
	cd examples/rust && $(RUST_ENV) $(RUST_CARGO) test --offline --locked -j2
# ---- end of the Rust crates block ---------------------------------------------------

# ---- persistence, fuzzing, valgrind (issue 7) -----------------------------------------
# make fuzz: libFuzzer (Debian clang) harnesses of every loader, each run for
# FUZZ_SECONDS under ASan+UBSan, seeded from tests/fuzz/corpus/<name>; new
# inputs collect in lib/fuzz/corpus/<name>, crashes in lib/fuzz/ (copy them
# into tests/fuzz/corpus/<name> once fixed: make test replays that corpus).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
# FUZZ_SEED=N makes a run reproducible: the same inputs in the same order, so a
# slower machine tries a prefix of what a faster one tried (CI sets it).
FUZZ_SEED ?=
FUZZ_TARGETS := model checkpoint csv idx
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: the fuzz build ignores CRC
# mismatches (src/common/codec.c) so mutations reach the parser; nowhere else.
FUZZ_CFLAGS := -std=c11 -g -O1 $(FUZZ_SAN) -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L \
    -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_OBJS := $(patsubst src/%.c,lib/fuzz/obj/%.o,$(SRCS))
FUZZ_BINS := $(patsubst %,lib/fuzz/fuzz_%,$(FUZZ_TARGETS))
.PHONY: fuzz fuzz-build fuzz-corpus fuzz-seeds

lib/fuzz/obj/%.o: src/%.c $(SRC_HDRS) include/bsnn.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -DBSNN_BUILDING -c $< -o $@

lib/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_file.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) $(BLIS_LIBS) -o $@

fuzz-build: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_OBJS)

# The seeds are made by code through the public API (tests/fuzz/make_corpus.c),
# so they follow the format: `make fuzz` regenerates them into lib/fuzz/seeds;
# `make fuzz-corpus` refreshes the copy in tests/fuzz/corpus that make test replays.
$(OUT)/fuzz/make_corpus: tests/fuzz/make_corpus.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC_LIB) $(BLIS_LIBS) $(LDFLAGS)

fuzz-corpus: $(OUT)/fuzz/make_corpus
	$(OUT)/fuzz/make_corpus tests/fuzz/corpus

fuzz-seeds: $(OUT)/fuzz/make_corpus
	@rm -rf lib/fuzz/seeds
	@mkdir -p lib/fuzz/seeds
	$(OUT)/fuzz/make_corpus lib/fuzz/seeds

fuzz: $(FUZZ_BINS) fuzz-seeds
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p lib/fuzz/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    ASAN_OPTIONS=allocator_may_return_null=1 lib/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(if $(FUZZ_SEED),-seed=$(FUZZ_SEED)) \
	        -max_len=65536 -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=lib/fuzz/$$t- lib/fuzz/corpus/$$t tests/fuzz/corpus/$$t lib/fuzz/seeds/$$t \
	        2>lib/fuzz/$$t.log || { tail -40 lib/fuzz/$$t.log; exit 1; }; \
	    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' lib/fuzz/$$t.log | sed "s/^/fuzz: $$t /"; \
	done

# Tests that include more than testutil.h.
$(OUT)/tests/test_misuse: tests/misuse_rows.h
$(OUT)/tests/test_io $(OUT)/tests/test_checkpoint: tests/format_ref.h
$(OUT)/tests/test_fuzz_corpus: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

# make valgrind: memcheck over the test programs (zero errors, zero leaks);
# VALGRIND_TESTS=name,... limits it to some (CI does, to stay in budget).
VALGRIND_BINS = $(if $(VALGRIND_TESTS),$(patsubst %,$(OUT)/tests/%,$(subst $(comma), ,$(VALGRIND_TESTS))),$(TEST_BINS))
comma := ,
.PHONY: valgrind
valgrind: deps lib $(TEST_BINS)
	@sh tests/valgrind.sh $(VALGRIND_BINS)


# ---- Python package (issue 14): begin ---------------------------------------------
# examples/python/bsnn is a pure-Python package over libbsnn (ctypes and
# numpy). `make test-python` runs its tests (tests/python, pytest, Debian's
# python3) against the shared library built here; `make install` also
# installs the package where Debian's python3 finds it (PYTHONDIR) and
# records LIBDIR in it, so it loads the installed library; `make
# python-enums` regenerates bsnn/_enums.py from the header (the tests fail
# while it is stale). Python stays out of `make test`.
PYTHON ?= /usr/bin/python3
PY_PKG := examples/python/bsnn
PY_PKG_FILES := $(sort $(wildcard $(PY_PKG)/*.py))
PY_VER = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# Debian's python3 reads /usr/lib/python3/dist-packages and, for other
# prefixes such as /usr/local, PREFIX/lib/python3.X/dist-packages.
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(or $(PY_VER),3)/dist-packages)
PY_DEPS_PKGS := python3 python3-numpy python3-pytest
# SANITIZE=1: the tests load the ASan+UBSan build (ASan preloaded; Python's
# own allocations are not leak-checked).
PY_SAN_ENV = $(if $(filter 1,$(SANITIZE)),LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1)
PYTEST_ARGS ?=
.PHONY: test-python python-deps python-enums python-dir install-python uninstall-python

python-deps:
	@if $(PYTHON) -c 'import numpy, pytest' 2>/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make test-python: installing $(PY_DEPS_PKGS)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PY_DEPS_PKGS); \
	else \
	    echo "make test-python: $(PYTHON) lacks numpy or pytest. Run as root:"; \
	    echo "    apt-get install -y $(PY_DEPS_PKGS)"; exit 1; \
	fi

python-enums:
	$(PYTHON) examples/python/gen_enums.py include/bsnn.h $(PY_PKG)/_enums.py

test-python: python-deps $(SHARED_LIB)
	BSNN_LIBRARY=$(CURDIR)/$(OUT)/$(SHARED_SONAME) PYTHONPATH=$(CURDIR)/examples/python \
	    PYTHONDONTWRITEBYTECODE=1 $(PY_SAN_ENV) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/python $(PYTEST_ARGS)

# Where install-python puts the package (for scripts: make -s python-dir).
python-dir:
	@echo $(PYTHONDIR)

install: install-python
uninstall: uninstall-python

install-python:
	install -d $(DESTDIR)$(PYTHONDIR)/bsnn
	install -m 644 $(filter-out %/_install.py,$(PY_PKG_FILES)) $(DESTDIR)$(PYTHONDIR)/bsnn/
	sed 's|^LIBDIR = None$$|LIBDIR = "$(LIBDIR)"|' $(PY_PKG)/_install.py \
	    > $(DESTDIR)$(PYTHONDIR)/bsnn/_install.py
	grep -q '^LIBDIR = "' $(DESTDIR)$(PYTHONDIR)/bsnn/_install.py

uninstall-python:
	rm -rf $(DESTDIR)$(PYTHONDIR)/bsnn
# ---- Python package (issue 14): end -----------------------------------------------

# ---- libbsnn_mpi (issue 16): begin ---------------------------------------------------
# Data-parallel training over MPI (src/mpi/, include/bsnn_mpi.h): its own
# static and shared library (SONAME libbsnn_mpi.so.MAJOR, only bsnn_mpi_*
# exported) and bsnn_mpi.pc, built only by `make mpi`; libbsnn never links
# MPI, and `make test` stays MPI-free. MPI is Debian's Open MPI, found
# through pkg-config's mpi-c module (mpi-deps installs it as root).
MPI_PKGS := libopenmpi-dev openmpi-bin
MPI_CFLAGS = $(shell pkg-config --cflags mpi-c 2>/dev/null)
MPI_LIBS = $(shell pkg-config --libs mpi-c 2>/dev/null)
MPI_SRCS := $(sort $(wildcard src/mpi/*.c))
MPI_HDRS := $(wildcard src/mpi/*.h) include/bsnn_mpi.h include/bsnn.h
MPI_STATIC_OBJS := $(patsubst src/%.c,$(OUT)/obj/static/%.o,$(MPI_SRCS))
MPI_SHARED_OBJS := $(patsubst src/%.c,$(OUT)/obj/shared/%.o,$(MPI_SRCS))
MPI_STATIC_LIB := $(OUT)/libbsnn_mpi.a
MPI_SHARED_REAL := $(OUT)/libbsnn_mpi.so.$(VERSION)
MPI_SHARED_SONAME := libbsnn_mpi.so.$(MAJOR)
MPI_SHARED_LIB := $(OUT)/libbsnn_mpi.so
# mpirun on loopback with more ranks than cores; root needs Open MPI's override.
MPIRUN ?= mpirun
MPIRUN_FLAGS ?= --oversubscribe $(if $(filter 0,$(shell id -u)),--allow-run-as-root)
.PHONY: mpi mpi-deps test-mpi check-exports-mpi check-header-mpi install-mpi uninstall-mpi

mpi-deps:
	@if pkg-config --exists mpi-c 2>/dev/null && command -v $(MPIRUN) >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make mpi: installing $(MPI_PKGS)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MPI_PKGS); \
	else \
	    echo "make mpi: MPI missing (pkg-config mpi-c, mpirun). Run as root:"; \
	    echo "    apt-get install -y $(MPI_PKGS)"; exit 1; \
	fi

mpi: mpi-deps lib $(MPI_STATIC_LIB) $(MPI_SHARED_LIB) $(OUT)/bsnn_mpi.pc $(OUT)/mpi/bsnn-train

# bsnn-train with --mpi (the same source, BSNN_TRAIN_MPI): what make install
# installs as bsnn-train once `make mpi` has built it.
$(OUT)/mpi/bsnn-train: examples/bsnn-train.c examples/exutil.h examples/svgplot.h $(MPI_STATIC_LIB) \
    $(STATIC_LIB) | mpi-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -DBSNN_TRAIN_MPI -o $@ $< $(MPI_STATIC_LIB) $(STATIC_LIB) \
	    $(BLIS_LIBS) $(MPI_LIBS) $(LDFLAGS)
TRAIN_TO_INSTALL := $(if $(wildcard $(MPI_SHARED_REAL)),$(OUT)/mpi/bsnn-train,$(OUT)/examples/bsnn-train)

# The passes over the gradient (src/mpi/reduce.c) are elementwise or in
# independent lanes: vectorised at -O3, bit-identical to scalar code.
$(OUT)/obj/static/mpi/reduce.o $(OUT)/obj/shared/mpi/reduce.o: CFLAGS += -O3

$(OUT)/obj/static/mpi/%.o: src/mpi/%.c $(MPI_HDRS) | mpi-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -DBSNN_MPI_BUILDING -c $< -o $@

$(OUT)/obj/shared/mpi/%.o: src/mpi/%.c $(MPI_HDRS) | mpi-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -DBSNN_MPI_BUILDING -fPIC -fvisibility=hidden -c $< -o $@

$(MPI_STATIC_LIB): $(MPI_STATIC_OBJS)
	rm -f $@
	ar rcs $@ $^

$(MPI_SHARED_REAL): $(MPI_SHARED_OBJS) src/mpi/bsnn_mpi.map $(SHARED_LIB)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,$(MPI_SHARED_SONAME) \
	    -Wl,--version-script=src/mpi/bsnn_mpi.map -Wl,--no-undefined -o $@ $(MPI_SHARED_OBJS) \
	    -L$(OUT) -lbsnn $(MPI_LIBS)

$(MPI_SHARED_LIB): $(MPI_SHARED_REAL)
	ln -sf libbsnn_mpi.so.$(VERSION) $(OUT)/$(MPI_SHARED_SONAME)
	ln -sf libbsnn_mpi.so.$(VERSION) $@

$(OUT)/bsnn_mpi.pc: bsnn_mpi.pc.in include/bsnn.h | mpi-deps
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@MPI_CFLAGS@|$(MPI_CFLAGS)|' \
	    -e 's|@MPI_LIBS@|$(MPI_LIBS)|' $< > $@

check-exports-mpi: $(MPI_SHARED_REAL)
	@sh tests/check-exports.sh $(MPI_SHARED_REAL) $(MPI_SHARED_SONAME) include/bsnn_mpi.h BSNN_MPI_API

# bsnn_mpi.h compiles alone as C99, C11 and C++, warnings as errors (MPI's
# own headers as system headers: Open MPI's C++ bindings warn in C++).
check-header-mpi: | mpi-deps
	@mkdir -p $(OUT)/header
	printf '#include <bsnn_mpi.h>\nint bsnn_mpi_header_only;\n' > $(OUT)/header/mpi_header.c
	$(CC) -std=c99 -Wall -Wextra -Wpedantic -Werror -Iinclude $(MPI_CFLAGS) -c $(OUT)/header/mpi_header.c -o $(OUT)/header/mpi_c99.o
	$(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude $(MPI_CFLAGS) -c $(OUT)/header/mpi_header.c -o $(OUT)/header/mpi_c11.o
	$(CXX) -std=c++11 -Wall -Wextra -Wpedantic -Werror -Iinclude $(patsubst -I%,-isystem %,$(MPI_CFLAGS)) \
	    -x c++ -c $(OUT)/header/mpi_header.c -o $(OUT)/header/mpi_cxx.o
	@echo "check-header-mpi: bsnn_mpi.h compiles as C99, C11 and C++"

# The MPI tests: tests/mpi/mpi_train.c is a program each rank runs (its own
# main: Criterion's forked tests cannot be MPI processes); tests/mpi/test_mpi.c
# is the Criterion driver that launches it under mpirun and checks what the
# ranks report, how they end and how long they take.
MPI_TEST_DIR := $(OUT)/mpi/tests
$(MPI_TEST_DIR)/mpi_train: tests/mpi/mpi_train.c $(MPI_SHARED_LIB) | mpi-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wno-pedantic $(MPI_CFLAGS) -o $@ $< -L$(OUT) -lbsnn_mpi -lbsnn $(MPI_LIBS) -lm \
	    -Wl,-rpath,$(CURDIR)/$(OUT) $(LDFLAGS)

$(MPI_TEST_DIR)/test_mpi: tests/mpi/test_mpi.c $(OUT)/mpi/bsnn-train | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wno-pedantic -DMPI_TRAIN='"$(CURDIR)/$(MPI_TEST_DIR)/mpi_train"' \
	    -DBSNN_TRAIN_MPI_BIN='"$(CURDIR)/$(OUT)/mpi/bsnn-train"' \
	    -DMPIRUN='"$(MPIRUN) $(MPIRUN_FLAGS)"' -o $@ $< $(shell pkg-config --libs criterion) -lm $(LDFLAGS)

# SANITIZE=1: the ranks run the ASan+UBSan build; leak reports are off, as
# Open MPI leaves its own allocations (and unloads its components) at exit.
test-mpi: mpi check-exports-mpi check-header-mpi $(MPI_TEST_DIR)/mpi_train $(MPI_TEST_DIR)/test_mpi
	@$(if $(filter 1,$(SANITIZE)),ASAN_OPTIONS=detect_leaks=0) sh tests/run-tests.sh $(MPI_TEST_DIR)/test_mpi

# make bench-mpi: 2 ranks x 1 thread vs 1 rank x 2 threads vs 1 rank x 1
# thread on the wide net (tests/bench/run_mpi.py; QUICK=1: 2 short repeats).
# Not part of make test or CI; needs the machine to itself.
.PHONY: bench-mpi
$(BENCH_DIR)/bench_mpi: tests/bench/bench_mpi.c tests/bench/bench_common.h $(MPI_STATIC_LIB) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(MPI_CFLAGS) -o $@ $< $(MPI_STATIC_LIB) $(STATIC_LIB) $(BLIS_LIBS) $(MPI_LIBS)

bench-mpi: mpi $(BENCH_DIR)/bench_mpi
	/usr/bin/python3 tests/bench/run_mpi.py $(BENCH_DIR) $(BENCH_QUICK) --out $(BENCH_DIR)/results-mpi.jsonl

install: $(if $(wildcard $(MPI_SHARED_REAL)),install-mpi)
uninstall: uninstall-mpi

install-mpi: mpi
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/bsnn_mpi.h $(DESTDIR)$(INCLUDEDIR)/bsnn_mpi.h
	install -m 644 $(MPI_STATIC_LIB) $(DESTDIR)$(LIBDIR)/libbsnn_mpi.a
	install -m 755 $(MPI_SHARED_REAL) $(DESTDIR)$(LIBDIR)/libbsnn_mpi.so.$(VERSION)
	ln -sf libbsnn_mpi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(MPI_SHARED_SONAME)
	ln -sf libbsnn_mpi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libbsnn_mpi.so
	install -m 644 $(OUT)/bsnn_mpi.pc $(DESTDIR)$(LIBDIR)/pkgconfig/bsnn_mpi.pc

uninstall-mpi:
	rm -f $(DESTDIR)$(INCLUDEDIR)/bsnn_mpi.h $(DESTDIR)$(LIBDIR)/libbsnn_mpi.a \
	    $(DESTDIR)$(LIBDIR)/libbsnn_mpi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(MPI_SHARED_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libbsnn_mpi.so $(DESTDIR)$(LIBDIR)/pkgconfig/bsnn_mpi.pc
# ---- libbsnn_mpi (issue 16): end -----------------------------------------------------

# ---- install -------------------------------------------------------------------------
install: lib $(TRAIN_TO_INSTALL)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 755 $(TRAIN_TO_INSTALL) $(DESTDIR)$(BINDIR)/bsnn-train
	install -m 644 include/bsnn.h $(DESTDIR)$(INCLUDEDIR)/bsnn.h
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libbsnn.a
	install -m 755 $(SHARED_REAL) $(DESTDIR)$(LIBDIR)/libbsnn.so.$(VERSION)
	ln -sf libbsnn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME)
	ln -sf libbsnn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libbsnn.so
	install -m 644 $(OUT)/bsnn.pc $(DESTDIR)$(LIBDIR)/pkgconfig/bsnn.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bsnn-train
	rm -f $(DESTDIR)$(INCLUDEDIR)/bsnn.h $(DESTDIR)$(LIBDIR)/libbsnn.a \
	    $(DESTDIR)$(LIBDIR)/libbsnn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libbsnn.so $(DESTDIR)$(LIBDIR)/pkgconfig/bsnn.pc

clean:
	rm -rf lib/*
