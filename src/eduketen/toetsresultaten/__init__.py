"""Summative results for every sector (Edu-V Results API): a sector-wide base model, POST /results
per major version, storage apart from identity, the Doorstroomtoets mapping, the staff view."""
