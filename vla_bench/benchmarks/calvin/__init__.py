"""CALVIN (mees/calvin): long-horizon language-conditioned manipulation in a user-provided ``calvin_env``
runtime; chains generated as CALVIN's evaluation does (``sequences``) and run by the generic chain engine."""
