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

"""Splices our documentation into OVS's vswitchd/vswitch.xml.

usage: vswitch-splice.py OVS-VSWITCH-XML OUR-XML > OUTPUT

OUR-XML holds <splice> elements, each with a table and a place in it:

  <splice table="T" before='TEXT'>   before the first line of table T
                                     that contains "<TEXT"
  <splice table="T" after-group="G"> after the end of the group of
                                     table T titled G

Their content is copied as written, re-indented to the place it goes, so
that OVS's file reads as if we had edited it.  Text, not a DOM: OVS's
layout stays as it is.  Any place that cannot be found is an error, so
that a new OVS release cannot silently drop our documentation.
"""

import re
import sys
import textwrap
import xml.dom.minidom

SPLICE_RE = re.compile(r'<splice\s+([^>]*)>\n(.*?)\n\s*</splice>', re.S)
ATTR_RE = re.compile(r'''([\w-]+)\s*=\s*("([^"]*)"|'([^']*)')''')


def fail(msg):
    sys.stderr.write("vswitch-splice.py: %s\n" % msg)
    sys.exit(1)


def table_range(lines, table):
    start = None
    for i, line in enumerate(lines):
        if start is None and re.search(r'<table name="%s"[ >]' % table,
                                       line):
            start = i
        elif start is not None and '</table>' in line:
            return start, i
    fail('no table %s' % table)


def indent_of(line):
    return line[:len(line) - len(line.lstrip())]


def place(lines, attrs):
    """Returns (index, indentation, after) for the splice 'attrs': 'after'
    if it follows a group rather than precedes a line."""
    table = attrs.get('table')
    if not table:
        fail('a <splice> without table=')
    start, end = table_range(lines, table)
    if 'before' in attrs:
        needle = '<' + attrs['before']
        for i in range(start, end):
            if needle in lines[i]:
                return i, indent_of(lines[i]), False
        fail('table %s has no line with %s' % (table, needle))
    if 'after-group' in attrs:
        needle = '<group title="%s">' % attrs['after-group']
        for i in range(start, end):
            if needle in lines[i]:
                depth = 0
                for j in range(i, end):
                    depth += lines[j].count('<group ')
                    depth -= lines[j].count('</group>')
                    if depth == 0:
                        return j + 1, indent_of(lines[i]), True
                fail('group %s of table %s does not end' % (needle, table))
        fail('table %s has no %s' % (table, needle))
    fail('a <splice> needs before= or after-group=')


def main():
    if len(sys.argv) != 3:
        fail('usage: vswitch-splice.py OVS-VSWITCH-XML OUR-XML')
    ovs_xml, our_xml = sys.argv[1:]
    with open(our_xml) as f:
        ours = f.read()
    # Well-formed or nothing: ovsdb-doc would fail later, less clearly.
    xml.dom.minidom.parseString(ours)
    with open(ovs_xml) as f:
        lines = f.read().split('\n')

    splices = []
    for m in SPLICE_RE.finditer(ours):
        attrs = {a.group(1): a.group(3) if a.group(3) is not None
                 else a.group(4) for a in ATTR_RE.finditer(m.group(1))}
        index, indent, after = place(lines, attrs)
        body = textwrap.indent(textwrap.dedent(m.group(2)), indent,
                               lambda l: l.strip() != '')
        body = body.rstrip('\n').split('\n')
        # A blank line between what was there and what we add.
        splices.append((index, [''] + body if after else body + ['']))
    if not splices:
        fail('%s has no <splice>' % our_xml)

    # From the bottom up, so that earlier indexes stay right.
    for index, body in sorted(splices, key=lambda s: s[0], reverse=True):
        lines[index:index] = body
    sys.stdout.write('\n'.join(lines))


if __name__ == '__main__':
    main()
