"""params.yaml: composing it from conf/, loading it, and checking each section in one place."""
