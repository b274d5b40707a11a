# Our unit tests, built into OVS's ovstest (included by OVS's
# tests/automake.mk, see patches/0001).
VHOST_ASYNC_OVSTEST_FILES = \
	tests/test-dma-pool.c \
	tests/test-vhost-async.c
