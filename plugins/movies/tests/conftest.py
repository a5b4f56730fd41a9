"""Fixtures of the movies tests (see ``movies_testkit``)."""

from movies_testkit import db_driver, images, movies, video_cache

__all__ = ["db_driver", "images", "movies", "video_cache"]
