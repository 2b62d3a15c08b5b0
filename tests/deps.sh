#!/bin/sh
# Install the Debian packages named as arguments that are missing.
# As root: apt-get them.  Otherwise: print the exact command and fail.
missing=
for p in "$@"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root: apt-get update && $cmd" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
# Server packages must not start their system service on install.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" &&
	    made_policy=1
fi
apt-get update -qq >&2 && eval "$cmd" >&2
rc=$?
[ -n "$made_policy" ] && rm -f "$policy"
exit $rc
