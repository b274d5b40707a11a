#! /usr/bin/env python3
# Copyright (c) 2026 The ovs-vhost-async authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at:
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Extracts the examples of the documentation and checks or runs them.

The convention, in the rST sources:

    .. code-block:: console
       [:class: host | needs-dma-hardware]

       $ command arguments \\
           continued arguments
       output of the command
       $ next command

Lines that start with "$ " are commands (a trailing backslash continues
one); the lines after a command are its output.  A block without a class
runs in the sandbox; "host" marks commands that change the host (packages,
services, drivers, installation) and "needs-dma-hardware" those that need
a DMA engine: both are only checked.  A "$ " prompt anywhere else, in a
plain "::" literal block, is an error: it would be an example nobody runs.

usage:
  docs-commands.py list  PATH...
  docs-commands.py check [--configure SCRIPT] PATH...
  docs-commands.py run   [--rewrite FROM=TO]... [--timeout SECONDS] PATH...

PATH is an .rst file or a directory searched for them.  "check" parses
every block, checks the shell syntax of every command and that the
options given to "configure" exist in SCRIPT --help.  "run" runs the
sandbox commands in order with bash, FROM replaced by TO in each, and
compares their output with the documented one: a one-line output must be
equal; otherwise each documented "label:" (or first word, for lines
without one) must appear.  A command whose output does not match yet is
run again for up to SECONDS (default 20): the switch may still be
settling.
"""

import argparse
import os
import re
import subprocess
import sys
import time

CLASSES = {'host', 'needs-dma-hardware'}

DIRECTIVE_RE = re.compile(r'^(\s*)\.\. code-block::\s*console\s*$')
OPTION_RE = re.compile(r'^\s*:([\w-]+):\s*(.*)$')
LITERAL_RE = re.compile(r'(^|[^:])::\s*$')
LABEL_RE = re.compile(r'^\s*([A-Za-z][A-Za-z_ ()-]*?):(\s|$)')


class Command(object):
    def __init__(self, path, line, kind, text):
        self.path = path
        self.line = line
        self.kind = kind            # 'sandbox', 'host' or 'needs-dma-hardware'
        self.text = text
        self.output = []

    def where(self):
        return '%s:%d' % (self.path, self.line)


class DocError(Exception):
    pass


def indent_of(line):
    return len(line) - len(line.lstrip())


def block_body(lines, i, base):
    """Returns (first, body) of the indented block that starts after line
    i - 1: the index of its first line and its lines, dedented."""
    body = []
    first = None
    while i < len(lines):
        line = lines[i]
        if line.strip() and indent_of(line) <= base:
            break
        if first is None and line.strip():
            first = i
        if first is not None:
            body.append(line)
        i += 1
    while body and not body[-1].strip():
        body.pop()
    if not body:
        return first, [], i
    dedent = min(indent_of(l) for l in body if l.strip())
    return first, [l[dedent:] for l in body], i


def parse_file(path, unmarked):
    """Returns the commands of the console blocks of 'path'; appends to
    'unmarked' a message for each example outside them."""
    with open(path) as f:
        lines = f.read().split('\n')
    commands = []
    i = 0
    while i < len(lines):
        m = DIRECTIVE_RE.match(lines[i])
        if m:
            base = len(m.group(1))
            kind = 'sandbox'
            i += 1
            while i < len(lines) and OPTION_RE.match(lines[i]) \
                    and indent_of(lines[i]) > base:
                name, value = OPTION_RE.match(lines[i]).groups()
                if name == 'class':
                    classes = set(value.split())
                    unknown = classes - CLASSES
                    if unknown or len(classes) != 1:
                        raise DocError('%s:%d: class %s: use one of %s'
                                       % (path, i + 1, value,
                                          ', '.join(sorted(CLASSES))))
                    kind = classes.pop()
                i += 1
            first, body, i = block_body(lines, i, base)
            if not body:
                raise DocError('%s:%d: empty console block' % (path, i))
            parse_block(path, first, body, kind, commands)
            continue
        if LITERAL_RE.search(lines[i]) and not lines[i].lstrip().startswith(
                '.. '):
            base = indent_of(lines[i])
            first, body, j = block_body(lines, i + 1, base)
            for k, line in enumerate(body):
                if line.startswith('$ '):
                    unmarked.append(
                        '%s:%d: a "$ " example in a "::" block: use '
                        '".. code-block:: console" (with ":class: host" if '
                        'it is not for the sandbox) so that it is checked'
                        % (path, first + k + 1))
            i = j
            continue
        i += 1
    return commands


def parse_block(path, first, body, kind, commands):
    cmd = None
    continued = False
    for k, line in enumerate(body):
        if continued:
            cmd.text += '\n' + line
            continued = line.endswith('\\')
        elif line.startswith('$ '):
            cmd = Command(path, first + k + 1, kind, line[2:])
            commands.append(cmd)
            continued = line.endswith('\\')
        elif cmd is None:
            if line.strip():
                raise DocError('%s:%d: console block does not start with '
                               '"$ "' % (path, first + k + 1))
        else:
            cmd.output.append(line)
    if continued:
        raise DocError('%s: command ends with a backslash' % cmd.where())


def find_docs(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith('_'))
                files += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith('.rst')]
        else:
            files.append(p)
    return files


def parse(paths, unmarked):
    commands = []
    for path in find_docs(paths):
        commands += parse_file(path, unmarked)
    return commands


def output_matches(expected, actual):
    """Returns None if 'actual' matches the documented 'expected' output,
    else what is missing."""
    expected = [l for l in expected if l.strip() and l.strip() != '...']
    if not expected:
        return None
    if len(expected) == 1 and not LABEL_RE.match(expected[0]):
        if actual.strip() == expected[0].strip():
            return None
        return 'output %r' % expected[0].strip()
    for line in expected:
        m = LABEL_RE.match(line)
        needle = m.group(1) + ':' if m else line.split()[0]
        if needle not in actual:
            return '%r (from documented line %r)' % (needle, line.strip())
    return None


def cmd_list(args):
    unmarked = []
    for c in parse(args.paths, unmarked):
        print('%s [%s] %s' % (c.where(), c.kind, c.text.replace('\n', ' ')))


def cmd_check(args):
    unmarked = []
    commands = parse(args.paths, unmarked)
    for msg in unmarked:
        print(msg)
    failures = len(unmarked)
    help_text = None
    if args.configure:
        help_text = subprocess.run([args.configure, '--help'],
                                   capture_output=True, text=True).stdout
    for c in commands:
        r = subprocess.run(['bash', '-n', '-c', c.text],
                           capture_output=True, text=True)
        if r.returncode:
            print('%s: shell syntax: %s' % (c.where(), r.stderr.strip()))
            failures += 1
        words = c.text.replace('\\\n', ' ').split()
        if help_text is not None and words and \
                os.path.basename(words[0]) == 'configure':
            for w in words[1:]:
                opt = w.split('=')[0]
                if opt.startswith('--') and opt not in help_text:
                    print('%s: configure has no option %s' % (c.where(), opt))
                    failures += 1
    kinds = {}
    for c in commands:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    print(', '.join('%d %s' % (n, k) for k, n in sorted(kinds.items())))
    if not kinds.get('sandbox'):
        print('no example to run in the sandbox')
        failures += 1
    return 1 if failures else 0


def cmd_run(args):
    rewrites = [r.split('=', 1) for r in args.rewrite]
    failures = 0
    unmarked = []
    commands = parse(args.paths, unmarked)
    # "check" fails on these; here they are only examples nobody runs.
    for msg in unmarked:
        print('warning: ' + msg)
    for c in commands:
        if c.kind != 'sandbox':
            print('%s: skipped (%s): %s' % (c.where(), c.kind,
                                            c.text.split('\n')[0]))
            continue
        text = c.text
        for old, new in rewrites:
            text = text.replace(old, new)
        print('%s: $ %s' % (c.where(), text))
        deadline = time.time() + args.timeout
        while True:
            try:
                r = subprocess.run(['bash', '-c', text], capture_output=True,
                                   text=True, timeout=60)
                rc, out, err = r.returncode, r.stdout, r.stderr
            except subprocess.TimeoutExpired:
                rc, out, err = None, '', 'timed out after 60 s'
            missing = None
            if rc == 0:
                missing = output_matches(c.output, out)
            if (rc == 0 and missing is None) or time.time() > deadline:
                break
            time.sleep(0.5)
        sys.stdout.write(out)
        if rc != 0:
            print('%s: FAILED: exit status %s: %s' % (c.where(), rc,
                                                     err.strip()))
            failures += 1
        elif missing:
            print('%s: FAILED: output lacks %s' % (c.where(), missing))
            failures += 1
        sys.stdout.flush()
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(
        description='Checks or runs the examples of the documentation.')
    sub = parser.add_subparsers(dest='mode', required=True)
    p = sub.add_parser('list')
    p.add_argument('paths', nargs='+')
    p = sub.add_parser('check')
    p.add_argument('--configure')
    p.add_argument('paths', nargs='+')
    p = sub.add_parser('run')
    p.add_argument('--rewrite', action='append', default=[])
    p.add_argument('--timeout', type=float, default=20)
    p.add_argument('paths', nargs='+')
    args = parser.parse_args()
    try:
        if args.mode == 'list':
            cmd_list(args)
            return 0
        if args.mode == 'check':
            return cmd_check(args)
        return cmd_run(args)
    except DocError as e:
        print(e)
        return 1


if __name__ == '__main__':
    sys.exit(main())
