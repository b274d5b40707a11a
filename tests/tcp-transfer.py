#! /usr/bin/env python3
# A bounded TCP transfer for the system tests.
#
#   tcp-transfer.py recv PORT OUTFILE   accept one connection, write it out
#   tcp-transfer.py send ADDR PORT FILE  send FILE, then close
#
# Each side gives up after 60 seconds.

import socket
import sys

TIMEOUT = 60


def recv(port, path):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(port)))
    srv.listen(1)
    srv.settimeout(TIMEOUT)
    conn, _ = srv.accept()
    conn.settimeout(TIMEOUT)
    with open(path, "wb") as out:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            out.write(data)
    conn.close()
    srv.close()


def send(addr, port, path):
    conn = socket.create_connection((addr, int(port)), timeout=TIMEOUT)
    with open(path, "rb") as f:
        conn.sendfile(f)
    conn.shutdown(socket.SHUT_WR)
    conn.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "recv":
        recv(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: %s recv PORT OUTFILE | send ADDR PORT FILE"
                 % sys.argv[0])
