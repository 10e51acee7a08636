"""Isabelle theory text without Isabelle: tokens, command spans, statements, problems, candidates, check theories.

Pure text processing (stdlib only), shaped like Isabelle's own `Pure/Isar/token.scala` (tokens) and
`outer_syntax.scala` (command spans), with keywords read from a per-release table (`isabelle_env.keywords`).
"""
