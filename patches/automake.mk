# The hook series applied to the OVS source, in the order of patches/series.
PATCH_FILES = \
	$(srcdir)/patches/0001-build-Compile-the-vhost-async-overlay.patch \
	$(srcdir)/patches/0002-dpdk-Initialize-vhost-async-after-the-EAL.patch
EXTRA_DIST += patches/series $(PATCH_FILES)
