"""The controller image, built and run here with no Docker engine and no registry.

``base``: a Debian bookworm root filesystem holding only Python (``mmdebstrap``),
imported as a local image, for the Dockerfile's base arguments (no base image can
be pulled here). ``build``: the repository's Dockerfile built with ``buildah`` on
that base. ``podman``: the command line to run it with, as the tests do. Container
storage (vfs driver) and the base's tarball live in the cache outside the
repository, keyed by their inputs, so a warm run rebuilds nothing.
"""
