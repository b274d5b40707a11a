# The hook series applied to the OVS source, in the order of patches/series.
PATCH_FILES = \
	$(srcdir)/patches/0001-build-Compile-the-vhost-async-overlay.patch \
	$(srcdir)/patches/0002-dpdk-Let-vhost-async-follow-other_config.patch \
	$(srcdir)/patches/0003-dpdk-Give-each-PMD-thread-a-DMA-channel.patch \
	$(srcdir)/patches/0004-dpdk-unixctl-Document-dpdk-dma-show.patch
EXTRA_DIST += patches/series $(PATCH_FILES)
