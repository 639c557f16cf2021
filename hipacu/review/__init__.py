"""Review: the study table of each analysis, the model dispatch, GRADE grading and the claims (data only; HTML lives with the report)."""
