UTILITY_FILES = \
	utilities/install-deps.sh \
	utilities/build.sh \
	utilities/demo.sh \
	utilities/check.sh \
	utilities/install-check.sh \
	utilities/vhost-async-lib.sh
EXTRA_DIST += $(UTILITY_FILES)
