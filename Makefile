# Strata build: `make` builds build/lib/libstrata.a and every program into
# build/bin/.  `make help` lists the targets.
#
# Layout rules the build relies on (see ../DESIGN.md "Folders"):
#   common/*.c                 -> build/lib/libstrata.a (no main())
#   <program dir>/main.c       -> the program's main()
#   <program dir>/**/ other .c -> build/lib/lib<program>.a, so unit tests and
#                                 fuzzers can link a program's modules alone
#   tests/unit/test_*.c        -> one cmocka binary each (helpers in tests/unit/lib)
#   tests/fuzz/fuzz_*.c        -> one libFuzzer binary each (seeds in corpus/<name>)

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD        ?= build
CC           ?= gcc
FUZZ_CC      ?= clang
PREFIX       ?= /usr/local
DESTDIR      ?=
FUZZ_SECONDS ?= 60
PYTEST       ?= /usr/bin/python3 -m pytest
VERSION      := $(shell cat VERSION)
SAN_CFLAGS   ?=
SAN_LDFLAGS  ?=
OPT          ?= -O2

PKGS := liburing libconfig openssl libnghttp2 libnl-3.0 libnl-route-3.0 libpcre2-8

# Recursive (=) so pkg-config runs only when a recipe needs it, after tools/deps.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -DSTRATA_VERSION='"$(VERSION)"' -Icommon
CFLAGS   += -std=gnu11 $(OPT) -g $(WARN) -MMD -MP -fno-strict-aliasing $(SAN_CFLAGS)
LDFLAGS  += -Wl,--as-needed $(SAN_LDFLAGS)
LDLIBS    = $(PKG_LIBS) -lpthread -lm

PROGS := strata-l4 strata-vrrp strata-l7 stratactl strata-echo
dir_strata-l4   := l4/lb
dir_strata-vrrp := l4/vrrp
dir_strata-l7   := l7
dir_stratactl   := tools/ctl
dir_strata-echo := tools/echo

OBJ := $(BUILD)/obj
find_c = $(shell find $(1) -name '*.c' 2>/dev/null | sort)

COMMON_SRC := $(call find_c,common)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o)
LIBSTRATA  := $(BUILD)/lib/libstrata.a

# Per program: main object, module archive, binary.
define prog_rules
$(1)_SRC  := $$(call find_c,$$(dir_$(1)))
$(1)_MAIN := $$(OBJ)/$$(dir_$(1))/main.o
$(1)_MODS := $$(filter-out $$($(1)_MAIN),$$($(1)_SRC:%.c=$$(OBJ)/%.o))
$(1)_LIB  := $$(BUILD)/lib/lib$(1).a
$$(BUILD)/bin/$(1): $$($(1)_MAIN) $$($(1)_LIB) $$(LIBSTRATA)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
$$($(1)_LIB): $$($(1)_MODS) $$(OBJ)/empty.o
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach p,$(PROGS),$(eval $(call prog_rules,$(p))))

PROG_BINS := $(PROGS:%=$(BUILD)/bin/%)
PROG_LIBS := $(foreach p,$(PROGS),$($(p)_LIB))

UNIT_SRC     := $(sort $(wildcard tests/unit/test_*.c))
UNIT_LIB_SRC := $(call find_c,tests/unit/lib)
UNIT_LIB_OBJ := $(UNIT_LIB_SRC:%.c=$(OBJ)/%.o)
UNIT_BINS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

ALL_OBJ := $(COMMON_OBJ) $(UNIT_LIB_OBJ) $(foreach p,$(PROGS),$($(p)_MAIN) $($(p)_MODS))

.PHONY: all build deps test unit system fuzz-smoke asan fuzz fuzz-build fuzz-bins bench run demo \
        install clean help format

all: deps
	@$(MAKE) --no-print-directory build

build: $(LIBSTRATA) $(PROG_BINS)

deps:
	@tools/deps

