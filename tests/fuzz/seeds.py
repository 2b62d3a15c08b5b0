#!/usr/bin/env python3
"""Write the seed corpora into tests/fuzz/corpus/NAME/ (idempotent:
seed-* files only; run from the top of the tree)."""
import os, struct

D = "tests/fuzz/corpus"

def put(name, tag, data):
    os.makedirs(f"{D}/{name}", exist_ok=True)
    with open(f"{D}/{name}/seed-{tag}", "wb") as f:
        f.write(data)

def hdr(kind, sid, us, d, n):
    h = f"tap1 {kind} {sid} {us} {d} {n}".encode()
    return h + b" " * (63 - len(h)) + b"\n"

def rec(kind, d, payload, sid="s1", us=1700000000000000):
    return hdr(kind, sid, us, d, len(payload)) + payload

session = (rec("open", "-", b"client=127.0.0.1:41000\nserver=127.0.0.1:6379\nlisten=127.0.0.1:9000\n")
           + rec("data", "c2s", b"\x00\x00\x00\x05hello")
           + rec("data", "s2c", b"\x00\x00\x00\x03abc\x00\x00")
           + rec("gap", "c2s", b"bytes=12\n")
           + rec("shut", "c2s", b"")
           + rec("data", "s2c", b"\x00\x02hi")
           + rec("close", "-", b"reason=eof\nby=client\nc2s_bytes=9\ns2c_bytes=9\nduration_us=5\n"))
big = rec("open", "-", b"client=[::1]:1\n") + rec("data", "c2s", bytes(range(256)) * 300) + rec("close", "-", b"reason=reset\n")

# tapstream: 8 control bytes, then the stream
for i, ctl in enumerate([b"\x00" * 8, b"\x01\x12\x34\x56\x78\x10\x00\x01",
                         b"\x06\xde\xad\xbe\xef\x05\x33\x44", b"\x83\x01\x02\x03\x04\x20\x00\x40"]):
    put("tapstream", f"session{i}", ctl + session)
put("tapstream", "big", b"\x02\x11\x22\x33\x44\x08\x01\x02" + big)
put("tapstream", "badlen", b"\x00" * 8 + hdr("data", "x", 0, "c2s", 99999999999) + b"abc")
put("tapstream", "empty", b"\x00" * 8)

# frame: 12 control bytes, then [ctl][len][bytes] chunks
def chunks(d, data, step):
    out = b""
    for i in range(0, len(data), step):
        part = data[i:i + step]
        out += bytes([d, len(part)]) + part
    return out
stream4 = b"\x00\x00\x00\x05hello\x00\x00\x00\x00\x00\x00\x00\x03abc"
stream2le = b"\x05\x00hello\x02\x00hi"
put("frame", "h4", bytes([4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0]) + chunks(0, stream4, 7) + chunks(1, stream4, 3))
put("frame", "h2le-keep", bytes([2, 0, 1 | 16, 0, 0, 0, 0, 0, 0, 0, 2, 0]) + chunks(1, stream2le, 4))
put("frame", "offset-includes", bytes([2, 1 | (1 << 1), 2, 0, 0, 0, 0, 0, 0, 0, 9, 0]) + chunks(0, b"T\x00\x08hello" + b"Q\x00\x03", 5))
put("frame", "adjust-skip", bytes([1, 0, 4 | 32, 0xfe, 3, 1, 100, 0, 0, 1, 0, 0]) + chunks(0, b"SSH\x07hello", 2) + bytes([2, 3]) + b"\x04abc")
put("frame", "unframed", bytes([0, 0, 32, 0, 5, 0, 0, 0, 0, 0, 0, 0]) + chunks(0, b"raw bytes here", 4))
put("frame", "h16-huge", bytes([16, 0, 0, 0, 0, 3 | (10 << 2), 0, 0xff, 0xff, 0xff, 0xff, 1]) + chunks(0, b"\x01" + b"\x00" * 15, 16))
put("frame", "h8-max", bytes([8, 0, 0, 0, 0, 1, 4, 0, 0, 0, 1, 0]) + chunks(0, b"\x00" * 7 + b"\x09" + b"x" * 9, 20))

# tsv: 1 control byte (max payload), then the file
with open("tests/fixtures/tsv/reference.tsv", "rb") as f:
    ref = f.read()
put("tsv", "reference", b"\x00" + ref)
with open("tests/fixtures/tsv/lenient.tsv", "rb") as f:
    put("tsv", "lenient", b"\x00" + f.read())
