"""Bills, compliance figures and the archive (POLICY LOG-2, LOG-4, LOG-6): computed once here from
plain rows, used by the CLI now and the web console later."""
