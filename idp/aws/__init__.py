"""The AWS side: what AWS expects in an assertion, and (later) the console and STS twins."""
