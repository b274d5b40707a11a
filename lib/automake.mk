# Our library sources.  OVS's lib/automake.mk includes this file (see
# patches/0001) and compiles them into libopenvswitch; the overlay's own
# Makefile.am includes it to know which files to link into the OVS tree.
VHOST_ASYNC_LIB_FILES = \
	lib/dma-pool.c \
	lib/dma-pool.h \
	lib/netdev-vhost-async.c \
	lib/netdev-vhost-async.h \
	lib/netdev-vhost-async-private.h \
	lib/netdev-vhost-async-stats.c \
	lib/netdev-vhost-async-watch.c \
	lib/vhost-async-numa.c \
	lib/vhost-async-numa.h
