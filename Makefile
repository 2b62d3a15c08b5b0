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
ALL_CFLAGS = -D_GNU_SOURCE $(WARN) $(BSD_CFLAGS) -Isrc $(CFLAGS)

# tcptap itself.
TCPTAP_OBJ = src/main.o src/listen.o src/relay.o src/exec.o \
	  src/session.o src/sid.o src/notify.o src/tap.o
# The small library every program shares: the rest of src/.
LIB_OBJ	= $(filter-out $(TCPTAP_OBJ),$(patsubst %.c,%.o,$(wildcard src/*.c)))
# One program per filters/tap-NAME.c.
FILTERS	= $(patsubst filters/%.c,%,$(wildcard filters/tap-*.c))
PROGS	= bin/tcptap $(FILTERS:%=bin/%)
HELPERS	= $(patsubst tests/helpers/%.c,tests/bin/%,$(wildcard tests/helpers/*.c))

all: $(PROGS) $(HELPERS)

src/libtap.a: $(LIB_OBJ) Makefile
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

src/%.o filters/%.o: CPPFLAGS += -DTCPTAP_VERSION='"$(VERSION)"'
VERSION	= 0.1

%.o: %.c src/tcptap.h
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -c -o $@ $<

bin/tcptap: $(TCPTAP_OBJ) src/libtap.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(TCPTAP_OBJ) src/libtap.a $(BSD_LIBS)

bin/tap-%: filters/tap-%.o src/libtap.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< src/libtap.a $(BSD_LIBS)

tests/bin/%: tests/helpers/%.c
	@mkdir -p tests/bin
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Debian packages the build, the tests and the demo need.
DEPS	= build-essential pkg-config libbsd-dev bats bats-support bats-assert \
	  ucspi-tcp systemd redis-server redis-tools strace bsdextrautils \
	  procps iproute2 coreutils clang mandoc python3 socat tshark jq openbsd-inetd

deps:
	@sh tests/deps.sh $(DEPS)

check: deps all
	@sh tests/run.sh

demo: deps all
	@sh examples/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 share/man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1

clean:
	rm -rf bin tests/bin src/*.o src/*.a filters/*.o

.PHONY: all deps check demo install clean

# Keep objects: make would delete filters/*.o after printing test results.
.SECONDARY:

# Throughput and formatter benchmark against peers (socat, haproxy).
bench: all
	@sh bench/run.sh

.PHONY: bench
