"""Where resources come from. Each source yields whole bundles plus the problems found loading them."""

from meshgate.sources.files import LoadResult, load_paths, load_text

__all__ = ["LoadResult", "load_paths", "load_text"]
