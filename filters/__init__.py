"""Pure C4 logic: WET parsing, the C4 cleaning rules of each TFDS version, dedup keys, language ID.

Nothing in this package imports Apache Beam: every function takes plain values and returns what it
decided and why, so it is fast to test and reusable outside Beam. ``pipeline/`` wires it into Beam.
"""
