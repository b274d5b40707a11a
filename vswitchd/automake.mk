# Documentation of our other_config keys, which the build splices into
# OVS's vswitchd/vswitch.xml (see Makefile.am) and so into
# ovs-vswitchd.conf.db(5).
VHOST_ASYNC_SCHEMA_DOC = vswitchd/vswitch-vhost-async.xml
EXTRA_DIST += $(VHOST_ASYNC_SCHEMA_DOC)
