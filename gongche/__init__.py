"""Gongche 公车, the shell: what composes the layers — the ``gongche`` command (``cli``) and the demo (``demo``).

The domain packages (``fleet``, ``dispatch``, ``scenarios``) and the HTTP API (``api``) never import it.
"""
