# Sphinx configuration for the ovs-vhost-async documentation.
#
# "make docs" builds it with warnings as errors (see automake.mk); it needs
# nothing beyond Debian's python3-sphinx.

project = 'ovs-vhost-async'
copyright = '2026, The ovs-vhost-async authors'
author = 'The ovs-vhost-async authors'
version = release = '0.1.0'

master_doc = 'index'
source_suffix = '.rst'
exclude_patterns = ['_build']

# Every reference must resolve ("make docs" runs with -n as well as -W).
nitpicky = True

# OVS writes console examples as "$ command" blocks; Pygments' shell
# session lexer highlights them the same way whatever the block says.
highlight_language = 'console'
pygments_style = 'sphinx'

html_theme = 'alabaster'
html_title = 'ovs-vhost-async'
html_static_path = []

man_pages = []
