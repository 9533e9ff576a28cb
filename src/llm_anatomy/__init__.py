"""LLM Anatomy: large language models built from scratch, one tested piece at a time.

Each subpackage holds the code of one chapter of the book; the book pulls its listings
straight from these files, and the tests check every piece against a trusted library.
"""

__version__ = "0.1.0"
