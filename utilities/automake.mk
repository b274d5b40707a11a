UTILITY_FILES = \
	utilities/install-deps.sh \
	utilities/build.sh \
	utilities/build-deb.sh \
	utilities/check-deb.sh \
	utilities/check-at-commit.sh \
	utilities/check-results.sh \
	utilities/check-stack.sh \
	utilities/debian-release.sh \
	utilities/debian-root.sh \
	utilities/demo.sh \
	utilities/check.sh \
	utilities/install-check.sh \
	utilities/vhost-async-lib.sh \
	utilities/vhost-async-vm.sh \
	utilities/vm-image.sh \
	utilities/ovs-vhost-async-bench \
	utilities/ovs-vhost-async-bench-copy.c \
	utilities/ovs-vhost-async-bench-report \
	utilities/ovs-vhost-async-bench-vm \
	utilities/ovs-vhost-async-scale \
	utilities/ovs-vhost-async-soak
EXTRA_DIST += $(UTILITY_FILES)
