"""Telematics: JT/T 808 and OsmAnd codecs (pure) and the ingest listeners; positions are written through fleet."""
