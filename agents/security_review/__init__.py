"""security_review: N independent voters judge a snippet; a vote aggregator decides."""
