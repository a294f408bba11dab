#!/usr/bin/env python3
"""Writes a small capture shaped like `tcpdump -i eth0 -w mine.pcap` on an instance whose eth0
has the private IP 172.16.5.10 behind a NAT-mode EIP: what it sent carries its private source,
what it received through the gateway carries its private destination (already translated)."""
import struct, sys

ME, ME_MAC = "172.16.5.10", "00:16:3e:12:34:56"
GW_MAC = "ee:ff:ff:ff:ff:ff"          # the VPC gateway, as the guest sees it

def ip(a): return bytes(int(x) for x in a.split("."))
def mac(m): return bytes(int(x, 16) for x in m.split(":"))
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def ipv4(src, dst, proto, l4, ttl, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, ttl, proto, 0, ip(src), ip(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4

def l4sum(src, dst, proto, seg):
    return csum(ip(src) + ip(dst) + struct.pack("!BBH", 0, proto, len(seg)) + seg)

def tcp(src, sp, dst, dp, seq, ack, flags, data=b""):
    h = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 64240, 0, 0)
    seg = h + data
    c = l4sum(src, dst, 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]

def udp(src, sp, dst, dp, data):
    seg = struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data
    c = l4sum(src, dst, 17, seg) or 0xffff
    return seg[:6] + struct.pack("!H", c) + seg[8:]

def icmp_echo(t, ident, seq, data=b"eipsim-walkthrough"):
    m = struct.pack("!BBHHH", t, 0, 0, ident, seq) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]

frames, n = [], [0]
def send(dst, proto, l4):      # the instance sends: its MAC -> the gateway
    n[0] += 1
    frames.append(mac(GW_MAC) + mac(ME_MAC) + b"\x08\x00" + ipv4(ME, dst, proto, l4, 64, 0x1000 + n[0]))
def recv(src, proto, l4, ttl): # the instance receives: the gateway -> its MAC, already DNATed
    n[0] += 1
    frames.append(mac(ME_MAC) + mac(GW_MAC) + b"\x08\x00" + ipv4(src, ME, proto, l4, ttl, 0x2000 + n[0]))

SYN, ACK, PSH, SYNACK = 0x02, 0x10, 0x18, 0x12
# DNS query and answer
q = bytes.fromhex("1a2b01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
send("8.8.8.8", 17, udp(ME, 53000, "8.8.8.8", 53, q))
a = bytes.fromhex("1a2b81800001000100000000") + q[12:] + bytes.fromhex("c00c000100010000012c0004") + ip("93.184.216.34")
recv("8.8.8.8", 17, udp("8.8.8.8", 53, ME, 53000, a), 118)
# HTTPS out
W = "93.184.216.34"
send(W, 6, tcp(ME, 43210, W, 443, 1000, 0, SYN))
recv(W, 6, tcp(W, 443, ME, 43210, 5000, 1001, SYNACK), 52)
send(W, 6, tcp(ME, 43210, W, 443, 1001, 5001, ACK))
# SSH in from an administrator
S = "198.51.100.7"
recv(S, 6, tcp(S, 52000, ME, 22, 7000, 0, SYN), 57)
send(S, 6, tcp(ME, 22, S, 52000, 9000, 7001, SYNACK))
recv(S, 6, tcp(S, 52000, ME, 22, 7001, 9001, ACK), 57)
# ping in
P = "203.0.113.9"
recv(P, 1, icmp_echo(8, 0x77, 1), 54)
send(P, 1, icmp_echo(0, 0x77, 1))
# active FTP out: PORT carries the private address
F = "203.0.113.21"
send(F, 6, tcp(ME, 40100, F, 21, 100, 0, SYN))
recv(F, 6, tcp(F, 21, ME, 40100, 800, 101, SYNACK), 50)
send(F, 6, tcp(ME, 40100, F, 21, 101, 801, ACK))
recv(F, 6, tcp(F, 21, ME, 40100, 801, 101, PSH, b"220 ready\r\n"), 50)
port = b"PORT 172,16,5,10,156,64\r\n"
send(F, 6, tcp(ME, 40100, F, 21, 101, 812, PSH, port))
recv(F, 6, tcp(F, 21, ME, 40100, 812, 101 + len(port), PSH, b"200 PORT command successful\r\n"), 50)

out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
for i, f in enumerate(frames):
    out.write(struct.pack("<IIII", 1700000000 + i // 10, (i % 10) * 100000, len(f), len(f)) + f)
