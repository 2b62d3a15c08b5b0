# tcptap: build, test, demo, install.  GNU make.

PREFIX	?= /usr/local
DESTDIR	?=
CC	?= cc
CFLAGS	?= -O2 -g
WARN	= -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	  -Wstrict-prototypes -Wmissing-prototypes
BSD_CFLAGS := $(shell pkg-config --cflags libbsd-overlay 2>/dev/null)
BSD_LIBS   := $(shell pkg-config --libs libbsd-overlay 2>/dev/null)
ifneq ($(SANITIZE),)
CFLAGS	+= -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=$(SANITIZE)
endif
# Bind every symbol at start: a forked relay then writes no GOT page.
LDNOW	= -Wl,-z,relro,-z,now
ALL_CFLAGS = -D_GNU_SOURCE $(WARN) $(BSD_CFLAGS) -Isrc $(CFLAGS)

# tcptap itself.
TCPTAP_OBJ = src/main.o src/bind.o src/listen.o src/relay.o src/exec.o \
	  src/session.o src/sid.o src/notify.o src/tap.o src/collect.o \
	  src/inline.o
# The small library every program shares: the rest of src/.
LIB_OBJ	= $(filter-out $(TCPTAP_OBJ),$(patsubst %.c,%.o,$(wildcard src/*.c)))
# One program per filters/tap-NAME.c.
FILTERS	= $(patsubst filters/%.c,%,$(wildcard filters/tap-*.c))
# And one raw-byte fault filter per filters/fault-NAME.c.
FAULTS	= $(patsubst filters/%.c,%,$(wildcard filters/fault-*.c))
PROGS	= bin/tcptap $(FILTERS:%=bin/%) $(FAULTS:%=bin/%)
HELPERS	= $(patsubst tests/helpers/%.c,tests/bin/%,$(wildcard tests/helpers/*.c))

all: $(PROGS) $(HELPERS)

src/libtap.a: $(LIB_OBJ) Makefile
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

src/%.o filters/%.o: CPPFLAGS += -DTCPTAP_VERSION='"$(VERSION)"'
VERSION	= 0.1

# Objects remember the compiler and flags they were built with, so that
# `make check SANITIZE=address,undefined` after a plain build rebuilds.
BUILD_FLAGS := $(CC) $(CFLAGS) $(LDFLAGS) $(SANITIZE)
.build-flags: FORCE
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@
FORCE:

%.o: %.c src/tcptap.h .build-flags
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -c -o $@ $<

bin/tcptap: $(TCPTAP_OBJ) src/libtap.a .build-flags
	@mkdir -p bin
	$(CC) $(LDFLAGS) $(LDNOW) -o $@ $(TCPTAP_OBJ) src/libtap.a $(BSD_LIBS)

bin/tap-%: filters/tap-%.o src/libtap.a .build-flags
	@mkdir -p bin
	$(CC) $(LDFLAGS) $(LDNOW) -o $@ $< src/libtap.a $(BSD_LIBS)

bin/fault-%: filters/fault-%.o src/libtap.a .build-flags
	@mkdir -p bin
	$(CC) $(LDFLAGS) $(LDNOW) -o $@ $< src/libtap.a $(BSD_LIBS)

tests/bin/%: tests/helpers/%.c .build-flags
	@mkdir -p tests/bin
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Debian packages the build, the tests and the demo need.
DEPS	= build-essential pkg-config libbsd-dev bats bats-support bats-assert \
	  ucspi-tcp systemd redis-server redis-tools strace bsdextrautils \
	  procps iproute2 coreutils util-linux passwd clang mandoc python3 socat \
	  tshark jq openbsd-inetd haproxy curl xxd libclang-rt-14-dev

deps:
	@sh tests/deps.sh $(DEPS)
	@sh tests/deps-xinetd.sh

check: deps all
	@SANITIZE='$(SANITIZE)' sh tests/run.sh

# The bulk cases bigger (4 GiB through taps), and run under sanitizers too.
check-long: deps all
	@TCPTAP_LONG=1 SANITIZE='$(SANITIZE)' sh tests/run.sh

demo: deps all
	@sh examples/demo.sh

# What `make install` puts where (DESTDIR is prepended to each directory).
# Paths /usr/local/bin/ in the units and the inetd/xinetd examples are
# rewritten to $(BINDIR)/ on the way.  `make uninstall` removes exactly
# these files, then the directories that only tcptap uses.
BINDIR	= $(PREFIX)/bin
MAN1DIR	= $(PREFIX)/share/man/man1
DATADIR	= $(PREFIX)/share/tcptap
EXAMPLEDIR = $(PREFIX)/share/doc/tcptap/examples
UNITDIR	= $(PREFIX)/lib/systemd/system
COMPDIR	= $(PREFIX)/share/bash-completion/completions
INST_MANS	= $(wildcard share/man/man1/*.1)
INST_UNITS	= $(wildcard share/systemd/*.socket share/systemd/*.service)
INST_DATA	= share/tcptap/tcptap.bash
INST_EXAMPLES	= examples/inetd.conf examples/xinetd.conf
INST_EXAMPLE_SCRIPTS = $(wildcard examples/*.sh)
INST_EXAMPLE_FILTERS = $(wildcard examples/filters/*)
INST_COMPLETION	= share/bash-completion/completions/tcptap
# The filters complete through the same file: one symlink per program.
INST_COMPLETION_LINKS = $(FILTERS) $(FAULTS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(EXAMPLEDIR)/filters $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPDIR)
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)
	install -m 644 $(INST_MANS) $(DESTDIR)$(MAN1DIR)
	install -m 644 $(INST_DATA) $(DESTDIR)$(DATADIR)
	for f in $(INST_UNITS); do \
		sed 's|/usr/local/bin/|$(BINDIR)/|g' "$$f" \
		    >$(DESTDIR)$(UNITDIR)/"$${f##*/}" && \
		chmod 644 $(DESTDIR)$(UNITDIR)/"$${f##*/}" || exit 1; \
	done
	for f in $(INST_EXAMPLES); do \
		sed 's|/usr/local/bin/|$(BINDIR)/|g' "$$f" \
		    >$(DESTDIR)$(EXAMPLEDIR)/"$${f##*/}" && \
		chmod 644 $(DESTDIR)$(EXAMPLEDIR)/"$${f##*/}" || exit 1; \
	done
	install -m 755 $(INST_EXAMPLE_SCRIPTS) $(DESTDIR)$(EXAMPLEDIR)
	install -m 755 $(INST_EXAMPLE_FILTERS) $(DESTDIR)$(EXAMPLEDIR)/filters
	install -m 644 $(INST_COMPLETION) $(DESTDIR)$(COMPDIR)
	for p in $(INST_COMPLETION_LINKS); do \
		ln -sf tcptap $(DESTDIR)$(COMPDIR)/"$$p" || exit 1; \
	done

uninstall:
	rm -f $(PROGS:bin/%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(INST_MANS:share/man/man1/%=$(DESTDIR)$(MAN1DIR)/%)
	rm -f $(INST_DATA:share/tcptap/%=$(DESTDIR)$(DATADIR)/%)
	rm -f $(INST_UNITS:share/systemd/%=$(DESTDIR)$(UNITDIR)/%)
	rm -f $(INST_EXAMPLES:examples/%=$(DESTDIR)$(EXAMPLEDIR)/%)
	rm -f $(INST_EXAMPLE_SCRIPTS:examples/%=$(DESTDIR)$(EXAMPLEDIR)/%)
	rm -f $(INST_EXAMPLE_FILTERS:examples/%=$(DESTDIR)$(EXAMPLEDIR)/%)
	rm -f $(DESTDIR)$(COMPDIR)/tcptap \
	    $(INST_COMPLETION_LINKS:%=$(DESTDIR)$(COMPDIR)/%)
	rmdir $(DESTDIR)$(EXAMPLEDIR)/filters $(DESTDIR)$(EXAMPLEDIR) \
	    $(DESTDIR)$(PREFIX)/share/doc/tcptap $(DESTDIR)$(DATADIR) 2>/dev/null || true

.PHONY: uninstall

clean:
	rm -rf bin tests/bin src/*.o src/*.a filters/*.o .build-flags

.PHONY: all deps check check-long demo install clean FORCE

# Keep objects: make would delete filters/*.o after printing test results.
.SECONDARY:

# Throughput and formatter benchmark against peers (socat, haproxy).
bench: all
	@sh bench/report.sh

.PHONY: bench

# Fuzzing: one libFuzzer harness per tests/fuzz/fuzz_NAME.c, linked with
# the library compiled the same way; `make fuzz FUZZ_SECONDS=N` replays
# tests/fuzz/regress/NAME and the corpus, then fuzzes N s on
# tests/fuzz/corpus/NAME (it grows: commit it); `make fuzz-regress`
# only replays.  See tests/fuzz/README.
FUZZ_CC		= clang
FUZZ_SECONDS	?= 30
FUZZ_CFLAGS	= -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -fno-omit-frame-pointer -D_GNU_SOURCE \
	  $(WARN) -Isrc $(BSD_CFLAGS)
FUZZ_NAMES	= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS	= $(FUZZ_NAMES:%=tests/fuzz/bin/fuzz_%)
FUZZ_LIB_OBJ	= $(LIB_OBJ:src/%.o=tests/fuzz/obj/%.o)

tests/fuzz/obj/%.o: src/%.c src/tcptap.h
	@mkdir -p tests/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

tests/fuzz/obj/libfuzztap.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $(FUZZ_LIB_OBJ)

# Some harnesses include the source they test (tapstream.c, tap-replay.c).
tests/fuzz/bin/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h src/tcptap.h \
	    src/tapstream.c filters/tap-replay.c tests/fuzz/obj/libfuzztap.a
	@mkdir -p tests/fuzz/bin
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< tests/fuzz/obj/libfuzztap.a \
	    $(BSD_LIBS) -lm

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh fuzz $(FUZZ_NAMES)

fuzz-regress: fuzz-build
	@sh tests/fuzz/run.sh regress $(FUZZ_NAMES)

.PHONY: fuzz fuzz-build fuzz-regress

# Peers `make bench` compares against (Debian packages); bench/run.sh
# also tries to install the missing ones itself when run as root.
BENCH_DEPS = build-essential socat haproxy ucspi-tcp redis-server redis-tools procps

bench-deps:
	@sh tests/deps.sh $(BENCH_DEPS)

.PHONY: bench-deps

# The relay and every filter under valgrind memcheck (tests/valgrind.sh).
valgrind: all
	@sh tests/valgrind.sh

.PHONY: valgrind
