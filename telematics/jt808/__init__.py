"""JT/T 808 (2013 and 2019): the codec (``codec``, pure) and the TCP server (``server``)."""
