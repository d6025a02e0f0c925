"""One module per method, each registering itself with `facerep.ssl.registry.register`."""
