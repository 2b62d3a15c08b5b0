#!/usr/bin/env bats
# make install / make uninstall into a staging directory (DESTDIR).
#
# make runs in the repository with -o all: it installs what is built and
# never rebuilds (other suites may be running from the same tree).

load test_helper

# mk ARGS...: make in the repository, outside any make that runs the tests.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    timeout 60 make --no-print-directory -C "$ROOT" -o all "$@"
}

# expected PREFIX: every file `make install` must put under PREFIX (no
# leading /), sorted.  The places are spelled out here; only the sets that
# grow (programs, man pages, example scripts and filters) come from the tree.
expected() {
	local p=${1#/} f
	{
		echo "$p/bin/tcptap"
		for f in "$ROOT"/filters/tap-*.c "$ROOT"/filters/fault-*.c; do
			f=${f##*/}
			echo "$p/bin/${f%.c}"
			echo "$p/share/bash-completion/completions/${f%.c}"
		done
		for f in "$ROOT"/share/man/man1/*.1; do
			echo "$p/share/man/man1/${f##*/}"
		done
		echo "$p/share/tcptap/tcptap.bash"
		for f in tcptap.socket tcptap@.service tcptap-sd.socket tcptap-sd.service; do
			echo "$p/lib/systemd/system/$f"
		done
		echo "$p/share/bash-completion/completions/tcptap"
		echo "$p/share/doc/tcptap/examples/inetd.conf"
		echo "$p/share/doc/tcptap/examples/xinetd.conf"
		for f in "$ROOT"/examples/*.sh; do
			echo "$p/share/doc/tcptap/examples/${f##*/}"
		done
		for f in "$ROOT"/examples/filters/*; do
			echo "$p/share/doc/tcptap/examples/filters/${f##*/}"
		done
	} | sort
}

# installed DIR: every file and symlink under DIR, relative, sorted.
installed() {
	(cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)
}

@test "install: PREFIX=/usr DESTDIR=...: every file in its place, nothing else" {
	run mk install DESTDIR="$T/stage" PREFIX=/usr
	assert_success
	diff -u <(expected /usr) <(installed "$T/stage") ||
	    fail "installed files differ from the expected list (- expected, + installed)"
}

@test "install: default PREFIX is /usr/local" {
	run mk install DESTDIR="$T/stage"
	assert_success
	diff -u <(expected /usr/local) <(installed "$T/stage") ||
	    fail "installed files differ from the expected list (- expected, + installed)"
}

@test "install: programs executable, data 644, copies exact, completions linked to one file" {
	mk install DESTDIR="$T/stage" PREFIX=/usr
	s=$T/stage/usr
	for f in "$s"/bin/*; do
		assert_equal "$(stat -c %a "$f")" 755
		cmp "$f" "$ROOT/bin/${f##*/}" || fail "$f differs from bin/${f##*/}"
	done
	for f in "$s"/share/man/man1/*.1 "$s"/share/tcptap/tcptap.bash \
	    "$s"/lib/systemd/system/* "$s"/share/doc/tcptap/examples/*.conf \
	    "$s"/share/bash-completion/completions/tcptap; do
		assert_equal "$(stat -c %a "$f")" 644
	done
	assert_same_file "$s/share/tcptap/tcptap.bash" "$ROOT/share/tcptap/tcptap.bash"
	assert_same_file "$s/share/man/man1/tcptap.1" "$ROOT/share/man/man1/tcptap.1"
	for f in "$s"/share/bash-completion/completions/tap-*; do
		assert_equal "$(readlink "$f")" tcptap
	done
	"$s/bin/tcptap" --help >/dev/null || fail "installed tcptap --help failed"
}

@test "install: units and inetd/xinetd examples point at PREFIX/bin/tcptap" {
	mk install DESTDIR="$T/stage" PREFIX=/opt/tt
	s=$T/stage/opt/tt
	for u in tcptap@.service tcptap-sd.service; do
		run grep '^ExecStart=' "$s/lib/systemd/system/$u"
		assert_output --regexp '^ExecStart=/opt/tt/bin/tcptap '
	done
	run grep -c /opt/tt/bin/tcptap "$s/share/doc/tcptap/examples/inetd.conf"
	assert_output 1
	run grep -Ec '^[[:space:]]*server[[:space:]]*= /opt/tt/bin/tcptap$' \
	    "$s/share/doc/tcptap/examples/xinetd.conf"
	assert_output 1
	run grep -rl /usr/local/bin "$s/lib" "$s/share/doc/tcptap/examples/inetd.conf" \
	    "$s/share/doc/tcptap/examples/xinetd.conf"
	assert_output ''
	# Only that path changed.
	diff <(sed 's|/usr/local/bin/|/opt/tt/bin/|g' "$ROOT/share/systemd/tcptap-sd.service") \
	    "$s/lib/systemd/system/tcptap-sd.service" || fail "tcptap-sd.service changed beyond its path"
}

@test "uninstall: removes every file install put there, and tcptap's own directories" {
	mk install DESTDIR="$T/stage" PREFIX=/usr
	# Someone else's file in a shared directory stays.
	touch "$T/stage/usr/bin/other"
	run mk uninstall DESTDIR="$T/stage" PREFIX=/usr
	assert_success
	run installed "$T/stage"
	assert_output usr/bin/other
	[ ! -e "$T/stage/usr/share/tcptap" ] || fail "usr/share/tcptap left behind"
	[ ! -e "$T/stage/usr/share/doc/tcptap" ] || fail "usr/share/doc/tcptap left behind"
}
