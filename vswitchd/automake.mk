# Our documentation in OVS's manuals, which the build splices into OVS's
# files (see Makefile.am): our keys in vswitchd/vswitch.xml, and so in
# ovs-vswitchd.conf.db(5); our commands in ovs-vswitchd(8).
VHOST_ASYNC_SCHEMA_DOC = vswitchd/vswitch-vhost-async.xml
VHOST_ASYNC_UNIXCTL_MAN = vswitchd/netdev-vhost-async-unixctl.man
EXTRA_DIST += $(VHOST_ASYNC_SCHEMA_DOC) $(VHOST_ASYNC_UNIXCTL_MAN) \
	vswitchd/vswitch-splice.py
