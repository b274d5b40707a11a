DOC_SOURCE = \
	Documentation/intro/install/vhost-async.rst
EXTRA_DIST += $(DOC_SOURCE)