put("tsv", "small", b"\x03# ts_proxy recording v1\n0\tc2s\t68656c6c6f\n\n# c\n10\ts2c\tABCDEF\n10\tc2s\t\n")
put("tsv", "bad", b"\x02# ts_proxy recording v1\n5\tc2s\t00\n4\ts2c\t0g\n")
put("tsv", "nonl", b"\x01" + b"1\tc2s\t" + b"ab" * 40)

# replay: 8 control bytes, 2-byte recording length, recording, peer bytes
def replay(ctl, tsv, peer):
    return bytes(ctl) + struct.pack(">H", len(tsv)) + tsv + peer
tsv_h0 = b"# ts_proxy recording v1\n0\tc2s\t68656c6c6f\n5\ts2c\t776f726c64\n9\tc2s\t2121\n"
put("replay", "h0-server", replay([0, 0, 0, 0, 0, 0, 0, 0], tsv_h0, b"hello!!"))
put("replay", "h0-mismatch", replay([0, 0, 0, 0, 0, 0, 0, 0], tsv_h0, b"help"))
put("replay", "h0-client", replay([0, 0, 0, 0, 0, 0, 1, 0], tsv_h0, b"world"))
with open("tests/fixtures/replay/hello-h2.tsv", "rb") as f:
    h2 = f.read()
put("replay", "h2-server", replay([2, 0, 0, 0, 0, 0, 0, 0], h2, b"\x00\x05hello"))
put("replay", "h2-client", replay([2, 0, 0, 0, 0, 0, 1, 0], h2, b"\x00\x05world"))
put("replay", "h4-keep", replay([4, 0, 8, 0, 0, 0, 0, 0],
    b"0\tc2s\t0000000568656c6c6f\n", b"\x00\x00\x00\x05hello"))
put("replay", "h2-skip-offset", replay([2, 1 | 2, 16 | 1, 0, 3, 0, 0, 0],
    b"0\tc2s\t535348\n1\tc2s\t68690a\n", b"SSHT\x03\x00hi\n"))
put("replay", "h4-big", replay([4, 0, 32, 0, 0, 6, 0, 0],
    b"0\tc2s\t6869\n", b"\x7f\xff\xff\xffhi"))

# addr: 1 control byte, the spec, NUL, raw sockaddr
for i, s in enumerate([b"127.0.0.1:80", b":8080", b"[::1]:443", b"unix:/tmp/x.sock",
                       b"[fe80::1]:1", b"0.0.0.0:65535", b"1.2.3.4:65536", b"unix:",
                       b"::1:80", b"[::ffff:1.2.3.4]:0"]):
    put("addr", f"spec{i}", bytes([0x80 | (i & 1) << 6]) + s + b"\x00" + bytes([16, 0]) + bytes(range(30)))
put("addr", "unixraw", b"\x10unix:a\x00" + bytes([110, 2]) + b"/very/long/path" * 10)

# cidr: rule lines (first byte allow/deny), a blank line, two sockaddrs, v6 bits
rules = b"\x01127.0.0.0/8\n\x0010.0.0.0/8\n\x01::1\n\x00fe80::/10\n\x011.2.3.4/32\n\x00::ffff:0:0/96\n"
sa4 = bytes([0]) + b"\x02\x00\x00\x50\x7f\x00\x00\x01" + b"\x00" * 8
sa6 = bytes([1]) + b"\x0a\x00\x00\x50" + b"\x00" * 4 + b"\x00" * 15 + b"\x01" + b"\x00" * 4
put("cidr", "v4", rules + b"\n" + sa4 + sa4 + b"\x40")
put("cidr", "v6", rules + b"\n" + sa6 + sa6 + b"\x40")
put("cidr", "mixed", b"\x01999.1.1.1\n\x01::1/129\n\x01/\n\n" + sa4 + sa6 + b"\x80")

# proxy: ctl, (outlen), then two sockaddrs each [family byte][struct bytes]
v4 = bytes([0]) + b"\x02\x00\x1f\x90\xc0\xa8\x00\x01" + b"\x00" * 8
v6 = bytes([1]) + b"\x0a\x00\x01\xbb" + b"\x00" * 4 + bytes(range(16)) + b"\x00" * 4
un = bytes([2]) + b"\x01\x00/tmp/sock" + b"\x00" * 98
for i, (a, b) in enumerate([(v4, v4), (v6, v6), (un, v4), (v4, v6), (un, un)]):
    put("proxy", f"v1-{i}", b"\x02" + a + b)
    put("proxy", f"v2-{i}", b"\x03" + a + b)
    put("proxy", f"short-{i}", b"\x00" + bytes([20 + 5 * i]) + a + b)
