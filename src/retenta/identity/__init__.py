"""Identity resolution: identifiers, merges, unmerge."""
