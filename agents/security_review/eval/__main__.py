"""``python -m agents.security_review.eval``: the voters' table (see `.voters`)."""

from agents.security_review.eval.voters import main

raise SystemExit(main())
