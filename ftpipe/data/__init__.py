"""From a user's table to clean, leak-free splits and token ids: reading, normalising, splitting, tokenizing."""
