"""Where `make install` put libbsnn: it rewrites LIBDIR in the installed
copy of this file, so the installed package loads the installed library
whatever the prefix. None in the source tree."""
LIBDIR = None
