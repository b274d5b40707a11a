#! /usr/bin/env python3
# A sequence-numbered UDP stream for the system tests: datagrams of mixed
# sizes (64 B, 1414 B and 9000 B frames) whose order and payload the
# receiver checks.
#
#   udp-sequence.py recv PORT COUNT   print what arrived, then exit
#   udp-sequence.py send ADDR PORT COUNT
#
# The receiver stops after COUNT datagrams or 5 s without one; it prints
# "in order, payload intact" or what went wrong, then "received N of
# COUNT": UDP may lose datagrams when a queue on the way is full.

import socket
import sys
import time

SIZES = (22, 1400, 8972)   # UDP payloads: 64, 1442 and 9014 B frames.


def payload(seq):
    size = SIZES[seq % len(SIZES)]
    fill = bytes([(seq + i) & 0xff for i in range(256)])
    body = (fill * (size // 256 + 1))[:size - 4]
    return seq.to_bytes(4, "big") + body


def recv(port, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("0.0.0.0", int(port)))
    sock.settimeout(5)
    last, n, bad = -1, 0, []
    while n < int(count):
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        seq = int.from_bytes(data[:4], "big")
        if seq <= last:
            bad.append("%d after %d" % (seq, last))
        if data != payload(seq):
            bad.append("%d corrupted" % seq)
        last, n = seq, n + 1
    if bad:
        print("out of order or corrupted: %s" % ", ".join(bad[:10]))
    else:
        print("in order, payload intact")
    print("received %d of %s" % (n, count))


def send(addr, port, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for seq in range(int(count)):
        sock.sendto(payload(seq), (addr, int(port)))
        if seq % 4 == 3:
            # Pacing, so that no queue on the way overflows.
            time.sleep(0.002)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "recv":
        recv(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: %s recv PORT COUNT | send ADDR PORT COUNT"
                 % sys.argv[0])
