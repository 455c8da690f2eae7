"""The dispatch optimisation engine (pure Python over OR-Tools, no database). Built under issue 3."""
