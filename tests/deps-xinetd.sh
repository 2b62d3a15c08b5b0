#!/bin/sh
# Unpack Debian's xinetd into tests/.cache/xinetd for tests/services.bats.
#
# xinetd and openbsd-inetd conflict as Debian packages (xinetd Conflicts:
# inet-superserver), and the tests need both.  openbsd-inetd is installed
# (make deps); xinetd is fetched with `apt-get download` and unpacked with
# `dpkg -x`, never installed, so the system's packages stay as they are.
# Its libraries (libwrap0, libtirpc3) come with openbsd-inetd.
#
# Idempotent: does nothing when the binary is already there and runs.
# Always exits 0: when it cannot download, it says why, and the xinetd
# tests skip with that reason.
cd "$(dirname "$0")" || exit 0
dir=.cache/xinetd
bin=$dir/usr/sbin/xinetd

usable() {
	[ -x "$bin" ] && ! ldd "$bin" 2>/dev/null | grep -q 'not found'
}

usable && exit 0
note() {
	echo "deps-xinetd: $*; the xinetd tests will be skipped" >&2
	exit 0
}
command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
    note "no apt-get or dpkg here"

mkdir -p .cache && tmp=$(mktemp -d .cache/dl.XXXXXX) ||
    note "cannot make a temp dir in tests/.cache"
trap 'rm -rf "$tmp"' EXIT
# apt-get download writes to the current directory.
if ! (cd "$tmp" && apt-get download -q xinetd >/dev/null 2>&1); then
	# No package lists yet (fresh machine): fetch them once, as root only.
	[ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null 2>&1 &&
	    (cd "$tmp" && apt-get download -q xinetd >/dev/null 2>&1) ||
	    note "apt-get download xinetd failed"
fi
deb=$(ls "$tmp"/xinetd_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || note "apt-get download xinetd left no .deb"
rm -rf "$dir" && mkdir -p "$dir" && dpkg -x "$deb" "$dir" ||
    note "dpkg -x $deb failed"
usable || note "$bin does not run here: $(ldd "$bin" 2>&1 | grep 'not found')"
echo "deps-xinetd: unpacked $(basename "$deb") into tests/$dir" >&2
exit 0
