"""Measurement and model fitting for contract review (never imported by the running agent).

- `clauses`         clause-presence scores against CUAD's expert labels;
- `presence_model`  fits the shipped document-level presence weights;
- `corpus`          distils the external CUAD contracts into the shipped training corpus and
                    fits the clause classifier's weights;
- `heldout`         the fixed held-out split (``heldout.txt``) and its score beside
                    `baseline` (per-category tf-idf logistic regression);
- `siblings`        sibling filings, left out together; `cuad_v1` reads a CUAD copy;
                    `artefacts` writes the weights byte-reproducibly.
"""
