#!/usr/bin/env python3
"""Talks to a test VM: runs shell commands through the agent on its second
serial port (utilities/vm-image.sh) and QMP commands through its monitor.

  vm-agent.py run AGENT-SOCKET TIMEOUT SCRIPT
      Runs SCRIPT in the guest, prints its output, exits with its status
      (124 if no answer came within TIMEOUT seconds).
  vm-agent.py qmp QMP-SOCKET COMMAND [JSON-ARGUMENTS]
      Prints the "return" of COMMAND as JSON; exits 1 with QMP's error.
"""

import base64
import json
import os
import socket
import sys
import time


def connect(path, deadline):
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run(path, timeout, script):
    deadline = time.monotonic() + timeout
    sock = connect(path, deadline)
    token = "%d.%d" % (os.getpid(), time.monotonic_ns())
    payload = base64.b64encode(script.encode()).decode()
    sock.sendall(("%s %s\n" % (token, payload)).encode())
    marker = ("@@%s " % token).encode()
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.stdout.write(data.decode(errors="replace"))
            sys.stderr.write("vm-agent: no answer in %d s\n" % timeout)
            return 124
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            sys.stderr.write("vm-agent: the VM closed the agent's port\n")
            return 125
        data += chunk
        start = data.find(marker)
        end = data.find(b"\n", start) if start >= 0 else -1
        if end >= 0:
            status = int(data[start + len(marker):end])
            # Output of an earlier command that timed out may precede ours:
            # it ends with its own marker line.
            out = data[:start]
            last = out.rfind(b"@@")
            if last >= 0:
                out = out[out.find(b"\n", last) + 1:]
            sys.stdout.write(out.decode(errors="replace"))
            return status


def qmp(path, command, arguments):
    sock = connect(path, time.monotonic() + 10)
    sock.settimeout(60)
    stream = sock.makefile("rwb")

    def reply():
        while True:
            line = stream.readline()
            if not line:
                raise EOFError("QMP closed")
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                return msg

    stream.readline()  # the greeting
    stream.write(b'{"execute": "qmp_capabilities"}\n')
    stream.flush()
    reply()
    request = {"execute": command}
    if arguments:
        request["arguments"] = json.loads(arguments)
    stream.write((json.dumps(request) + "\n").encode())
    stream.flush()
    msg = reply()
    if "error" in msg:
        sys.stderr.write("qmp %s: %s\n" % (command, msg["error"]["desc"]))
        return 1
    print(json.dumps(msg["return"], sort_keys=True))
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "run":
        return run(argv[2], float(argv[3]), argv[4])
    if len(argv) in (4, 5) and argv[1] == "qmp":
        return qmp(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
