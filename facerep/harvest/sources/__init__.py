"""The harvest sources: one module each, found by `facerep.harvest.source.load_sources`.

The package's path is extended to every `facerep/harvest/sources/` directory on `sys.path`, so a
source kept outside this repository is one file in such a directory (docs/extending.md).
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