$(OBJ)/empty.o:
	@mkdir -p $(@D)
	echo 'extern int strata_empty_archive; int strata_empty_archive;' | \
		$(CC) -x c -c -o $@ -

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBSTRATA): $(COMMON_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# Unit tests link every module archive; the linker takes only what a test uses.
$(BUILD)/tests/%: tests/unit/%.c $(UNIT_LIB_OBJ) $(PROG_LIBS) $(LIBSTRATA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit/lib $(PKG_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(UNIT_LIB_OBJ) $(PROG_LIBS) $(LIBSTRATA) $(LDLIBS) -lcmocka

# --- tests -------------------------------------------------------------------

test: deps
	@$(MAKE) --no-print-directory build unit-bins
	@$(MAKE) --no-print-directory unit system
	@$(MAKE) --no-print-directory fuzz-smoke

.PHONY: unit-bins
unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; $$t || { echo "FAILED: $$t"; fail=1; }; \
	done; exit $$fail

system: $(PROG_BINS)
	STRATA_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/system $(PYTEST_ARGS)

# ASan+UBSan build of everything, then the same unit and system tests on it.
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
		SAN_CFLAGS="$(ASAN_FLAGS)" SAN_LDFLAGS="$(ASAN_FLAGS)" build unit-bins
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
		SAN_CFLAGS="$(ASAN_FLAGS)" SAN_LDFLAGS="$(ASAN_FLAGS)" unit system

# --- fuzzing -------------------------------------------------------------------

FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
$(BUILD)/fuzz/%: tests/fuzz/%.c $(PROG_LIBS) $(LIBSTRATA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< \
		$(PROG_LIBS) $(LIBSTRATA) $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

FUZZ_BUILD ?= build/fuzz-build
fuzz-build: deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT=-O1 \
		SAN_CFLAGS="$(FUZZ_FLAGS)" SAN_LDFLAGS="-fsanitize=address,undefined" fuzz-bins

# Each target runs FUZZ_SECONDS on a scratch copy of its seed corpus, so new
# inputs never land in the repository; findings go to build/fuzz-findings/.
fuzz: fuzz-build
	@tools/fuzz-run $(FUZZ_BUILD)/fuzz $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@tools/fuzz-run $(FUZZ_BUILD)/fuzz 3

# --- running -------------------------------------------------------------------

bench: all
	@tools/bench/bench $(if $(QUICK),--quick) $(BENCH_ARGS)

run: all
	@tools/stack up --foreground

demo: all
	@tools/demo

# Programs into PREFIX/bin (the systemd units in configs/baremetal/systemd
# expect /usr/local/bin, the default); example configs and docs under
# PREFIX/share. configs/bad/ holds test fixtures and is not installed.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/strata/configs \
		$(DESTDIR)$(PREFIX)/share/doc/strata
	install -m 0755 $(PROG_BINS) $(DESTDIR)$(PREFIX)/bin/
	cp -r configs/local configs/testbed configs/baremetal $(DESTDIR)$(PREFIX)/share/strata/configs/
	cp -r README.md docs/. $(DESTDIR)$(PREFIX)/share/doc/strata/

format:
	clang-format -i $$(find common l4 l7 tools tests -name '*.[ch]')

clean:
	rm -rf build

help:
	@echo "make            build libstrata and every program into build/bin/"
	@echo "make test       unit + system tests + a short fuzz run (installs deps)"
	@echo "make asan       the unit and system tests under ASan+UBSan"
	@echo "make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60)"
	@echo "make bench      Strata side by side with HAProxy and nginx (QUICK=1: short;"
	@echo "                BENCH_ARGS=\"--from-commit HEAD\": measure a clean export of a commit)"
	@echo "make run        the loopback stack in the foreground"
	@echo "make demo       bring the layered system up and show it working"
	@echo "make install    install into DESTDIR/PREFIX (default /usr/local)"
	@echo "make clean      remove build/"

# Objects are never intermediate: keep them so rebuilds stay incremental.
.SECONDARY:

-include $(ALL_OBJ:.o=.d) $(UNIT_BINS:%=%.d)
