"""contract_review: sectioning + voting (split -> clause checks -> votes -> merge)."""
