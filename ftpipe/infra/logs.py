"""Stage logging: one format, timestamps, the stage name in every line."""
from __future__ import annotations

import logging
import os
import sys


def get_logger(stage: str) -> logging.Logger:
    logger = logging.getLogger(f"ftpipe.{stage}")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"%(asctime)s [{stage}] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("FTPIPE_LOG_LEVEL", "INFO"))
        logger.propagate = False
    return logger
