DOC_SOURCE = \
	Documentation/conf.py \
	Documentation/index.rst \
	Documentation/intro/install/vhost-async.rst \
	Documentation/intro/install/vhost-async-deb.rst \
	Documentation/topics/dpdk/vhost-async.rst \
	Documentation/howto/vhost-async-bench.rst
EXTRA_DIST += $(DOC_SOURCE)

# "make docs" builds Documentation/ with Sphinx (Debian: python3-sphinx)
# into Documentation/_build/html, as OVS builds its own: warnings are
# errors (-W) and every reference must resolve (-n).  Sphinx itself
# finds what changed.
SPHINXBUILD = sphinx-build
SPHINXBUILDDIR = $(builddir)/Documentation/_build
SPHINX_ALLOPTS = -W -n -q -d $(SPHINXBUILDDIR)/doctrees $(SPHINXOPTS) \
	$(srcdir)/Documentation
docs:
	@if ! command -v $(SPHINXBUILD) >/dev/null; then \
	    echo "$(SPHINXBUILD) not found: apt-get install python3-sphinx" >&2; \
	    exit 1; \
	fi
	$(AM_V_GEN)$(SPHINXBUILD) -b html $(SPHINX_ALLOPTS) $(SPHINXBUILDDIR)/html
	@echo "Documentation built in $(SPHINXBUILDDIR)/html"
clean-docs:
	rm -rf $(SPHINXBUILDDIR)
.PHONY: docs clean-docs
