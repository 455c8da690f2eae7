"""Reform-scenario simulations over the dispatch engine. Built under issue 5."""
