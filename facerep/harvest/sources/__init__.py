"""The built-in harvest sources: one module each, found by `facerep.harvest.source.load_sources`."""
