"""Go's behaviours consul-dev imitates: duration texts, JSON decoding, regular expressions."""
