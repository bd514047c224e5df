"""callguard: enforces a company's telephone policy on live calls beside an Asterisk PBX."""

__version__ = "0.1.0"
