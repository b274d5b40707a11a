#! /bin/sh
# Generates configure and Makefile.in from configure.ac and Makefile.am.
autoreconf --install --force
