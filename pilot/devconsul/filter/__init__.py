"""`?filter=`: go-bexpr's grammar and its evaluation on the JSON an endpoint answers."""
