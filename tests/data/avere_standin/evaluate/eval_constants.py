"""Stand-in sibling module of constants."""

EVAL_TEMP_DIR = "/tmp/avere-standin"
VIDEO_EVAL_DATA_PAR = "/tmp/avere-standin/data"
