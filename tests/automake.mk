# Our autotest suite.  It reuses OVS's test macros from the OVS tree in
# $(OVS_DIR) and runs the programs built there.

include tests/ovstest.mk

TESTSUITE_AT = \
	tests/testsuite.at \
	tests/vhost-async-unit.at \
	tests/dma-pool-unit.at \
	tests/system-vhost-async-macros.at \
	tests/system-vhost-async.at \
	tests/system-dma-pool.at \
	tests/system-async-enqueue.at \
	tests/system-async-faults.at \
	tests/system-async-observe.at \
	tests/system-async-scale.at \
	tests/system-async-reconfig.at
EXTRA_DIST += $(TESTSUITE_AT) tests/atlocal.in tests/tcp-transfer.py \
	tests/udp-sequence.py
TESTSUITE_AT += tests/system-async-badinput.at
TESTSUITE_AT += tests/docs-commands.at
TESTSUITE_AT += tests/system-vm.at
EXTRA_DIST += tests/docs-commands.py tests/lsan.supp tests/stack-subset.txt \
	tests/vm-agent.py
TESTSUITE = tests/testsuite
DISTCLEANFILES += tests/atconfig tests/atlocal tests/package.m4

AUTOTEST = $(AUTOM4TE) --language=autotest
AUTOTEST_PATH = $(abs_builddir)/$(OVS_DIR)/utilities:$(abs_builddir)/$(OVS_DIR)/vswitchd:$(abs_builddir)/$(OVS_DIR)/ovsdb:$(abs_builddir)/$(OVS_DIR)/tests:$(abs_srcdir)/utilities

tests/package.m4: $(top_srcdir)/configure.ac
	$(AM_V_GEN){ \
	  echo '# Signature of the current package.'; \
	  echo 'm4_define([AT_PACKAGE_NAME],      [$(PACKAGE_NAME)])'; \
	  echo 'm4_define([AT_PACKAGE_TARNAME],   [$(PACKAGE_TARNAME)])'; \
	  echo 'm4_define([AT_PACKAGE_VERSION],   [$(PACKAGE_VERSION)])'; \
	  echo 'm4_define([AT_PACKAGE_STRING],    [$(PACKAGE_STRING)])'; \
	  echo 'm4_define([AT_PACKAGE_BUGREPORT], [$(PACKAGE_BUGREPORT)])'; \
	} > $@

$(TESTSUITE): tests/package.m4 $(TESTSUITE_AT) $(OVS_DIR)/.unpacked
	$(AM_V_GEN)$(AUTOTEST) -I tests -I '$(srcdir)' -I $(OVS_DIR) \
	    -o $@.tmp $(srcdir)/$@.at && mv $@.tmp $@

check-local: $(TESTSUITE) tests/atlocal all-local
	$(SHELL) '$(TESTSUITE)' -C tests AUTOTEST_PATH='$(AUTOTEST_PATH)' \
	    $(TESTSUITEFLAGS)

clean-testsuite:
	test ! -f '$(TESTSUITE)' || $(SHELL) '$(TESTSUITE)' -C tests --clean
	rm -f $(TESTSUITE)
.PHONY: clean-testsuite

# OVS 3.1's own DPDK tests (tests/system-dpdk.at of the OVS tree), those
# with vhost ports, run against our build with vhost async on and software
# DMA: "make check-dpdk-upstream" (root).  The suite is OVS's, with our
# adaptations in tests/dpdk-upstream-macros.at; the expected result of each
# test, and why, is in tests/dpdk-upstream-expected.txt.
DPDK_UPSTREAM_TESTSUITE = tests/dpdk-upstream-testsuite
DPDK_UPSTREAM_AT = tests/dpdk-upstream-testsuite.at \
	tests/dpdk-upstream-macros.at
EXTRA_DIST += $(DPDK_UPSTREAM_AT) tests/dpdk-upstream-check.sh \
	tests/dpdk-upstream-testpmd tests/dpdk-upstream-expected.txt

$(DPDK_UPSTREAM_TESTSUITE): tests/package.m4 $(DPDK_UPSTREAM_AT) \
		$(OVS_DIR)/.unpacked
	$(AM_V_GEN)$(AUTOTEST) -I tests -I '$(srcdir)' -I $(OVS_DIR) \
	    -o $@.tmp $(srcdir)/$@.at && mv $@.tmp $@

check-dpdk-upstream: $(DPDK_UPSTREAM_TESTSUITE) tests/atlocal all-local
	$(MKDIR_P) tests/dpdk-upstream-bin
	ln -sf '$(abs_srcdir)/tests/dpdk-upstream-testpmd' \
	    tests/dpdk-upstream-bin/dpdk-testpmd
	TESTSUITE_SHELL='$(SHELL)' bash \
	    '$(srcdir)/tests/dpdk-upstream-check.sh' \
	    $(DPDK_UPSTREAM_TESTSUITE) tests \
	    '$(srcdir)/tests/dpdk-upstream-expected.txt' \
	    '$(abs_builddir)/tests/dpdk-upstream-bin:$(AUTOTEST_PATH)' \
	    $(TESTSUITEFLAGS)
.PHONY: check-dpdk-upstream

clean-local: clean-dpdk-upstream
clean-dpdk-upstream:
	test ! -f $(DPDK_UPSTREAM_TESTSUITE) || \
	    $(SHELL) $(DPDK_UPSTREAM_TESTSUITE) -C tests --clean
	rm -rf $(DPDK_UPSTREAM_TESTSUITE) tests/dpdk-upstream-bin
.PHONY: clean-dpdk-upstream
