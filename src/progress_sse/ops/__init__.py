"""Operations: logging, metrics and the periodic background tasks of every process."""
