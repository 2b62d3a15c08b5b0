#!/usr/bin/env python3
# Tap filter: at each session's close, print its payload bytes per direction.
import sys
inp, count = sys.stdin.buffer, {}
while hdr := inp.read(64):
    _, kind, sid, _, d, n = hdr.split()
    payload = inp.read(int(n))
    count[d] = count.get(d, 0) + (len(payload) if kind == b"data" else 0)
    if kind == b"close":
        print(sid.decode(), *sorted(f"{k.decode()}={v}" for k, v in count.items() if k != b"-")); count = {}
