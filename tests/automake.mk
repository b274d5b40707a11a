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
	tests/system-async-observe.at
EXTRA_DIST += $(TESTSUITE_AT) tests/atlocal.in tests/tcp-transfer.py \
	tests/udp-sequence.py
TESTSUITE_AT += tests/system-async-badinput.at
TESTSUITE_AT += tests/docs-commands.at
EXTRA_DIST += tests/docs-commands.py
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
