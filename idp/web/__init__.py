"""Starlette glue only: HTTP in, core call, page out."""
