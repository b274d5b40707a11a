# The hooks applied to the OVS source, in the order of patches/series.X.Y
# for OVS X.Y.
PATCH_FILES = \
	$(srcdir)/patches/0001-build-Compile-the-vhost-async-overlay.patch \
	$(srcdir)/patches/0002-dpdk-Let-vhost-async-follow-other_config.patch \
	$(srcdir)/patches/0003-dpdk-Give-each-PMD-thread-a-DMA-channel.patch \
	$(srcdir)/patches/0004-dpdk-unixctl-Document-dpdk-dma-show.patch \
	$(srcdir)/patches/0005-netdev-dpdk-Let-vhost-async-register-sockets-and-see-callbacks.patch \
	$(srcdir)/patches/0006-netdev-dpdk-Enqueue-to-vhost-through-the-async-layer.patch \
	$(srcdir)/patches/0007-dpif-netdev-Poll-async-copies-in-every-thread-that-submits.patch \
	$(srcdir)/patches/0008-netdev-dpdk-Show-the-vhost-async-state-of-a-port-in-its-status.patch \
	$(srcdir)/patches/0009-netdev-dpdk-Count-mbufs-held-in-async-copies-in-per-port-mempools.patch \
	$(srcdir)/patches/0010-netdev-dpdk-Dequeue-from-vhost-through-the-async-layer.patch \
	$(srcdir)/patches/0011-netdev-dpdk-Let-a-vhost-user-client-port-choose-async.patch \
	$(srcdir)/patches/0012-dpif-netdev-Show-vhost-async-counters-in-pmd-stats-show.patch \
	$(srcdir)/patches/0013-netdev-dpdk-Show-vhost-async-counters-in-Interface-statistics.patch \
	$(srcdir)/patches/0014-dpif-netdev-Account-for-vhost-async-completion-polling.patch \
	$(srcdir)/patches/4.0/0001-build-Compile-the-vhost-async-overlay.patch \
	$(srcdir)/patches/4.0/0002-dpdk-Let-vhost-async-follow-other_config.patch \
	$(srcdir)/patches/4.0/0004-dpdk-unixctl-Document-dpdk-dma-show.patch \
	$(srcdir)/patches/4.0/0007-dpif-netdev-Poll-async-copies-in-every-thread-that-submits.patch \
	$(srcdir)/patches/4.0/0011-netdev-dpdk-Let-a-vhost-user-client-port-choose-async.patch \
	$(srcdir)/patches/4.0/0012-dpif-netdev-Show-vhost-async-counters-in-pmd-perf-show.patch \
	$(srcdir)/patches/4.0/0013-netdev-dpdk-Show-vhost-async-counters-in-Interface-statistics.patch \
	$(srcdir)/patches/4.0/0014-dpif-netdev-Account-for-vhost-async-completion-polling.patch
EXTRA_DIST += patches/series.3.1 patches/series.3.5 patches/series.4.0 \
	$(PATCH_FILES)
